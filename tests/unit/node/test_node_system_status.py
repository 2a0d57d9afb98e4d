"""A running node publishes what the design declares and keeps the cache status, on SQLite
and on PostgreSQL (marker ``postgres``, as the application role under row-level security).

* ``system.metadata.entity_registered``: once per entity type registered at start and per
  entity instance ingest makes known; ``system.lineage.relationship_created``: once per
  relationship ingest stores (read here from the node's embedded bus);
* ``dictamesh_cache_status``: a read-through fill, hits and an invalidation show up over
  REST and GraphQL, for the caller's tenant only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.contract.catalog_contract import TOPIC, invoice_event
from tests.contract.system_status_contract import stored_edges
from tests.timing import eventually
from tests.unit.gateway.fakes import INVOICE, MemoryAdapter

from dictamesh.auth import hash_api_key
from dictamesh.catalog import CatalogIngestor, CatalogService
from dictamesh.core.errors import EntityNotFound
from dictamesh.core.models import ChangeEvent
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.bus import Message
from dictamesh.events.system_topics import ENTITY_REGISTERED_TOPIC, RELATIONSHIP_CREATED_TOPIC
from dictamesh.node import MeshNode
from dictamesh.tenancy import tenant_context
from dictamesh.testing import FakeAdapter, GraphQLTestClient

ACME_KEY = "dmk_acme_cache_status_0123456789"
GLOBEX_KEY = "dmk_globex_cache_status_0123456789"
KEYS = [
    {"sha256": hash_api_key(ACME_KEY), "subject": "acme-app", "tenant": "acme"},
    {"sha256": hash_api_key(GLOBEX_KEY), "subject": "globex-app", "tenant": "globex"},
]
SYSTEM_TOPICS = [ENTITY_REGISTERED_TOPIC, RELATIONSHIP_CREATED_TOPIC]


class QuietInvoices(MemoryAdapter):
    """Invoices of the ``shop`` system; their events come from the test."""

    async def stream_changes(self) -> AsyncIterator[ChangeEvent]:
        await asyncio.Event().wait()
        yield invoice_event()  # pragma: no cover


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_catalog_url" if request.param == "sqlite" else "empty_catalog_url"
    url: str = request.getfixturevalue(name)
    return url


def settings(state: Path, catalog_url: str) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "status",
            "state_dir": str(state),
            "bus": {"path": str(state / "bus.sqlite3")},
            "catalog": {"url": catalog_url},
            "auth": {"mode": "optional", "api_keys": KEYS},
        }
    )


def build(state: Path, catalog_url: str) -> tuple[MeshNode, FakeAdapter]:
    widgets = FakeAdapter(records=[{"id": "w-1", "name": "one"}, {"id": "w-2", "name": "two"}])
    node = MeshNode(
        settings(state, catalog_url), adapters=[QuietInvoices(INVOICE, system="shop"), widgets]
    )
    widgets.cache = node.cache  # the node's cache, as adapters built from settings get it
    return node, widgets


async def settled(node: MeshNode) -> None:
    """Both of the node's consumers have committed every event published so far."""

    async def no_lag() -> None:
        for group in (node.ingest_group, f"dictamesh-cache-{node.settings.node_name}"):
            lag = await node.bus.lag(group, node.topics)
            assert sum(sum(p.values()) for p in lag.values()) == 0, (group, lag)

    await eventually(no_lag)


