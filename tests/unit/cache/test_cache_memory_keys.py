"""MemoryCache (LRU + TTL + stale retention) and cache keys."""

from __future__ import annotations

import pytest

from dictamesh.cache import CacheBackend, MemoryCache, entity_key, tenant_prefix


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_is_a_cache_backend() -> None:
    assert isinstance(MemoryCache(), CacheBackend)


async def test_lru_evicts_least_recently_used() -> None:
    cache = MemoryCache(max_entries=2, ttl=60)
    await cache.set("a", {"v": 1})
    await cache.set("b", {"v": 2})
    assert await cache.get("a") is not None  # "a" is now the most recent
    await cache.set("c", {"v": 3})
    assert await cache.get("b") is None
    assert (await cache.get("a")) is not None
    assert (await cache.get("c")) is not None
    assert cache.evictions == 1
    assert len(cache) == 2


async def test_ttl_then_stale_then_gone() -> None:
    clock = Clock()
    cache = MemoryCache(ttl=10, stale_ttl=20, clock=clock)
    await cache.set("k", {"v": 1})
    entry = await cache.get("k")
    assert entry is not None
    assert entry.is_fresh(clock.now)
    clock.now += 10
    entry = await cache.get("k")
    assert entry is not None
    assert not entry.is_fresh(clock.now)
    assert entry.age(clock.now) == pytest.approx(10)
    clock.now += 20
    assert await cache.get("k") is None
    assert len(cache) == 0


async def test_backfill_keeps_origin_time_and_expiry_cap() -> None:
    clock = Clock()
    cache = MemoryCache(ttl=60, clock=clock)
    await cache.set("k", {"v": 1}, stored_at=clock.now - 50, expires_at=clock.now + 5)
    entry = await cache.get("k")
    assert entry is not None
    assert entry.stored_at == clock.now - 50
    assert entry.expires_at == clock.now + 5  # never fresher than the layer it came from


async def test_delete_clear_and_disabled() -> None:
    cache = MemoryCache()
    await cache.set("a", {"v": 1})
    await cache.set("b", {"v": 2})
    await cache.delete("a")
    await cache.delete("missing")
    assert await cache.get("a") is None
    await cache.clear()
    assert len(cache) == 0
    off = MemoryCache(max_entries=0)
    await off.set("a", {"v": 1})
    assert await off.get("a") is None


def test_entity_keys_always_carry_the_tenant() -> None:
    assert entity_key("acme", "customer", "c-1") == "dm:v1:acme:entity:customer:c-1"
    assert entity_key(None, "customer", "c-1") == "dm:v1:default:entity:customer:c-1"
    assert entity_key("default", "customer", "c-1") == entity_key(None, "customer", "c-1")
    assert entity_key("", "customer", "c-1") == entity_key(None, "customer", "c-1")
    assert entity_key("acme", "customer", "c-1") != entity_key("other", "customer", "c-1")
    assert entity_key("acme", "customer", "c-1").startswith(tenant_prefix("acme"))


def test_tenant_cannot_forge_another_key() -> None:
    forged = entity_key("a:entity:customer", "x", "c-1")
    assert forged != entity_key("a", "customer", "c-1")
    assert ":" not in forged.removeprefix("dm:v1:").split(":entity:")[0]
