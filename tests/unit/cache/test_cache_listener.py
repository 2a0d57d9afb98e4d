"""The TieredCache tells its listener of fills, back-fills, hits and invalidations, and a
failing listener never fails a read."""

from __future__ import annotations

from typing import Any

import pytest

from dictamesh.cache import CacheListener, MemoryCache, TieredCache, parse_entity_key
from dictamesh.cache.keys import entity_key, lookup_key


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def stored(self, key: str, layer: str, stored_at: float, expires_at: float) -> None:
        self.calls.append(("stored", key, layer, stored_at, expires_at))

    def hit(self, key: str, layer: str, stored_at: float, expires_at: float) -> None:
        self.calls.append(("hit", key, layer, stored_at, expires_at))

    def invalidated(self, key: str, at: float) -> None:
        self.calls.append(("invalidated", key, at))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


KEY = entity_key("acme", "customer", "c-1")


def test_entity_keys_parse_back() -> None:
    assert parse_entity_key(KEY) == ("acme", "customer", "c-1")
    assert parse_entity_key(entity_key(None, "customer", "a:b/c")) == (
        "default",
        "customer",
        "a:b/c",
    )
    assert parse_entity_key(entity_key("t:1", "x", "y")) == ("t:1", "x", "y")
    assert parse_entity_key(lookup_key("acme", "invoice", "customer_id", "c-1")) is None
    for other in ("", "dm:v1:acme", "dm:v1:acme:entity:customer:", "other:v1:a:entity:b:c"):
        assert parse_entity_key(other) is None


async def test_fill_backfill_hit_and_invalidation_are_reported() -> None:
    clock = Clock()
    l1 = MemoryCache(ttl=60, clock=clock, name="memory")
    l2 = MemoryCache(ttl=300, clock=clock, name="shared")
    recorder = Recorder()
    assert isinstance(recorder, CacheListener)
    cache = TieredCache([l1, l2], clock=clock, listener=recorder)

    async def load() -> dict[str, Any]:
        return {"id": "c-1"}

    await cache.get_or_load(KEY, load)  # a miss: the loader's value goes to both layers
    assert recorder.calls == [
        ("stored", KEY, "memory", 1000.0, 1060.0),
        ("stored", KEY, "shared", 1000.0, 1300.0),
    ]
    recorder.calls.clear()
    clock.now = 1010.0
    await cache.get_or_load(KEY, load)
    assert recorder.calls == [("hit", KEY, "memory", 1000.0, 1060.0)]

    recorder.calls.clear()
    await l1.clear()  # L1 lost it: L2 answers and back-fills L1 (never fresher than L2)
    clock.now = 1020.0
    await cache.get_or_load(KEY, load)
    assert recorder.calls == [
        ("hit", KEY, "shared", 1000.0, 1300.0),
        ("stored", KEY, "memory", 1000.0, 1080.0),
    ]

    recorder.calls.clear()
    clock.now = 1030.0
    await cache.invalidate(KEY)
    assert recorder.calls == [("invalidated", KEY, 1030.0)]


async def test_a_failing_listener_does_not_fail_the_cache(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def stored(self, *args: Any) -> None:
            raise RuntimeError("listener bug")

        hit = invalidated = stored

    cache = TieredCache([MemoryCache(ttl=60)], listener=Broken())  # type: ignore[arg-type]

    async def load() -> dict[str, Any]:
        return {"id": "c-1"}

    assert (await cache.get_or_load(KEY, load)).value == {"id": "c-1"}
    assert (await cache.get_or_load(KEY, load)).layer == "memory"
    await cache.invalidate(KEY)
    assert await cache.get(KEY) is None
