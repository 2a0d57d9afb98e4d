"""The L2 cache's Redis is killed (SIGKILL) and later restarted.

An adapter (:class:`FakeAdapter`) reads through ``TieredCache([L1 memory, L2 Redis])``.
While Redis is down every read still succeeds (from the source), quickly, without an
exception; the layer's error counter goes up and one warning is logged for the outage, not
one per call. Once Redis is back, L2 answers again. A node's invalidation that arrives during
the outage is retried until Redis is back, then applied there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dictamesh.cache.keys import entity_key
from dictamesh.cache.memory import MemoryCache
from dictamesh.cache.redis import RedisCache
from dictamesh.cache.tiered import TieredCache
from dictamesh.core.models import ChangeEvent, Entity, EventType
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode
from dictamesh.testing.adapters import FakeAdapter
from tests.integration.faults.conftest import RECOVERY, PrivateServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

IDS = [f"w-{i}" for i in range(20)]


@pytest.fixture
async def layers(private_redis: PrivateServer) -> AsyncIterator[tuple[MemoryCache, RedisCache]]:
    l1 = MemoryCache(max_entries=1000, ttl=60)
    l2 = RedisCache(f"redis://127.0.0.1:{private_redis.port}/0", ttl=60, key_prefix="faults:")
    try:
        yield l1, l2
    finally:
        await l2.aclose()


async def read_all(adapter: FakeAdapter, l1: MemoryCache) -> float:
    """Read every widget with a cold L1 (so each read asks L2); the slowest read's seconds."""
    await l1.clear()
    slowest = 0.0
    for entity_id in IDS:
        started = time.monotonic()
        entity = await adapter.get_entity(entity_id)
        slowest = max(slowest, time.monotonic() - started)
        assert entity.id == entity_id
        assert entity.attributes["name"] == f"widget {entity_id}"
    return slowest


async def test_reads_survive_a_redis_outage_and_l2_comes_back(
    private_redis: PrivateServer,
    layers: tuple[MemoryCache, RedisCache],
    caplog: pytest.LogCaptureFixture,
) -> None:
    l1, l2 = layers
    cache = TieredCache([l1, l2])
    adapter = FakeAdapter(records=[{"id": i, "name": f"widget {i}"} for i in IDS], cache=cache)
    caplog.set_level(logging.DEBUG, "dictamesh.cache")
    try:
        await read_all(adapter, l1)  # from the source, written to both layers
        await read_all(adapter, l1)  # L2 hits
        assert adapter.calls["fetch_one"] == len(IDS)
        assert cache.stats()["redis"].hits == len(IDS)

        kill_took = await asyncio.to_thread(private_redis.kill)
        slowest_down = 0.0
        for _ in range(3):
            slowest_down = max(slowest_down, await read_all(adapter, l1))
        await asyncio.sleep(0.1)  # write-backs run after the reader got its value
        # Every read went to the source and none raised.
        assert adapter.calls["fetch_one"] == 4 * len(IDS)
        down = cache.stats()["redis"]
        assert down.hits == len(IDS)
        assert down.errors == 2 * 3 * len(IDS)  # each read's get and write-back failed
        assert down.outages == 1
        assert cache.failing_layers == ["redis"]
        cache_log = [r for r in caplog.records if r.name == "dictamesh.cache"]
        warnings = [r for r in cache_log if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "redis" in warnings[0].getMessage()
        assert slowest_down < 1.0  # a dead L2 must not slow every read down

        restart = await asyncio.to_thread(private_redis.up)
        up_at = time.monotonic()
        await read_all(adapter, l1)  # L2 came back empty (no snapshot yet): refilled
        await read_all(adapter, l1)  # ...and answering again
        hits_after = time.monotonic() - up_at
        await asyncio.sleep(0.1)
        assert cache.failing_layers == []
        back = cache.stats()["redis"]
        assert back.hits == 2 * len(IDS)
        assert back.errors == down.errors  # the first call after the restart already worked
        assert back.outages == 1
        assert adapter.calls["fetch_one"] == 5 * len(IDS)
        assert any("answers again" in r.getMessage() for r in caplog.records)
    finally:
        await adapter.aclose()
    RECOVERY.append(
        f"redis SIGKILL ({kill_took:.1f}s): {3 * len(IDS)} reads served from the"
        f" source, slowest {slowest_down * 1000:.0f} ms, {down.errors} L2 errors counted, one"
        f" warning; restart (services.sh up {restart:.1f}s): the first L2 call after it"
        f" works, refill + {len(IDS)} L2 hits within {hits_after * 1000:.0f} ms"
    )


async def test_an_invalidation_during_the_outage_is_applied_after_it(
    private_redis: PrivateServer, tmp_path: Path
) -> None:
    """A node's L2 copy is snapshotted, Redis dies, the entity changes: the invalidation
    consumer drops L1 and tells subscribers at once, but keeps retrying (uncommitted, never
    dead-lettered) until Redis — restarted from the snapshot that still holds the old copy —
    answers, and then deletes it there too."""
    settings = DictaMeshSettings.from_mapping(
        {
            "node_name": "redis-faults",
            "state_dir": str(tmp_path),
            "bus": {"path": str(tmp_path / "bus.sqlite3")},
            "catalog": {"url": f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}"},
            "cache": {"redis_url": f"redis://127.0.0.1:{private_redis.port}/0"},
        }
    )
    adapter = FakeAdapter(records=[{"id": "w-1", "name": "widget w-1"}])
    async with MeshNode(settings, adapters=[adapter]) as node:
        l2 = node._cache_layers[1]
        assert isinstance(l2, RedisCache)
        key = entity_key(None, "widget", "w-1")
        await node.cache.set(key, {"name": "old"})
        await l2._redis.save()  # the snapshot Redis will come back from holds the old copy
        seen: list[ChangeEvent] = []
        node.changes.add_listener(seen.append)
        group = f"dictamesh-cache-{settings.node_name}"
        topic = node.topics[0]

        kill_took = await asyncio.to_thread(private_redis.kill)
        entity = Entity(type="widget", id="w-1", source=adapter.source, attributes={"name": "new"})
        change = ChangeEvent.for_change(EventType.UPDATED, entity)
        await node.publisher.publish_event(change)
        deadline = time.monotonic() + 10
        while change.event_id not in {e.event_id for e in seen} or await node.cache.get(key):
            assert time.monotonic() < deadline, "the change never reached the feed / L1"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # a few retries
        assert sum((await node.bus.lag(group, [topic]))[topic].values()) == 1

        restart = await asyncio.to_thread(private_redis.up)
        up_at = time.monotonic()
        while await l2.get(key) is not None or sum(
            (await node.bus.lag(group, [topic]))[topic].values()
        ):
            assert time.monotonic() - up_at < 10, "the invalidation was not retried"
            await asyncio.sleep(0.05)
        applied_after = time.monotonic() - up_at
        assert [e.event_id for e in seen].count(change.event_id) == 1  # once, despite retries
        async with node.bus.consumer("t-dlq", [f"{topic}.dlq"]) as consumer:
            assert await consumer.poll(timeout=0.2) == []
    RECOVERY.append(
        f"redis SIGKILL ({kill_took:.1f}s) during an invalidation: L1 dropped and subscribers"
        f" told at once; restart ({restart:.1f}s) from the older snapshot, the retried"
        f" invalidation applied {applied_after * 1000:.0f} ms later, nothing dead-lettered"
    )
