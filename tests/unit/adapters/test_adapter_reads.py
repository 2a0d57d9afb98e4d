"""AdapterBase reads over FakeAdapter: cache, single-flight, batching, staleness, errors."""

from __future__ import annotations

import asyncio

import pytest
from tests.unit.adapters.conftest import RECORDS

from dictamesh.adapters.base import AdapterBase, collect_read_info, current_read_info
from dictamesh.adapters.contract import AdapterCapability
from dictamesh.cache import MemoryCache, TieredCache, entity_key
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import (
    EntityNotFound,
    SourceResponseError,
    SourceUnavailable,
    ValidationError,
)
from dictamesh.core.models import MAX_QUERY_LIMIT, FieldFilter, FilterOp, Query, SortSpec
from dictamesh.testing.adapters import FakeAdapter, fake_config


class WallClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_cache_hit_avoids_the_source(fake: FakeAdapter) -> None:
    first = await fake.get_entity("w-1")
    second = await fake.get_entity("w-1")
    assert first == second
    assert fake.calls["fetch_one"] == 1
    metrics = fake.get_metrics()
    assert (metrics.cache_misses, metrics.cache_hits, metrics.calls) == (1, 1, 1)


async def test_single_flight_ten_concurrent_reads_one_fetch(fake: FakeAdapter) -> None:
    fake.delay = 0.02
    results = await asyncio.gather(*(fake.get_entity("w-2") for _ in range(10)))
    assert {r.id for r in results} == {"w-2"}
    assert fake.calls["fetch_one"] == 1


async def test_get_entities_is_one_fetch_many_aligned_with_none(fake: FakeAdapter) -> None:
    found = await fake.get_entities(["w-3", "nope", "w-1", "w-3", "w-5"])
    assert [e.id if e else None for e in found] == ["w-3", None, "w-1", "w-3", "w-5"]
    assert fake.calls["fetch_many"] == 1
    assert fake.calls["fetch_one"] == 0


async def test_get_entities_fetches_only_cache_misses(fake: FakeAdapter) -> None:
    await fake.get_entity("w-1")
    ids = [f"w-{i}" for i in range(1, 6)]
    found = await fake.get_entities(ids)
    assert [e.id for e in found if e] == ids
    assert fake.calls["fetch_many"] == 1
    await fake.get_entities(ids)
    assert fake.calls["fetch_many"] == 1  # everything cached now
    assert await fake.get_entities([]) == []


async def test_get_entities_soft_deleted_is_none(fake: FakeAdapter) -> None:
    fake.delete("w-2")
    assert await fake.get_entities(["w-2"]) == [None]
    with pytest.raises(EntityNotFound):
        await fake.get_entity("w-2")


async def test_default_fetch_many_calls_fetch_one_concurrently() -> None:
    class OneByOne(FakeAdapter):
        fetch_many = AdapterBase.fetch_many

    async with OneByOne(records=RECORDS) as adapter:
        assert AdapterCapability.BATCH_GET not in adapter.capabilities
        adapter.delay = 0.02
        started = asyncio.get_running_loop().time()
        found = await adapter.get_entities(["w-1", "w-2", "w-3", "missing"])
        elapsed = asyncio.get_running_loop().time() - started
        assert [e.id if e else None for e in found] == ["w-1", "w-2", "w-3", None]
        assert adapter.calls["fetch_one"] == 4
        assert elapsed < 0.07  # concurrent, not 4 x 20 ms


async def test_malformed_id_is_validation_error_without_source_call(fake: FakeAdapter) -> None:
    for bad in ["", "has space", "../etc", "x" * 200]:
        with pytest.raises(ValidationError):
            await fake.get_entity(bad)
    with pytest.raises(ValidationError):
        await fake.get_entities(["w-1", "bad id"])
    assert sum(fake.calls.values()) == 0


async def test_garbage_record_is_source_response_error(fake: FakeAdapter) -> None:
    fake.garbage(hooks=["fetch_one"])
    with pytest.raises(SourceResponseError):
        await fake.get_entity("w-1")
    assert fake.calls["fetch_one"] == 1  # not retried
    assert (await fake.get_entity("w-1")).id == "w-1"  # the error was not cached


async def test_injected_failures_are_retried(fake: FakeAdapter) -> None:
    fake.fail(times=2)
    assert (await fake.get_entity("w-1")).id == "w-1"
    assert fake.calls["fetch_one"] == 3
    assert fake.get_metrics().retries == 2


async def test_hang_times_out() -> None:
    config = fake_config(resilience={"timeout_seconds": 0.02, "max_attempts": 1})
    async with FakeAdapter(config, records=RECORDS) as adapter:
        adapter.hang()
        with pytest.raises(SourceUnavailable, match="timed out"):
            await adapter.get_entity("w-1")


async def test_stale_while_error_serves_stale_and_reports_it() -> None:
    wall = WallClock()
    cache = TieredCache([MemoryCache(ttl=10, stale_ttl=600, clock=wall)], clock=wall)
    async with FakeAdapter(records=RECORDS, cache=cache) as adapter:
        await adapter.get_entity("w-1")
        wall.now += 42
        adapter.fail(times=10)
        with collect_read_info() as info:
            entity = await adapter.get_entity("w-1")
            assert current_read_info() is info
        assert entity.id == "w-1"
        assert info.stale
        [stale] = info.stale_entities
        assert (stale.entity_type, stale.entity_id, stale.reason) == (
            "widget",
            "w-1",
            "SOURCE_UNAVAILABLE",
        )
        assert stale.age_seconds == pytest.approx(42)
        assert info.to_headers() == {
            "X-DictaMesh-Stale": "true",
            "Age": "42",
            "Warning": '110 - "Response is Stale"',
            "X-DictaMesh-Stale-Reason": "SOURCE_UNAVAILABLE",
            "X-DictaMesh-Stale-Entities": "widget:w-1",
        }
        [ext] = info.to_extensions()["dictamesh"]["stale"]
        assert ext["ageSeconds"] == pytest.approx(42)
        assert (ext["type"], ext["id"], ext["reason"]) == ("widget", "w-1", "SOURCE_UNAVAILABLE")
        assert current_read_info() is None


