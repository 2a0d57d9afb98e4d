"""The principal and its tenant reach adapter calls (also inside DataLoader batches), and
the adapter cache is scoped by that tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from tests.unit.api.catalog_fake import FakeCatalog
from tests.unit.auth.support import bearer, hs_token, settings

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.api import ApiContext, create_app
from dictamesh.core.context import principal, tenant_id
from dictamesh.core.models import Query
from dictamesh.testing.adapters import FakeAdapter
from dictamesh.testing.graphql import GraphQLTestClient


class RecordingAdapter(FakeAdapter):
    """A FakeAdapter that notes who (and which tenant) each source call ran for."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[tuple[str, str | None, str | None]] = []

    def _note(self, hook: str) -> None:
        who = principal()
        self.seen.append((hook, who.subject if who else None, tenant_id()))

    async def fetch_many(self, client: httpx.AsyncClient, entity_ids: Sequence[str]) -> Any:
        self._note("fetch_many")
        return await super().fetch_many(client, entity_ids)

    async def fetch_page(self, client: httpx.AsyncClient, query: Query) -> Any:
        self._note("fetch_page")
        return await super().fetch_page(client, query)


@pytest.fixture
async def adapter() -> AsyncIterator[RecordingAdapter]:
    async with RecordingAdapter(records=[{"id": "w-1", "name": "Sprocket"}]) as fake:
        yield fake


def app_for(adapter: RecordingAdapter) -> Any:
    registry = AdapterRegistry()
    registry.register(adapter)
    return create_app(
        ApiContext(registry=registry, catalog=FakeCatalog(), auth=settings(mode="optional"))
    )


async def test_graphql_loader_batches_run_as_the_caller(adapter: RecordingAdapter) -> None:
    gql = GraphQLTestClient(app_for(adapter))
    result = await gql.query('{ widget(id: "w-1") { name } }', headers=bearer(hs_token()))
    assert result.raise_for_errors().data == {"widget": {"name": "Sprocket"}}
    assert adapter.seen == [("fetch_many", "alice", "acme")]


async def test_rest_adapter_reads_run_as_the_caller(adapter: RecordingAdapter) -> None:
    transport = httpx.ASGITransport(app=app_for(adapter))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get(
            "/api/v1/entities/widget", headers=bearer(hs_token(sub="bob", tenant_id="globex"))
        )
        anonymous = await http.get("/api/v1/entities/widget")
    assert response.status_code == 200
    assert anonymous.status_code == 200
    assert adapter.seen == [("fetch_page", "bob", "globex"), ("fetch_page", None, None)]


async def test_the_entity_cache_is_per_tenant(adapter: RecordingAdapter) -> None:
    """One tenant's cached copy is never served to another tenant."""
    gql = GraphQLTestClient(app_for(adapter))
    query = '{ widget(id: "w-1") { name } }'
    for tenant in ("acme", "acme", "globex"):
        await gql.query(query, headers=bearer(hs_token(tenant_id=tenant)))
    assert [(s[0], s[2]) for s in adapter.seen] == [
        ("fetch_many", "acme"),
        ("fetch_many", "globex"),
    ]
