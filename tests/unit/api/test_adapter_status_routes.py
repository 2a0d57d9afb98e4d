"""``/api/v1/adapters/{name}/status``: real adapters (FakeAdapter: the whole AdapterBase with
its breaker and latency window) and a real SQLite catalog, over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.api import ApiContext, adapter_routes, create_app
from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import SourceUnavailable
from dictamesh.core.models import ChangeEvent, EventType
from dictamesh.core.settings import ResilienceSettings
from dictamesh.testing.adapters import FakeAdapter, fake_config

FAST_BREAKER = ResilienceSettings(
    timeout_seconds=0.5,
    max_attempts=1,
    backoff_initial_seconds=0.0,
    backoff_max_seconds=0.0,
    breaker_failure_threshold=3,
    breaker_failure_rate=None,
    breaker_reset_seconds=60.0,
)


class Mesh:
    def __init__(self, catalog: CatalogService) -> None:
        self.catalog = catalog
        self.widgets = FakeAdapter(
            fake_config("fake_widgets", resilience=FAST_BREAKER),
            records=[{"id": f"w-{i}", "name": f"Widget {i}"} for i in range(5)],
        )
        self.registry = AdapterRegistry(plugins=[])
        self.registry.register(self.widgets)

    def client(self) -> httpx.AsyncClient:
        app = create_app(ApiContext(registry=self.registry, catalog=self.catalog))
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )


@pytest.fixture
async def mesh(sqlite_catalog: CatalogService) -> AsyncIterator[Mesh]:
    built = Mesh(sqlite_catalog)
    await built.widgets.connect()
    try:
        yield built
    finally:
        await built.widgets.aclose()


async def status(http: httpx.AsyncClient, name: str = "fake_widgets") -> dict[str, Any]:
    response = await http.get(f"/api/v1/adapters/{name}/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_status_reports_latency_breaker_sync_and_sla_from_real_calls(mesh: Mesh) -> None:
    for i in range(5):
        await mesh.widgets.get_entity(f"w-{i}")
    entity = await mesh.widgets.get_entity("w-0")
    await mesh.catalog.record_event(
        ChangeEvent.for_change(EventType.UPDATED, entity), "testing.fake.entity_changed"
    )
    async with mesh.client() as http:
        body = await status(http)
    assert (body["name"], body["entity_type"], body["domain"]) == (
        "fake_widgets",
        "widget",
        "testing",
    )
    assert body["healthy"] is True
    assert body["health"]["status"] == "healthy"
    assert body["breaker_state"] == "closed"
    assert body["calls"] >= 5
    assert body["error_rate"] == 0.0
    latency = body["latency_ms"]
    assert all(isinstance(latency[p], float) for p in ("p50", "p95", "p99"))
    assert latency["p50"] <= latency["p95"] <= latency["p99"]
    assert body["latency_window"] == body["calls"]  # every call so far is in the window
    assert body["last_sync_at"] is not None
    sla = body["sla"]
    assert sla["target"] == {
        "freshness_seconds": 60.0,
        "availability_target": 0.99,
        "latency_p95_ms": 250.0,
        "support_contact": None,
    }
    measured = sla["measured"]
    assert measured["availability"] == 1.0
    assert measured["latency_p95_ms"] == latency["p95"]
    assert 0 <= measured["freshness_seconds"] < 60
    assert measured["met"] == {
        "availability": True,
        "latency_p95_ms": True,
        "freshness_seconds": True,
    }


async def test_failures_open_the_breaker_and_miss_the_availability_target(
    mesh: Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapter_routes, "HEALTH_TTL_SECONDS", 0.2)
    async with mesh.client() as http:
        before = await status(http)
        assert before["last_sync_at"] is None
        assert before["error_rate"] is None
        assert before["sla"]["measured"]["met"]["freshness_seconds"] is None
        mesh.widgets.fail(times=10)
        for i in range(4):
            with pytest.raises(SourceUnavailable):
                await mesh.widgets.get_entity(f"w-{i}")
        await asyncio.sleep(0.25)  # past the health probe's reuse window
        body = await status(http)
    assert body["breaker_state"] == "open"
    assert body["circuit_rejected"] >= 1  # the 4th call never reached the source
    assert body["error_rate"] > 0.5
    assert body["sla"]["measured"]["met"]["availability"] is False
    assert body["healthy"] is False  # the probe hit the still-failing source


async def test_health_probes_are_reused_while_a_page_refreshes(mesh: Mesh) -> None:
    async with mesh.client() as http:
        await asyncio.gather(*(status(http) for _ in range(5)))
        await status(http)
        listed = (await http.get("/api/v1/adapters/status")).json()
    assert mesh.widgets.calls["fetch_page"] == 1  # one probe for six status reads
    assert [a["name"] for a in listed["adapters"]] == ["fake_widgets"]


@pytest.mark.parametrize(
    ("name", "status_code"),
    [("nope", 404), ("bad name!", 400), ("x" * 200, 400), ("-lead", 400)],
)
async def test_bad_or_unknown_names_are_refused_before_any_source_call(
    mesh: Mesh, name: str, status_code: int
) -> None:
    async with mesh.client() as http:
        response = await http.get(f"/api/v1/adapters/{name}/status")
    assert response.status_code == status_code
    assert response.json()["error"]["code"] in ("NOT_FOUND", "VALIDATION_ERROR", "BAD_REQUEST")
    assert sum(mesh.widgets.calls.values()) == 0