async def test_stale_batch_read_is_reported_from_child_tasks() -> None:
    wall = WallClock()
    cache = TieredCache([MemoryCache(ttl=10, clock=wall)], clock=wall)
    async with FakeAdapter(records=RECORDS, cache=cache) as adapter:
        await adapter.get_entities(["w-1", "w-2"])
        wall.now += 20
        adapter.fail(times=10)
        with collect_read_info() as outer, collect_read_info() as inner:
            # as a DataLoader would: the read runs in a task started inside the block
            found = await asyncio.create_task(adapter.get_entities(["w-1", "w-2"]))
        assert [e.id for e in found if e] == ["w-1", "w-2"]
        assert len(inner.stale_entities) == 2
        assert len(outer.stale_entities) == 2  # nested collectors all see it


async def test_no_stale_copy_means_the_error_propagates(fake: FakeAdapter) -> None:
    fake.fail(times=10)
    with collect_read_info() as info, pytest.raises(SourceUnavailable):
        await fake.get_entity("w-1")
    assert not info.stale


async def test_cache_is_per_tenant(fake: FakeAdapter) -> None:
    token = current_tenant.set("acme")
    try:
        await fake.get_entity("w-1")
        assert await fake.cache.get(entity_key("acme", "widget", "w-1")) is not None
    finally:
        current_tenant.reset(token)
    assert await fake.cache.get(entity_key(None, "widget", "w-1")) is None
    await fake.get_entity("w-1")
    assert fake.calls["fetch_one"] == 2  # the other tenant's copy was not used


async def test_query_entities_filters_sorts_and_pages(fake: FakeAdapter) -> None:
    page = await fake.query_entities(
        Query(
            filters=[FieldFilter(field="color", value="red")],
            sort=[SortSpec(field="size", descending=True)],
        )
    )
    assert [e.id for e in page.items] == ["w-1", "w-3"]
    first = await fake.query_entities(Query(limit=2))
    assert (len(first.items), first.next_cursor, first.total) == (2, "2", 5)
    ids = await fake.query_entities(Query(ids=["w-4", "w-5"]))
    assert sorted(e.id for e in ids.items) == ["w-4", "w-5"]
    inn = await fake.query_entities(
        Query(filters=[FieldFilter(field="size", op=FilterOp.IN, value=[1, 8])])
    )
    assert sorted(e.id for e in inn.items) == ["w-3", "w-5"]


async def test_query_entities_errors(fake: FakeAdapter) -> None:
    with pytest.raises(ValidationError):
        await fake.query_entities(Query(filters=[FieldFilter(field="weight", value=1)]))
    fake.garbage(hooks=["fetch_page"])
    with pytest.raises(SourceResponseError):
        await fake.query_entities(Query())


async def test_descriptors(fake: FakeAdapter) -> None:
    assert fake.get_schema().entity_type == "widget"
    assert fake.get_sla().latency_p95_ms == 250
    [edge] = fake.get_lineage().edges
    assert (edge.upstream.namespace, edge.upstream.name) == ("fake", "widgets")
    assert (edge.downstream.namespace, edge.downstream.name) == ("dictamesh", "testing.widget")
    assert fake.capabilities >= {
        AdapterCapability.BATCH_GET,
        AdapterCapability.CHANGE_POLLING,
        AdapterCapability.WEBHOOKS,
        AdapterCapability.FILTER,
    }


async def test_metrics_latency_and_errors(fake: FakeAdapter) -> None:
    for i in range(1, 6):
        await fake.get_entity(f"w-{i}")
    fake.garbage(hooks=["fetch_one"])
    await fake.cache.clear()
    with pytest.raises(SourceResponseError):
        await fake.get_entity("w-1")
    metrics = fake.get_metrics()
    assert metrics.calls == 6
    assert metrics.errors == 1
    assert metrics.latency_p50_ms is not None
    assert metrics.latency_p95_ms is not None
    assert metrics.latency_p95_ms >= metrics.latency_p50_ms
    assert metrics.breaker_state == "closed"


def test_adapter_class_must_declare_its_product() -> None:
    from dictamesh.core.errors import ConfigurationError

    class Incomplete(AdapterBase):
        entity_type = "thing"

    with pytest.raises(ConfigurationError, match="schema"):
        Incomplete(fake_config())


async def test_more_ids_than_a_query_allows_are_chunked(fake: FakeAdapter) -> None:
    ids = [f"w-{i}" for i in range(1, MAX_QUERY_LIMIT + 2)]
    found = await fake.get_entities(ids)
    assert len(found) == len(ids)
    assert [e.id for e in found if e] == [f"w-{i}" for i in range(1, 6)]
    assert fake.calls["fetch_many"] == 2  # one per MAX_QUERY_LIMIT ids


def test_read_info_without_stale_reads_is_empty() -> None:
    with collect_read_info() as info:
        pass
    assert not info.stale
    assert info.max_age_seconds is None
    assert info.to_headers() == {}
    assert info.to_extensions() == {}
