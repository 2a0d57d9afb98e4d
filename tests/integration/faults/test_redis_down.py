"""The L2 cache's Redis is killed (SIGKILL) and later restarted.

An adapter (:class:`FakeAdapter`) reads through ``TieredCache([L1 memory, L2 Redis])``.
While Redis is down every read still succeeds (from the source), quickly, without an
exception; the layer's error counter goes up and one warning is logged for the outage, not
one per call. Once Redis is back, L2 answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from dictamesh.cache.memory import MemoryCache
from dictamesh.cache.redis import RedisCache
from dictamesh.cache.tiered import TieredCache
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
