"""Invalidation while a cache layer is unreachable: a transient, typed error (503), and a
node whose invalidation consumer retries the batch until the layer is back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from redis import exceptions as redis_errors
from tests.timing import eventually
from tests.unit.cache.test_cache_layer_outage import FlakyLayer
from tests.unit.gateway.fakes import CUSTOMER
from tests.unit.tenancy.test_tenant_topics import QuietCustomers, event, node_settings

from dictamesh.cache import MemoryCache, TieredCache
from dictamesh.cache.keys import entity_key
from dictamesh.cache.redis import RedisCache
from dictamesh.core.errors import CacheUnavailable
from dictamesh.core.models import ChangeEvent
from dictamesh.events.consume import is_transient
from dictamesh.node import MeshNode


async def test_an_unreachable_layer_makes_invalidate_raise_cache_unavailable() -> None:
    l1, l2 = MemoryCache(ttl=60), FlakyLayer()
    cache = TieredCache([l1, l2])
    await cache.set("k", {"v": 1})
    l2.down = True
    with pytest.raises(CacheUnavailable) as caught:
        await cache.invalidate("k")
    assert caught.value.http_status == 503
    assert caught.value.details == {"layer": "redis", "op": "delete"}
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert is_transient(caught.value)  # run_consumer retries, never dead-letters
    assert await l1.get("k") is None  # the reachable layer was cleared anyway
    l2.down = False
    assert await l2.get("k") is not None  # ...the other still holds the copy
    await cache.invalidate("k")
    assert await l2.get("k") is None


async def test_other_layer_errors_are_not_turned_into_outages() -> None:
    class Buggy(MemoryCache):
        async def delete(self, key: str) -> None:
            raise TypeError("bug")

    with pytest.raises(TypeError):
        await TieredCache([Buggy(ttl=60)]).invalidate("k")


async def test_redis_connection_errors_are_cache_unavailable() -> None:
    # nothing listens on port 1: refused at once, no server needed
    redis = RedisCache("redis://127.0.0.1:1/0", ttl=60)
    try:
        for call in (redis.delete("k"), redis.get("k"), redis.set("k", {"a": 1}), redis.ping()):
            with pytest.raises(CacheUnavailable) as caught:
                await call
            assert caught.value.details["layer"] == "redis"
            assert is_transient(caught.value)
        cache = TieredCache([MemoryCache(ttl=60), redis])
        assert await cache.get("k") is None  # reads still shrug the outage off
        with pytest.raises(CacheUnavailable):
            await cache.invalidate("k")
    finally:
        await redis.aclose()


class FakeRedisClient:
    """The few redis-py client calls RedisCache makes, over a dict; while ``down`` every
    call raises redis-py's own ConnectionError (not a builtin one), as a dead server does."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise redis_errors.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")

    async def get(self, key: str) -> Any:
        self._check()
        return self.data.get(key)

    async def set(self, key: str, value: Any, px: int) -> None:
        self._check()
        self.data[key] = value

    async def delete(self, *keys: str) -> None:
        self._check()
        for key in keys:
            self.data.pop(key, None)

    async def aclose(self) -> None:
        pass


async def test_node_retries_invalidation_until_the_layer_is_back(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    settings = node_settings(tmp_path, sqlite_catalog_url)
    async with MeshNode(settings, adapters=[QuietCustomers(CUSTOMER, system="crm")]) as node:
        l1, l2 = MemoryCache(ttl=60), RedisCache("redis://127.0.0.1:1/0", ttl=60)
        await l2.aclose()
        client = l2._redis = FakeRedisClient()
        node.cache = TieredCache([l1, l2])  # the invalidation consumer reads node.cache
        key = entity_key(None, "customer", "c-1")
        await node.cache.set(key, {"name": "old"})
        seen: list[ChangeEvent] = []
        node.changes.add_listener(seen.append)
        group = f"dictamesh-cache-{settings.node_name}"

        client.down = True  # Redis goes away, then the change arrives
        await node.publisher.publish_event(event("c-1", name="new"))

        async def delivered_once_l1_dropped() -> None:
            assert [e.entity.id for e in seen] == ["c-1"]
            assert await l1.get(key) is None
            assert node.cache.stats()["redis"].errors >= 3  # retried, still failing

        await eventually(delivered_once_l1_dropped, timeout=10.0, poll=0.02)
        lag = await node.bus.lag(group, node.topics)
        assert sum(lag[node.topics[0]].values()) == 1  # not committed while L2 is down
        assert client.data  # the copy Redis still holds

        client.down = False  # back (say from an older snapshot, still holding the entry)

        async def applied() -> None:
            assert await l2.get(key) is None
            lag = await node.bus.lag(group, node.topics)
            assert sum(lag[node.topics[0]].values()) == 0

        await eventually(applied, timeout=10.0, poll=0.02)
        assert [e.entity.id for e in seen] == ["c-1"]  # subscribers got it once
        async with node.bus.consumer("t-dlq", [f"{node.topics[0]}.dlq"]) as consumer:
            assert await consumer.poll(timeout=0.2) == []
