"""SLA monitoring on a real node over the sample sources: faults injected at a source
(``/_admin/faults``) breach availability and latency — one ``system.sla.breached`` event
each, which a notification rule turns into an inbox message — and clearing them recovers
(``system.sla.recovered``); a change made at a source is measured on its way to the catalog
and to the API (freshness lag from real timestamps). Embedded backend: no servers needed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dictamesh.core.settings import DictaMeshSettings
from dictamesh.demo import DEMO_USER, Backend, ProductionUrls, demo_settings
from dictamesh.node import MeshNode
from dictamesh.sla import BREACHED_TOPIC, RECOVERED_TOPIC
from dictamesh.sources.runner import SampleSources, run_sample_sources
from tests.postgres_fixtures import owner_url

pytestmark = pytest.mark.slow

PRODUCTS = "products_rest"
CUSTOMERS = "customers_directus"
SLA = {
    "window_seconds": 3.0,
    "evaluation_interval_seconds": 0.2,
    "min_samples": 5,
    "min_changes": 1,
    "consecutive_evaluations": 2,
}


@pytest.fixture(params=["embedded", pytest.param("production", marks=[
    pytest.mark.postgres, pytest.mark.kafka, pytest.mark.redis])])  # fmt: skip
def backend(request: pytest.FixtureRequest) -> tuple[Backend, ProductionUrls | None]:
    if request.param == "embedded":
        return "embedded", None
    catalog = request.getfixturevalue("empty_catalog_url")
    return "production", ProductionUrls(
        catalog_url=catalog,
        kafka_bootstrap=request.getfixturevalue("kafka_bootstrap"),
        redis_url=request.getfixturevalue("redis_url"),
        migration_url=owner_url(catalog),
    )


@pytest.fixture
async def sources() -> AsyncIterator[SampleSources]:
    async with run_sample_sources(products_rate_limit=None) as running:
        yield running


def sla_settings(
    sources: SampleSources,
    state: Path,
    poll: float,
    backend: tuple[Backend, ProductionUrls | None] = ("embedded", None),
) -> DictaMeshSettings:
    """The demo node with a short SLA window, a rule sending SLA events to the demo user's
    inbox, and the products adapter without retries or breaker (every call is a sample)."""
    settings = demo_settings(sources, state, backend[0], poll=poll, urls=backend[1])
    raw = settings.model_dump(mode="json")
    for adapter, configured in zip(raw["adapters"], settings.adapters, strict=True):
        for key in ("api_key", "webhook_secret"):
            secret = getattr(configured, key)
            adapter[key] = secret.get_secret_value() if secret is not None else None
        if adapter["name"] == PRODUCTS:
            adapter["resilience"].update(
                max_attempts=1, breaker_failure_threshold=100_000, breaker_failure_rate=None
            )
    raw["catalog"]["url"] = settings.catalog.url.get_secret_value()
    if settings.catalog.migration_url is not None:
        raw["catalog"]["migration_url"] = settings.catalog.migration_url.get_secret_value()
    if settings.cache.redis_url is not None:
        raw["cache"]["redis_url"] = settings.cache.redis_url.get_secret_value()
    raw["governance"]["masking_key"] = "dictamesh-demo"
    raw["sla"] = SLA
    raw["notifications"]["rules"].append(
        {
            "name": "sla",
            "to": [DEMO_USER],
            "channels": ["inbox"],
            "when": {"mesh_events": ["sla_breached", "sla_recovered"]},
        }
    )
    return DictaMeshSettings.from_mapping(raw)


async def sla_events(node: MeshNode, group: str, wanted: int) -> list[tuple[str, dict[str, Any]]]:
    """``(topic, body)`` of the SLA events on the node's bus, once ``wanted`` have come."""
    got: list[tuple[str, dict[str, Any]]] = []
    async with node.bus.consumer(group, [BREACHED_TOPIC, RECOVERED_TOPIC]) as consumer:
        async with asyncio.timeout(30):
            while len(got) < wanted:
                for message in await consumer.poll(timeout=0.2):
                    got.append((message.topic, json.loads(message.value)))
    return got


