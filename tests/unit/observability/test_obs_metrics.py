"""MeshMetrics: HTTP metrics by route template, per-app registries, and the families read
at scrape time from adapters, caches, breakers, consumers, the bus and the catalog."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from dictamesh.api.observability import instrument_app
from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import SourceUnavailable
from dictamesh.core.settings import ResilienceSettings
from dictamesh.events.bus import Message
from dictamesh.events.consume import ConsumerStats, run_consumer
from dictamesh.events.topics import TopicSpec
from dictamesh.observability.metrics import MeshMetrics
from dictamesh.observability.stats import BucketHistogram
from dictamesh.testing.adapters import FakeAdapter, fake_config
from dictamesh.testing.bus import InMemoryBus

TOPIC = "testing.fake.entity_changed"


def samples(metrics: MeshMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, labels) → value."""
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(metrics: MeshMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


def test_bucket_histogram_is_cumulative_with_le_bounds() -> None:
    hist = BucketHistogram([0.1, 1.0])
    for v in (0.05, 0.1, 0.5, 3.0):
        hist.observe(v)
    assert hist.cumulative() == [(0.1, 2), (1.0, 3), (math.inf, 4)]
    assert (hist.count, hist.sum) == (4, pytest.approx(3.65))
    both = BucketHistogram.merged([hist, hist])
    assert both.cumulative() == [(0.1, 4), (1.0, 6), (math.inf, 8)]
    with pytest.raises(ValueError):
        BucketHistogram.merged([hist, BucketHistogram([0.5])])


async def test_http_metrics_use_route_templates_and_each_app_has_its_own_registry() -> None:
    def app_with_items() -> FastAPI:
        app = FastAPI()

        @app.get("/items/{item_id}")
        async def item(item_id: str) -> dict[str, str]:
            return {"id": item_id}

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("bug")

        return app

    first, second = app_with_items(), app_with_items()
    metrics, other = instrument_app(first), instrument_app(second)
    transport = httpx.ASGITransport(app=first, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/items/1")).status_code == 200
        assert (await client.get("/items/2")).status_code == 200
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.get("/boom")).status_code == 500
        scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    assert "http_requests_total" in scraped.text
    route = "/items/{item_id}"
    assert value(metrics, "http_requests_total", method="GET", route=route, status="200") == 2
    assert value(metrics, "http_requests_total", method="GET", route="<unmatched>", status="404")
    assert value(metrics, "http_requests_total", method="GET", route="/boom", status="500") == 1
    assert value(metrics, "http_request_duration_seconds_count", method="GET", route=route) == 2
    # the raw paths never become labels
    assert "/items/1" not in metrics.render().decode()
    # the other app saw nothing
    assert value(other, "http_requests_total", method="GET", route=route, status="200") is None


async def test_adapter_breaker_and_cache_families_are_read_at_scrape_time() -> None:
    adapter = FakeAdapter(
        fake_config(
            resilience=ResilienceSettings(
                timeout_seconds=0.5,
                max_attempts=1,
                breaker_failure_threshold=2,
                backoff_initial_seconds=0.0,
                backoff_max_seconds=0.0,
            )
        ),
        records=[{"id": "w-1", "name": "Widget"}],
    )
    metrics = MeshMetrics(process_metrics=False)
    metrics.watch_adapters(lambda: [adapter])
    await adapter.get_entity("w-1")  # miss → source
    await adapter.get_entity("w-1")  # hit
    adapter.fail(times=2, hooks=["fetch_one"])
    for missing in ("w-2", "w-3"):
        with pytest.raises(SourceUnavailable):
            await adapter.get_entity(missing)
    with pytest.raises(SourceUnavailable):  # refused by the open breaker
        await adapter.get_entity("w-4")

    a = adapter.name
    calls = "dictamesh_adapter_calls_total"
    assert value(metrics, calls, adapter=a, operation="fetch_one", outcome="success") == 1
    assert value(metrics, calls, adapter=a, operation="fetch_one", outcome="error") == 2
    assert value(metrics, calls, adapter=a, operation="fetch_one", outcome="circuit_open") == 1
    count = "dictamesh_adapter_call_duration_seconds_count"
    assert value(metrics, count, adapter=a, operation="fetch_one") == 4
    assert value(metrics, "dictamesh_circuit_breaker_state", adapter=a) == 1
    transitions = "dictamesh_circuit_breaker_transitions_total"
    assert value(metrics, transitions, adapter=a, from_state="closed", to_state="open") == 1
    assert value(metrics, "dictamesh_circuit_breaker_rejected_total", adapter=a) == 1
    assert value(metrics, "dictamesh_cache_requests_total", layer="memory", result="hit") == 1
    assert value(metrics, "dictamesh_cache_requests_total", layer="memory", result="miss") == 4
    # read live: the next scrape sees the operator's reset
    adapter.policy.breaker.reset()
    assert value(metrics, "dictamesh_circuit_breaker_state", adapter=a) == 0


async def test_consumer_counts_dead_letters_and_lag_per_group_and_topic() -> None:
    metrics = MeshMetrics(process_metrics=False)
    async with InMemoryBus() as bus:
        await bus.ensure_topic(TopicSpec(name=TOPIC, partitions=1))
        for i in range(3):
            await bus.publish(TOPIC, f"m{i}".encode(), key="k")
        stats = metrics.watch_consumer(bus, "audit", lambda: [TOPIC], ConsumerStats())
        await metrics.refresh()
        lag = "kafka_consumer_lag"
        assert value(metrics, lag, topic=TOPIC, partition="0", group="audit") == 3

        stop = asyncio.Event()

        async def handle(batch: list[Message]) -> None:
            if any(m.value == b"m1" for m in batch):
                raise ValueError("poison")

        async def stop_when_done() -> None:
            for _ in range(500):
                if stats.committed >= 3:
                    break
                await asyncio.sleep(0.01)
            stop.set()

        waiter = asyncio.create_task(stop_when_done())
        await run_consumer(
            bus,
            "audit",
            [TOPIC],
            handle,
            max_attempts=1,
            backoff_initial=0,
            stop=stop,
            stats=stats,
            poll_timeout=0.05,
        )
        await waiter
        await metrics.refresh()
        assert value(metrics, lag, topic=TOPIC, partition="0", group="audit") == 0
    consumed = "dictamesh_events_consumed_total"
    assert value(metrics, consumed, group="audit", topic=TOPIC) == 3
    dead = "dictamesh_events_dead_lettered_total"
    assert value(metrics, dead, group="audit", topic=TOPIC) == 1


async def test_lag_of_a_closed_bus_is_left_out_not_an_error() -> None:
    metrics = MeshMetrics(process_metrics=False)
    bus = InMemoryBus()
    await bus.connect()
    metrics.watch_consumer(bus, "audit", lambda: [TOPIC], ConsumerStats())
    await bus.aclose()
    await metrics.refresh()  # must not raise
    assert "kafka_consumer_lag{" not in metrics.render().decode()


async def test_catalog_statements_are_timed_by_dialect_and_operation(
    sqlite_catalog_url: str,
) -> None:
    metrics = MeshMetrics(process_metrics=False)
    catalog = await CatalogService.open(sqlite_catalog_url, migrate=False)
    try:
        metrics.instrument_engine(catalog.engine)
        metrics.instrument_engine(catalog.engine)  # idempotent: counted once
        assert await catalog.ping()
    finally:
        await catalog.aclose()
    count = value(
        metrics, "catalog_query_duration_seconds_count", dialect="sqlite", operation="SELECT"
    )
    assert count == 1
