"""Two node apps (``create_app``) sharing one Redis, as two API processes would: a client's
budget spent on node A is spent on node B; a query registered on A runs by hash on B; an
answer stored by A is served by B and dropped for both by a change event on either; no
answer crosses tenants, principals or roles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dictamesh.api import ApiContext, create_app
from dictamesh.api.graphql_cache import CACHE_STATUS_HEADER
from dictamesh.cluster.state import SharedState
from dictamesh.core.settings import GraphQLSettings, QuotaSettings, TenantQuota
from dictamesh.events.fanout import ChangeFeed
from dictamesh.gateway.apq import query_hash
from tests.integration.shared_state.conftest import RedisFactory
from tests.unit.api.conftest import Node
from tests.unit.api.test_graphql_cache import KEYS, PRODUCT, auth, updated

pytestmark = pytest.mark.redis

QUERY = '{ customer(id: "c-1") { name } }'


class Mesh:
    """Node A (a test node over the sample sources) and node B: another app over the same
    sources, each with its own change feed and its own Redis client."""

    def __init__(self, make_redis: RedisFactory, **overrides: Any) -> None:
        self.states = [SharedState(make_redis()), SharedState(make_redis())]
        self.feeds = [ChangeFeed(), ChangeFeed()]
        self.a = Node(changes=self.feeds[0], shared=self.states[0], **overrides)
        ctx = ApiContext(
            registry=self.a.registry,
            catalog=self.a.catalog,
            changes=self.feeds[1],
            shared=self.states[1],
            **overrides,
        )
        self.apps = [self.a.app, create_app(ctx)]

    async def get(self, node: int, query: str, key: str | None = None, **params: str) -> Any:
        headers = {"X-API-Key": f"dmk_{key}"} if key else {}
        transport = httpx.ASGITransport(app=self.apps[node])
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.get("/graphql", params={"query": query, **params}, headers=headers)

    async def post(self, node: int, body: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.apps[node])
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.post("/graphql", json=body)

    async def aclose(self) -> None:
        for state in self.states:
            await state.aclose()


@pytest.fixture
async def mesh_factory(make_redis: RedisFactory) -> AsyncIterator[Any]:
    made: list[Mesh] = []

    def make(**overrides: Any) -> Mesh:
        made.append(Mesh(make_redis, **overrides))
        return made[-1]

    yield make
    for mesh in made:
        await mesh.aclose()


async def test_rate_limit_spent_on_a_is_spent_on_b(mesh_factory: Any) -> None:
    mesh = mesh_factory(graphql=GraphQLSettings(rate_limit_per_second=0.2, rate_limit_burst=3))
    spent = [await mesh.post(0, {"query": QUERY}) for _ in range(3)]
    assert [r.status_code for r in spent] == [200, 200, 200]
    refused = await mesh.post(1, {"query": QUERY})
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert refused.headers["retry-after"] == "5"  # one token at 0.2/s


async def test_tenant_quota_spent_on_a_is_spent_on_b(mesh_factory: Any) -> None:
    quotas = QuotaSettings(default=TenantQuota(requests_per_second=0.5, request_burst=2))
    mesh = mesh_factory(
        quotas=quotas, graphql=GraphQLSettings(rate_limit_per_second=0), auth=auth()
    )
    for _ in range(2):
        assert (await mesh.get(0, QUERY, "acme-reader")).status_code == 200
    refused = await mesh.get(1, QUERY, "acme-reader-2")  # same tenant, other caller
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "TENANT_QUOTA_EXCEEDED"
    assert (await mesh.get(1, QUERY, "globex-reader")).status_code == 200


async def test_persisted_query_registered_on_a_runs_by_hash_on_b(mesh_factory: Any) -> None:
    mesh = mesh_factory(graphql=GraphQLSettings(rate_limit_per_second=0))
    ext = {"persistedQuery": {"version": 1, "sha256Hash": query_hash(QUERY)}}
    unknown = await mesh.post(1, {"extensions": ext})
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert (await mesh.post(0, {"query": QUERY, "extensions": ext})).status_code == 200
    by_hash = await mesh.post(1, {"extensions": ext})
    assert by_hash.json() == {"data": {"customer": {"name": "Customer 1"}}}


async def _until_miss(mesh: Mesh, node: int, query: str) -> httpx.Response:
    # the invalidation reaches Redis from the feed's listener in the background
    for _ in range(100):
        response = await mesh.get(node, query)
        if response.headers[CACHE_STATUS_HEADER] == "MISS":
            return response
        await asyncio.sleep(0.02)
    raise AssertionError("the cached answer was never invalidated")


async def test_answer_stored_by_a_served_by_b_and_invalidated_from_either(
    mesh_factory: Any,
) -> None:
    mesh = mesh_factory(graphql=GraphQLSettings(rate_limit_per_second=0))
    first = await mesh.get(0, PRODUCT)
    assert first.headers[CACHE_STATUS_HEADER] == "MISS"
    served = await mesh.get(1, PRODUCT)
    assert served.headers[CACHE_STATUS_HEADER] == "HIT"
    assert served.json() == first.json()
    assert mesh.a.products.calls == {"get_entities": 1}  # B did not read the source

    mesh.feeds[1].publish(updated(mesh.a.products, "p-1", name="Renamed"))  # on B only
    fresh = await _until_miss(mesh, 0, PRODUCT)
    assert fresh.json()["data"]["product"]["name"] == "Renamed"
    assert (await mesh.get(1, PRODUCT)).headers[CACHE_STATUS_HEADER] == "HIT"


async def test_no_reuse_across_tenants_principals_or_roles_between_nodes(
    mesh_factory: Any,
) -> None:
    mesh = mesh_factory(auth=auth(), graphql=GraphQLSettings(rate_limit_per_second=0))
    for i, key in enumerate(KEYS):  # alternate nodes: each caller's first request misses
        response = await mesh.get(i % 2, PRODUCT, key)
        assert response.status_code == 200, response.text
        assert response.headers[CACHE_STATUS_HEADER] == "MISS", key
    for i, key in enumerate(KEYS):  # and is then served by the other node
        assert (await mesh.get(1 - i % 2, PRODUCT, key)).headers[CACHE_STATUS_HEADER] == "HIT"
    assert mesh.a.products.calls == {"get_entities": len(KEYS)}