async def window_of(api: httpx.AsyncClient, adapter: str) -> dict[str, Any]:
    listed = await api.get("/api/v1/adapters")
    assert listed.status_code == 200
    (found,) = [a for a in listed.json()["adapters"] if a["name"] == adapter]
    window: dict[str, Any] = found["sla_window"]
    return window


async def load_until(
    api: httpx.AsyncClient, adapter: str, objective: str, state: str, *, concurrent: int
) -> dict[str, Any]:
    """Read the products' source through the API (a page read is never cached: one source
    call each) until ``objective`` is in ``state`` with a verdict agreeing with it (``met``
    false when breached, true when ok); the window then."""
    async with asyncio.timeout(60):
        while True:
            await asyncio.gather(
                *(
                    api.get("/api/v1/entities/product", params={"limit": 2})
                    for _ in range(concurrent)
                )
            )
            window = await window_of(api, adapter)
            found = window["objectives"][objective]
            if found["state"] == state and found["met"] is (state == "ok"):
                return window
            await asyncio.sleep(0.05)


async def test_faults_breach_the_sla_once_and_clearing_them_recovers(
    tmp_path: Path, sources: SampleSources
) -> None:
    settings = sla_settings(sources, tmp_path, poll=1.0)
    async with MeshNode(settings) as node:
        transport = httpx.ASGITransport(app=node.asgi_app())
        async with (
            httpx.AsyncClient(base_url=sources.products_url) as products,
            httpx.AsyncClient(transport=transport, base_url="http://node", timeout=30) as api,
        ):
            healthy = await load_until(api, PRODUCTS, "availability", "ok", concurrent=3)
            assert healthy["objectives"]["availability"]["met"] is True

            # errors: every source call answers 500
            (await products.post("/_admin/faults", json={"mode": "error500"})).raise_for_status()
            breached = await load_until(api, PRODUCTS, "availability", "breached", concurrent=3)
            assert breached["objectives"]["availability"]["measured"] < 0.99
            await products.delete("/_admin/faults")
            recovered = await load_until(api, PRODUCTS, "availability", "ok", concurrent=3)
            assert recovered["objectives"]["availability"]["measured"] >= 0.99

            # latency: every call answered after 0.8 s (products' SLA: p95 500 ms)
            fault = {"mode": "latency", "delay_seconds": 0.8}
            (await products.post("/_admin/faults", json=fault)).raise_for_status()
            slow = await load_until(api, PRODUCTS, "latency_p95_ms", "breached", concurrent=6)
            assert slow["objectives"]["latency_p95_ms"]["measured"] >= 800
            await products.delete("/_admin/faults")
            fast = await load_until(api, PRODUCTS, "latency_p95_ms", "ok", concurrent=6)
            assert fast["objectives"]["latency_p95_ms"]["measured"] < 500

            status = await api.get(f"/api/v1/adapters/{PRODUCTS}/status")
            assert status.status_code == 200
            window = status.json()["sla"]["window"]
            assert window["objectives"]["availability"]["breaches"] == 1
            assert window["objectives"]["latency_p95_ms"]["breaches"] == 1
            metrics = (await api.get("/metrics")).text
            assert (
                'dictamesh_sla_breaches_total{adapter="products_rest",entity_type="product",'
                'objective="availability"} 1.0' in metrics
            )

        events = await sla_events(node, "test-sla-faults", 4)
        # two topics: ordered by when they happened, not by arrival
        products_events = sorted(
            ((t, b) for t, b in events if b["adapter"] == PRODUCTS),
            key=lambda found: found[1]["occurred_at"],
        )
        assert [(t, b["objective"]) for t, b in products_events] == [
            (BREACHED_TOPIC, "availability"),
            (RECOVERED_TOPIC, "availability"),
            (BREACHED_TOPIC, "latency_p95_ms"),
            (RECOVERED_TOPIC, "latency_p95_ms"),
        ]
        first = products_events[0][1]
        assert first["event_type"] == "sla_breached"
        assert (first["entity_type"], first["domain"], first["node"]) == (
            "product",
            "products",
            "demo",
        )
        assert (first["target"], first["window_seconds"]) == (0.99, 3.0)
        assert first["measured"] < 0.99
        assert first["samples"] >= 5
        assert products_events[2][1]["measured"] >= 800

        # the rule acted on each event: the demo user's inbox
        assert node.notifications is not None
        async with asyncio.timeout(30):
            while len(sent := await node.notifications.service.store.search(rule="sla")) < 4:  # noqa: ASYNC110 - the delivery worker writes them
                await asyncio.sleep(0.1)
        subjects = sorted(record.subject for record in sent)
        assert sum("SLA breached" in s for s in subjects) == 2, subjects
        assert sum("SLA recovered" in s for s in subjects) == 2, subjects


