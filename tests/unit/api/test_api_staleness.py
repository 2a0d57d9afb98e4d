"""Degraded answers over HTTP: stale headers on REST and /graphql, Retry-After on 503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from tests.unit.api.catalog_fake import FakeCatalog, Location

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.api import ApiContext, create_app
from dictamesh.cache import MemoryCache, TieredCache
from dictamesh.testing.adapters import FakeAdapter, fake_config

RECORDS = [{"id": f"w-{i}", "name": f"Widget {i}"} for i in range(1, 4)]


class WallClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Setup:
    http: httpx.AsyncClient
    adapter: FakeAdapter
    wall: WallClock


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    wall = WallClock()
    cache = TieredCache([MemoryCache(ttl=10, stale_ttl=600, clock=wall)], clock=wall)
    config = fake_config(
        resilience={"max_attempts": 1, "breaker_failure_threshold": 1, "breaker_reset_seconds": 30}
    )
    async with FakeAdapter(config, records=RECORDS, cache=cache) as adapter:
        registry = AdapterRegistry(plugins=[])
        registry.register(adapter)
        catalog = FakeCatalog()
        for record in RECORDS:
            catalog.locations[("widget", record["id"])] = Location(
                entity_type="widget", entity_id=record["id"], domain="testing", system="fake"
            )
        app = create_app(ApiContext(registry=registry, catalog=catalog))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            yield Setup(http, adapter, wall)


async def test_rest_live_read_served_stale_says_so(setup: Setup) -> None:
    fresh = await setup.http.get("/api/v1/entities/widget/w-1", params={"live": "true"})
    assert fresh.status_code == 200
    assert "x-dictamesh-stale" not in fresh.headers
    setup.wall.now += 75
    setup.adapter.fail(times=100)

    stale = await setup.http.get("/api/v1/entities/widget/w-1", params={"live": "true"})
    assert stale.status_code == 200
    assert stale.json()["live"]["attributes"]["name"] == "Widget 1"
    assert stale.headers["x-dictamesh-stale"] == "true"
    assert stale.headers["age"] == "75"
    assert stale.headers["warning"] == '110 - "Response is Stale"'
    assert stale.headers["x-dictamesh-stale-reason"] == "SOURCE_UNAVAILABLE"
    assert stale.headers["x-dictamesh-stale-entities"] == "widget:w-1"
    assert stale.headers["cache-control"] == "no-store"


async def test_rest_page_without_cache_is_503_with_retry_after(setup: Setup) -> None:
    setup.adapter.fail(times=100)
    first = await setup.http.get("/api/v1/entities/widget")
    assert first.status_code == 503
    body = first.json()["error"]
    assert body["code"] == "SOURCE_UNAVAILABLE"
    assert body["details"]["adapter"] == "fake_widgets"
    # the failure opened the breaker: clients are told when to come back
    assert 29 <= int(first.headers["retry-after"]) <= 30
    again = await setup.http.get("/api/v1/entities/widget")
    assert again.status_code == 503
    assert "retry-after" in again.headers
    assert "x-dictamesh-stale" not in again.headers


async def test_graphql_over_http_carries_extensions_and_headers(setup: Setup) -> None:
    query = {"query": '{ a: widget(id: "w-1") { name } b: widget(id: "w-2") { name } }'}
    await setup.http.post("/graphql", json={"query": '{ widget(id: "w-1") { name } }'})
    setup.wall.now += 30
    setup.adapter.fail(times=100)

    response = await setup.http.post("/graphql", json=query)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"a": {"name": "Widget 1"}, "b": None}
    [error] = body["errors"]
    assert error["path"] == ["b"]
    assert error["extensions"]["code"] == "SOURCE_UNAVAILABLE"
    assert error["extensions"]["adapter"] == "fake_widgets"
    [stale] = body["extensions"]["dictamesh"]["stale"]
    assert (stale["type"], stale["id"], stale["ageSeconds"]) == ("widget", "w-1", 30)
    assert response.headers["x-dictamesh-stale"] == "true"
    assert response.headers["age"] == "30"