class Reader:
    """Reads the system topics from the node's bus as an outside consumer would."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def read(self, node: MeshNode) -> list[Message]:
        async with node.bus.consumer("system-topics-reader", SYSTEM_TOPICS) as consumer:
            while batch := await consumer.poll(max_records=1000, timeout=0.05):
                self.messages.extend(batch)
                for message in batch:
                    await consumer.commit(message)
        return self.messages

    def keys(self, topic: str) -> list[str]:
        return sorted(m.key or "" for m in self.messages if m.topic == topic)


async def test_new_types_entities_and_relationships_are_published_once(
    tmp_path: Path, catalog_url: str
) -> None:
    reader = Reader()
    invoice = invoice_event("i-1", customer="c-1", items=[("1", "p-1"), ("2", "p-2")])
    expected_entities = [
        "default/entity/invoice/i-1",
        "default/entity/invoice_item/i-1:1",
        "default/entity/invoice_item/i-1:2",
        "default/entity/widget/w-1",
        "default/entity/widget/w-2",
        "default/type/invoice",
        "default/type/widget",
    ]
    node, _ = build(tmp_path, catalog_url)
    async with node:
        await node.publisher.publish_event(invoice)

        async def all_published() -> None:
            await reader.read(node)
            assert reader.keys(ENTITY_REGISTERED_TOPIC) == expected_entities
            assert len(reader.keys(RELATIONSHIP_CREATED_TOPIC)) == 5

        await eventually(all_published)
        # one record per relationship the catalog stored, keyed by its identity
        edges = await stored_edges(node.catalog)
        published = {
            (
                body["tenant_id"],
                body["subject"]["type"],
                body["subject"]["id"],
                body["relationship_type"],
                body["object"]["type"],
                body["object"]["id"],
            )
            for body in (
                json.loads(m.value)
                for m in reader.messages
                if m.topic == RELATIONSHIP_CREATED_TOPIC
            )
        }
        assert published == edges
        invoice_body = next(
            json.loads(m.value) for m in reader.messages if m.key == "default/entity/invoice/i-1"
        )
        assert invoice_body["event_id"] == str(invoice.event_id)

        # the same event again (a redelivery): ingested as a duplicate, nothing published
        await node.publisher.publish_event(invoice)
        await settled(node)
        assert await node.catalog.outbox.count() == 0
        before = len(reader.messages)
        await reader.read(node)
        assert len(reader.messages) == before

    # a restart registers the same schemas again: no new type records
    node, _ = build(tmp_path, catalog_url)
    async with node:
        await settled(node)
        await reader.read(node)
        assert reader.keys(ENTITY_REGISTERED_TOPIC) == expected_entities
        assert await node.catalog.outbox.count() == 0


async def test_notices_a_crash_left_unpublished_go_out_at_the_next_start(
    tmp_path: Path, catalog_url: str
) -> None:
    # a node that committed an ingest and died before its relay ran: the outbox holds it
    async with await CatalogService.open(catalog_url) as catalog:
        ingestor = CatalogIngestor(catalog, {"invoice": INVOICE}, outbox=True)
        outcome = await ingestor.apply_batch([(invoice_event("i-9", items=[]), TOPIC)])
        assert outcome.notices == 2  # the invoice and its billed_to relationship
    reader = Reader()
    node, _ = build(tmp_path, catalog_url)
    async with node:

        async def published() -> None:
            await reader.read(node)
            assert "default/entity/invoice/i-9" in reader.keys(ENTITY_REGISTERED_TOPIC)
            assert reader.keys(RELATIONSHIP_CREATED_TOPIC) == [
                "default/relationship/invoice/i-9/billed_to/customer/c-1"
            ]

        await eventually(published)


async def test_cache_fills_hits_and_invalidations_are_served_per_tenant(
    tmp_path: Path, catalog_url: str
) -> None:
    node, widgets = build(tmp_path, catalog_url)
    async with node:
        # the first capture's events are handled (their invalidations found nothing cached)
        await eventually(lambda: _registered(node, "w-2"))
        await settled(node)
        app = node.asgi_app()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as http:

            async def layers(entity_id: str, key: str | None = None) -> list[dict[str, Any]]:
                headers = {"X-API-Key": key} if key else {}
                response = await http.get(
                    f"/api/v1/entities/widget/{entity_id}/cache", headers=headers
                )
                assert response.status_code == 200, response.text
                body = response.json()
                assert (body["entity_type"], body["entity_id"]) == ("widget", entity_id)
                found: list[dict[str, Any]] = body["layers"]
                return found

            # a read-through fill over GraphQL (the default tenant), then a hit
            graphql = GraphQLTestClient(app)
            query = '{ widget(id: "w-1") { name } }'
            (await graphql.query(query)).raise_for_errors()

            async def filled() -> dict[str, Any]:
                found = await layers("w-1")
                assert len(found) == 1
                memory = found[0]
                assert memory["layer"] == "memory"
                assert memory["fresh"] is True
                assert memory["ttl_seconds"] == pytest.approx(node.settings.cache.l1_ttl_seconds)
                assert memory["invalidations"] == 0
                return memory

            first = await eventually(filled)
            (await graphql.query(query)).raise_for_errors()

            async def hit() -> None:
                (memory,) = await layers("w-1")
                assert memory["hits"] >= 1
                assert memory["cached_at"] == first["cached_at"]

            await eventually(hit)

            # the source changes: the adapter (on capture) and the node's invalidation
            # consumer (on the event) each drop the copy
            widgets.put("w-1", name="changed")

            async def invalidated() -> int:
                (memory,) = await layers("w-1")
                assert memory["invalidations"] == 2
                assert memory["fresh"] is False
                assert memory["invalidated_at"] >= memory["cached_at"]
                return int(memory["invalidations"])

            count = await eventually(invalidated)
            response = await http.get("/api/v1/cache", params={"type": "widget"})
            (summary,) = response.json()["entity_types"]
            assert summary["entity_type"] == "widget"
            (memory,) = summary["layers"]
            assert (memory["layer"], memory["entities"], memory["invalidated"]) == (
                "memory",
                1,
                1,
            )
            assert memory["invalidations"] == count

            # GraphQL serves the same status
            result = await graphql.query(
                '{ catalogEntry(type: "widget", id: "w-1") { cache { layer fresh invalidations } }'
                " cacheSummary { entityType layer entities invalidated } }"
            )
            data = result.raise_for_errors().data
            assert data is not None
            assert data["catalogEntry"]["cache"] == [
                {"layer": "memory", "fresh": False, "invalidations": float(count)}
            ]
            assert data["cacheSummary"] == [
                {"entityType": "widget", "layer": "memory", "entities": 1, "invalidated": 1}
            ]

            # another tenant's fill is its own: acme sees it, globex and the default do not
            with tenant_context("acme"):
                await widgets.get_entity("w-2")
            await eventually(lambda: _one_layer(layers("w-2", ACME_KEY)))
            assert await layers("w-2", GLOBEX_KEY) == []
            assert await layers("w-2") == []
            assert await layers("w-1", ACME_KEY) == []
            globex = await http.get("/api/v1/cache", headers={"X-API-Key": GLOBEX_KEY})
            assert globex.json() == {"entity_types": []}
            acme = await http.get("/api/v1/cache", headers={"X-API-Key": ACME_KEY})
            assert [t["entity_type"] for t in acme.json()["entity_types"]] == ["widget"]

            # bad input is a 400, not a crash
            bad = await http.get("/api/v1/entities/widget/%00/cache")
            assert bad.status_code == 400


async def _one_layer(found: Awaitable[list[dict[str, Any]]]) -> None:
    assert len(await found) == 1


async def _registered(node: MeshNode, widget_id: str) -> None:
    try:
        await node.catalog.get_entity_location("widget", widget_id)
    except EntityNotFound:
        raise AssertionError(f"{widget_id} not ingested yet") from None