async def lag_samples(api: httpx.AsyncClient, adapter: str) -> tuple[int, int]:
    """Changes of customers in the window: (catalog stage, api stage)."""
    objectives = (await window_of(api, adapter))["objectives"]
    return objectives["freshness_catalog"]["samples"], objectives["freshness_api"]["samples"]


async def test_freshness_lag_is_measured_to_the_catalog_and_to_the_api(
    backend: tuple[Backend, ProductionUrls | None], tmp_path: Path, sources: SampleSources
) -> None:
    settings = sla_settings(sources, tmp_path, 0.3, backend)
    (customers,) = [a.name for a in settings.adapters if a.name.startswith(CUSTOMERS)]
    # a group of its own on a shared Kafka: the history it replays first is measured too,
    # and waited out below (it leaves the 3 s window before the change is made)
    group = f"dictamesh-test-sla-{uuid.uuid4().hex[:8]}"
    async with MeshNode(settings, ingest_group=group) as node:
        transport = httpx.ASGITransport(app=node.asgi_app())
        async with (
            httpx.AsyncClient(
                base_url=sources.customers_url,
                headers={"Authorization": f"Bearer {sources.customers_token}"},
            ) as cms,
            httpx.AsyncClient(transport=transport, base_url="http://node") as api,
        ):
            # the first polls capture every customer; once those changes left the 3 s
            # window, whatever is measured is the change made below
            async with asyncio.timeout(30):
                while 0 in await lag_samples(api, customers):  # noqa: ASYNC110 - the initial capture
                    await asyncio.sleep(0.05)
                while await lag_samples(api, customers) != (0, 0):  # noqa: ASYNC110 - out of the window
                    await asyncio.sleep(0.1)
            changed = time.monotonic()
            patched = await cms.patch("/items/customers/1", json={"first_name": "Freshly"})
            patched.raise_for_status()
            async with asyncio.timeout(30):
                while True:
                    window = await window_of(api, customers)
                    catalog = window["objectives"]["freshness_catalog"]
                    served = window["objectives"]["freshness_api"]
                    if catalog["samples"] and served["samples"]:
                        break
                    await asyncio.sleep(0.05)
            (logged,) = await node.catalog.get_event_log(
                entity_type="customer", entity_id="1", limit=1
            )
            assert logged.payload["after"]["first_name"] == "Freshly"  # the change measured
            assert (catalog["samples"], served["samples"]) == (1, 1)
            since_change = time.monotonic() - changed
        for stage, found in (("catalog", catalog), ("api", served)):
            # a real lag: more than nothing, less than the whole test took, within target
            assert 0 < found["measured"] < since_change + 60, (stage, found)
            assert found["met"] is True
            assert found["target"] == 60
        print(
            f"freshness lag p95 ({backend[0]}): catalog {catalog['measured'] * 1000:.1f} ms,"
            f" api {served['measured'] * 1000:.1f} ms"
        )
