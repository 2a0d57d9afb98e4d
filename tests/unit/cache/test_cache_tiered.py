"""TieredCache: read-through, back-fill, single-flight, stale-while-error, invalidation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dictamesh.cache import CacheEntry, MemoryCache, TieredCache
from dictamesh.core.errors import EntityNotFound, SourceUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Loader:
    def __init__(self, value: dict[str, Any] | None = None) -> None:
        self.value = value or {"id": "c-1"}
        self.calls = 0
        self.error: BaseException | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return dict(self.value)


class BrokenLayer:
    name = "redis"

    async def get(self, key: str) -> CacheEntry | None:
        raise ConnectionError("redis down")

    async def set(self, key: str, value: Any, **kw: Any) -> None:
        raise ConnectionError("redis down")

    async def delete(self, key: str) -> None:
        raise ConnectionError("redis down")

    async def clear(self) -> None:
        return None

    async def ping(self) -> bool:
        raise ConnectionError("redis down")

    async def aclose(self) -> None:
        return None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def layers(clock: Clock) -> tuple[MemoryCache, MemoryCache]:
    return (
        MemoryCache(ttl=10, stale_ttl=100, clock=clock, name="l1"),
        MemoryCache(ttl=50, stale_ttl=100, clock=clock, name="l2"),
    )


@pytest.fixture
def cache(layers: tuple[MemoryCache, MemoryCache], clock: Clock) -> TieredCache:
    return TieredCache(list(layers), clock=clock)


async def test_miss_loads_and_fills_every_layer(
    cache: TieredCache, layers: tuple[MemoryCache, MemoryCache]
) -> None:
    loader = Loader()
    result = await cache.get_or_load("k", loader)
    assert (result.value, result.stale, result.layer) == ({"id": "c-1"}, False, "source")
    assert loader.calls == 1
    assert all(len(layer) == 1 for layer in layers)
    again = await cache.get_or_load("k", loader)
    assert again.layer == "l1"
    assert loader.calls == 1
    stats = cache.stats()
    assert (stats["l1"].hits, stats["l1"].misses, stats["l2"].misses) == (1, 1, 1)


async def test_l2_hit_backfills_l1_with_original_age(
    cache: TieredCache, layers: tuple[MemoryCache, MemoryCache], clock: Clock
) -> None:
    l1, l2 = layers
    await l2.set("k", {"id": "c-1"}, stored_at=clock.now - 5)
    result = await cache.get_or_load("k", Loader())
    assert result.layer == "l2"
    assert result.age_seconds == pytest.approx(5)
    entry = await l1.get("k")
    assert entry is not None
    assert entry.stored_at == clock.now - 5


async def test_expired_l1_falls_through_to_fresh_l2(cache: TieredCache, clock: Clock) -> None:
    loader = Loader()
    await cache.get_or_load("k", loader)
    clock.now += 20  # past l1's 10 s, within l2's 50 s
    result = await cache.get_or_load("k", loader)
    assert result.layer == "l2"
    assert loader.calls == 1


async def test_single_flight_one_load_for_concurrent_misses(cache: TieredCache) -> None:
    loader = Loader()
    loader.gate = asyncio.Event()
    tasks = [asyncio.create_task(cache.get_or_load("k", loader)) for _ in range(10)]
    await asyncio.sleep(0.01)
    loader.gate.set()
    results = await asyncio.gather(*tasks)
    assert loader.calls == 1
    assert cache.loads == 1
    assert all(r.value == {"id": "c-1"} for r in results)


async def test_single_flight_survives_the_first_callers_cancellation(cache: TieredCache) -> None:
    loader = Loader()
    loader.gate = asyncio.Event()
    first = asyncio.create_task(cache.get_or_load("k", loader))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get_or_load("k", loader))
    await asyncio.sleep(0)
    first.cancel()
    loader.gate.set()
    assert (await second).value == {"id": "c-1"}
    assert loader.calls == 1


async def test_errors_are_shared_and_not_cached(cache: TieredCache) -> None:
    loader = Loader()
    loader.error = EntityNotFound("customer", "c-1")
    with pytest.raises(EntityNotFound):
        await cache.get_or_load("k", loader)
    loader.error = None
    assert (await cache.get_or_load("k", loader)).layer == "source"
    assert cache.load_errors == 1


async def test_stale_while_error_serves_stale_copy_with_age(
    cache: TieredCache, clock: Clock
) -> None:
    loader = Loader()
    await cache.get_or_load("k", loader)
    clock.now += 60  # stale in both layers
    loader.error = SourceUnavailable("503")
    result = await cache.get_or_load("k", loader)
    assert result.stale
    assert result.age_seconds == pytest.approx(60)
    assert isinstance(result.error, SourceUnavailable)
    assert cache.stale_served == 1
    assert loader.calls == 2  # the source was asked first


async def test_stale_copy_is_not_served_for_not_found(cache: TieredCache, clock: Clock) -> None:
    loader = Loader()
    await cache.get_or_load("k", loader)
    clock.now += 60
    loader.error = EntityNotFound("customer", "c-1")  # deleted at the source
    with pytest.raises(EntityNotFound):
        await cache.get_or_load("k", loader)


async def test_error_without_stale_copy_propagates(cache: TieredCache, clock: Clock) -> None:
    loader = Loader()
    await cache.get_or_load("k", loader)
    clock.now += 200  # past ttl + stale_ttl of both layers
    loader.error = SourceUnavailable("503")
    with pytest.raises(SourceUnavailable):
        await cache.get_or_load("k", loader)


async def test_get_allow_stale(cache: TieredCache, clock: Clock) -> None:
    await cache.set("k", {"v": 1})
    clock.now += 60
    assert await cache.get("k") is None
    stale = await cache.get("k", allow_stale=True)
    assert stale is not None
    assert stale.stale


async def test_invalidate_drops_every_layer(
    cache: TieredCache, layers: tuple[MemoryCache, MemoryCache]
) -> None:
    await cache.get_or_load("k", Loader())
    await cache.invalidate("k")
    assert all(len(layer) == 0 for layer in layers)


async def test_invalidate_during_a_load_is_not_undone(cache: TieredCache) -> None:
    loader = Loader()
    loader.gate = asyncio.Event()
    task = asyncio.create_task(cache.get_or_load("k", loader))
    await asyncio.sleep(0)
    await cache.invalidate("k")  # the source changed while we were reading it
    loader.gate.set()
    assert (await task).value == {"id": "c-1"}
    await asyncio.sleep(0)
    assert await cache.get("k") is None  # the pre-change read was not written back


async def test_broken_layer_reads_as_miss(clock: Clock) -> None:
    l1 = MemoryCache(clock=clock, name="l1")
    cache = TieredCache([l1, BrokenLayer()], clock=clock)
    loader = Loader()
    assert (await cache.get_or_load("k", loader)).layer == "source"
    assert (await cache.get_or_load("k", loader)).layer == "l1"
    assert cache.stats()["redis"].errors == 2  # one get, one set
    with pytest.raises(ConnectionError):
        await cache.invalidate("k")
    assert await l1.get("k") is None  # the healthy layer was still invalidated


async def test_no_layers_still_single_flights() -> None:
    cache = TieredCache([])
    loader = Loader()
    loader.gate = asyncio.Event()
    tasks = [asyncio.create_task(cache.get_or_load("k", loader)) for _ in range(3)]
    await asyncio.sleep(0)
    loader.gate.set()
    await asyncio.gather(*tasks)
    assert loader.calls == 1


async def test_get_many_one_load_for_all_misses(cache: TieredCache) -> None:
    await cache.set("a", {"id": "a"})
    calls: list[list[str]] = []

    async def load(keys: list[str]) -> dict[str, dict[str, Any]]:
        calls.append(keys)
        return {k: {"id": k} for k in keys if k != "missing"}

    results = await cache.get_many_or_load(["a", "b", "c", "b", "missing"], load)
    assert calls == [["b", "c", "missing"]]
    assert sorted(results) == ["a", "b", "c"]
    assert results["a"].layer == "l1"
    assert results["b"].layer == "source"


async def test_get_many_joins_in_flight_single_loads(cache: TieredCache) -> None:
    loader = Loader({"id": "a"})
    loader.gate = asyncio.Event()
    single = asyncio.create_task(cache.get_or_load("a", loader))
    await asyncio.sleep(0)
    calls: list[list[str]] = []

    async def load(keys: list[str]) -> dict[str, dict[str, Any]]:
        calls.append(keys)
        return {k: {"id": k} for k in keys}

    many = asyncio.create_task(cache.get_many_or_load(["a", "b"], load))
    await asyncio.sleep(0.01)
    loader.gate.set()
    results = await many
    await single
    assert calls == [["b"]]  # "a" was joined, not loaded twice
    assert results["a"].value == {"id": "a"}


async def test_get_many_stale_while_error(cache: TieredCache, clock: Clock) -> None:
    await cache.set("a", {"id": "a"})
    clock.now += 60

    async def down(keys: list[str]) -> dict[str, dict[str, Any]]:
        raise SourceUnavailable("503")

    results = await cache.get_many_or_load(["a"], down)
    assert results["a"].stale
    with pytest.raises(SourceUnavailable):
        await cache.get_many_or_load(["a", "no-copy"], down)


async def test_without_layers_the_load_runs_in_the_callers_task_and_is_still_shared() -> None:
    cache = TieredCache([])
    caller = asyncio.current_task()
    tasks: list[asyncio.Task[object] | None] = []
    release = asyncio.Event()

    async def load() -> dict[str, object]:
        tasks.append(asyncio.current_task())
        await release.wait()
        return {"v": 1}

    first = asyncio.ensure_future(cache.get_or_load("k", load))
    joiner = asyncio.ensure_future(cache.get_or_load("k", load))
    await asyncio.sleep(0)
    release.set()
    assert [r.value for r in await asyncio.gather(first, joiner)] == [{"v": 1}, {"v": 1}]
    assert cache.loads == 1
    assert tasks == [first]  # the first caller's own task
    assert tasks[0] is not caller

    # the first caller is cancelled: a joiner loads for itself instead of failing
    release.clear()
    first = asyncio.ensure_future(cache.get_many_or_load(["a"], lambda keys: _many(keys, release)))
    await asyncio.sleep(0)
    joiner = asyncio.ensure_future(cache.get_or_load("a", load))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert (await joiner).value == {"v": 1}
    with pytest.raises(asyncio.CancelledError):
        await first


async def _many(keys: list[str], release: asyncio.Event) -> dict[str, dict[str, object]]:
    await release.wait()
    return {k: {"v": 0} for k in keys}
