"""The Redis L2 layer against a real Redis server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from dictamesh.cache.keys import entity_key
from dictamesh.cache.memory import MemoryCache
from dictamesh.cache.redis import RedisCache
from dictamesh.cache.tiered import TieredCache

pytestmark = pytest.mark.redis


@pytest.fixture
async def l2(redis_url: str) -> AsyncIterator[RedisCache]:
    cache = RedisCache(redis_url, ttl=30, stale_ttl=30, key_prefix=f"t{uuid.uuid4().hex[:8]}:")
    yield cache
    await cache.clear()
    await cache.aclose()


async def test_roundtrip_keeps_value_and_timestamps(l2: RedisCache) -> None:
    await l2.set("dm:k", {"id": "c-1", "n": [1, 2]}, stored_at=1000.0)
    entry = await l2.get("dm:k")
    assert entry is not None
    assert entry.value == {"id": "c-1", "n": [1, 2]}
    assert entry.stored_at == 1000.0
    await l2.delete("dm:k")
    assert await l2.get("dm:k") is None


async def test_server_expires_entry_after_fresh_plus_stale_window(redis_url: str) -> None:
    cache = RedisCache(redis_url, ttl=0.1, stale_ttl=0.1, key_prefix=f"x{uuid.uuid4().hex}:")
    try:
        await cache.set("dm:k", {"v": 1})
        assert await cache.get("dm:k") is not None
        await asyncio.sleep(0.35)
        assert await cache.get("dm:k") is None
    finally:
        await cache.aclose()


async def test_clear_removes_only_its_own_keys(l2: RedisCache, redis_url: str) -> None:
    other = RedisCache(redis_url, key_prefix=f"o{uuid.uuid4().hex[:8]}:")
    try:
        await l2.set("dm:a", {"v": 1})
        await other.set("dm:a", {"v": 2})
        await l2.clear()
        assert await l2.get("dm:a") is None
        entry = await other.get("dm:a")
        assert entry is not None
        assert entry.value == {"v": 2}
    finally:
        await other.clear()
        await other.aclose()


async def test_two_nodes_share_l2_and_invalidation_reaches_both(l2: RedisCache) -> None:
    loads = 0

    async def loader() -> dict[str, object]:
        nonlocal loads
        loads += 1
        return {"id": "c-1", "email": f"v{loads}@example.com"}

    node_a = TieredCache([MemoryCache(ttl=30), l2])
    node_b = TieredCache([MemoryCache(ttl=30), l2])
    key = entity_key(None, "customer", "c-1")
    assert (await node_a.get_or_load(key, loader)).value["email"] == "v1@example.com"
    hit = await node_b.get_or_load(key, loader)
    assert hit.layer == "redis"
    assert loads == 1
    await node_a.invalidate(key)
    await node_b.invalidate(key)
    assert (await node_b.get_or_load(key, loader)).value["email"] == "v2@example.com"


async def test_redis_down_falls_through_to_source_with_error_counted() -> None:
    dead = RedisCache("redis://127.0.0.1:1/0", ttl=30)
    cache = TieredCache([MemoryCache(ttl=30), dead])
    try:

        async def loader() -> dict[str, object]:
            return {"id": "c-9"}

        result = await cache.get_or_load(entity_key(None, "customer", "c-9"), loader)
        assert result.value == {"id": "c-9"}
        assert cache.stats()["redis"].errors >= 1
    finally:
        await dead.aclose()


async def test_dropping_a_types_lookups_reaches_every_layer_and_only_that_type(
    l2: RedisCache,
) -> None:
    from dictamesh.cache.keys import lookup_key, lookup_prefix

    l1 = MemoryCache()
    cache = TieredCache([l1, l2])
    keys = {
        "acme-invoice": lookup_key("acme", "invoice", "customer_id", "c-1"),
        "acme-invoice-2": lookup_key("acme", "invoice", "customer_id", "c-2"),
        "globex-invoice": lookup_key("globex", "invoice", "customer_id", "c-1"),
        "acme-payment": lookup_key("acme", "payment", "invoice_id", "i-1"),
        "acme-entity": entity_key("acme", "invoice", "i-1"),
    }
    for key in keys.values():
        await cache.set(key, {"items": []})
    await cache.invalidate_prefix(lookup_prefix("acme", "invoice"))
    for layer in (l1, l2):
        left = {name for name, key in keys.items() if await layer.get(key) is not None}
        assert left == {"globex-invoice", "acme-payment", "acme-entity"}
