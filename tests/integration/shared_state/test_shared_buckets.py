"""Token buckets in Redis: one bucket for several nodes, Retry-After, expiry of idle keys,
and what happens when Redis cannot answer (fail open to the node's own buckets, bounded
in time)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator

import pytest

from dictamesh.cluster.buckets import FailOpenBuckets, LocalBuckets, RedisBuckets
from dictamesh.cluster.shared_redis import SharedRedis
from dictamesh.core.errors import CacheUnavailable
from dictamesh.gateway.shared_response_cache import RedisResponseCache
from tests.integration.shared_state.conftest import RedisFactory

pytestmark = pytest.mark.redis


async def test_burst_then_refused_with_retry_after_then_refilled(
    make_redis: RedisFactory,
) -> None:
    buckets = RedisBuckets(make_redis())
    taken = [await buckets.take("c", rate=5, capacity=3) for _ in range(4)]
    assert [t.allowed for t in taken] == [True, True, True, False]
    assert taken[2].tokens == pytest.approx(0, abs=0.1)
    # one token at 5/s is ~0.2 s away: Retry-After rounds up to a whole second
    assert 0.1 < taken[3].wait <= 0.2
    assert taken[3].retry_after_seconds == 1
    await asyncio.sleep(0.25)
    assert (await buckets.take("c", rate=5, capacity=3)).allowed


async def test_idle_key_expires_once_the_bucket_would_be_full(
    make_redis: RedisFactory, prefix: str
) -> None:
    redis = make_redis()
    buckets = RedisBuckets(redis)
    await buckets.take("idle", rate=10, capacity=20, cost=20)  # empty: full in 2 s
    ttl_ms = await redis.client.pttl(redis.key("bucket", "idle"))
    assert 2000 < ttl_ms <= 3000


async def test_debt_lets_a_batch_larger_than_the_bucket_pass_at_the_rate(
    make_redis: RedisFactory,
) -> None:
    buckets = RedisBuckets(make_redis())
    first = await buckets.take("e", rate=10, capacity=5, cost=8, debt=True)
    assert first.allowed
    assert first.tokens == pytest.approx(-3, abs=0.1)
    second = await buckets.take("e", rate=10, capacity=5, cost=1, debt=True)
    assert not second.allowed
    assert second.wait == pytest.approx(0.4, abs=0.05)  # the debt of 3, then 1 token


async def test_three_nodes_admit_the_limit_once_not_three_times(
    make_redis: RedisFactory,
) -> None:
    """N per minute offered by three nodes at once: admitted within 5 % of N (the bucket
    holds a minute's budget and refills at N/60 per second while the burst lasts)."""
    limit = 300
    nodes = [RedisBuckets(make_redis()) for _ in range(3)]

    async def offer(node: RedisBuckets) -> int:
        admitted = 0
        for _ in range(limit):  # each node alone offers the whole budget
            taken = await node.take("sub:alice", rate=limit / 60, capacity=limit)
            admitted += taken.allowed
        return admitted

    started = time.monotonic()
    per_node = await asyncio.gather(*(offer(node) for node in nodes))
    elapsed = time.monotonic() - started
    admitted = sum(per_node)
    # what refilled during the run is allowed on top; the 5 % bound holds regardless
    assert limit <= admitted <= limit + limit / 60 * elapsed + 1
    assert admitted <= limit * 1.05, (per_node, elapsed)
    assert all(n > 0 for n in per_node)  # every node took part

    # the same load on per-process buckets admits the budget once per node
    local = [LocalBuckets() for _ in range(3)]
    alone = sum(
        local[i].take_now("sub:alice", rate=limit / 60, capacity=limit).allowed
        for i in range(3)
        for _ in range(limit)
    )
    assert alone == 3 * limit


async def test_keys_per_client_are_separate(make_redis: RedisFactory) -> None:
    buckets = RedisBuckets(make_redis())
    assert (await buckets.take("a", rate=1, capacity=1)).allowed
    assert not (await buckets.take("a", rate=1, capacity=1)).allowed
    assert (await buckets.take("b", rate=1, capacity=1)).allowed


# --- Redis unreachable ----------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts and never answers: a hung Redis."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_refused_redis_is_cache_unavailable() -> None:
    redis = SharedRedis(f"redis://127.0.0.1:{_closed_port()}/0")
    try:
        with pytest.raises(CacheUnavailable):
            await RedisBuckets(redis).take("k", rate=1, capacity=1)
    finally:
        await redis.aclose()


async def test_fail_open_limits_locally_counts_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = SharedRedis(f"redis://127.0.0.1:{_closed_port()}/0")
    buckets = FailOpenBuckets(RedisBuckets(redis), LocalBuckets(), retry_seconds=0)
    try:
        with caplog.at_level(logging.WARNING, logger="dictamesh.cluster"):
            taken = [await buckets.take("k", rate=1, capacity=2) for _ in range(3)]
        # still a limit: the node's own bucket of 2
        assert [t.allowed for t in taken] == [True, True, False]
        assert buckets.fallbacks == 3
        warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(warnings) == 1  # rate-limited log line
    finally:
        await redis.aclose()


async def test_hung_redis_costs_one_short_timeout_then_is_skipped() -> None:
    async with _silent_server() as port:
        redis = SharedRedis(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        buckets = FailOpenBuckets(RedisBuckets(redis), retry_seconds=30)
        try:
            started = time.monotonic()
            first = await buckets.take("k", rate=1, capacity=5)
            first_took = time.monotonic() - started
            started = time.monotonic()
            for _ in range(20):
                await buckets.take("k", rate=1, capacity=5)
            rest_took = time.monotonic() - started
        finally:
            await redis.aclose()
    assert first.allowed
    assert 0.15 <= first_took < 1.0  # bounded by the timeout, not redis-py's default
    assert rest_took < 0.1  # within retry_seconds Redis is not asked again
    assert buckets.fallbacks == 21


async def test_fail_open_returns_to_redis_when_it_answers(make_redis: RedisFactory) -> None:
    shared = RedisBuckets(make_redis())
    calls = {"n": 0}

    class Flaky:
        async def take(self, key: str, **kw: object) -> object:
            calls["n"] += 1
            if calls["n"] == 1:
                raise CacheUnavailable("down", layer="redis", op="script")
            return await shared.take(key, **kw)  # type: ignore[arg-type]

    clock = {"t": 0.0}
    buckets = FailOpenBuckets(Flaky(), retry_seconds=1.0, clock=lambda: clock["t"])  # type: ignore[arg-type]
    await buckets.take("k", rate=1, capacity=1)  # fails over
    assert buckets.fallbacks == 1
    await buckets.take("k", rate=1, capacity=1)  # still within retry_seconds: local
    assert calls["n"] == 1
    assert buckets.fallbacks == 2
    clock["t"] = 1.5
    first_shared = await buckets.take("k", rate=1, capacity=1)
    assert calls["n"] == 2
    assert buckets.fallbacks == 2
    assert first_shared.allowed  # Redis' bucket was never touched before


async def test_after_an_outage_every_shared_call_fails_fast_for_a_while() -> None:
    """The response cache and APQ share the client: a hung Redis costs them one timeout per
    ``retry_seconds`` too, then Redis is asked again."""
    async with _silent_server() as port:
        redis = SharedRedis(f"redis://127.0.0.1:{port}/0", timeout=0.2, retry_seconds=0.5)
        cache = RedisResponseCache(redis)
        try:
            started = time.monotonic()
            assert await cache.lookup("k") is None
            first_took = time.monotonic() - started
            started = time.monotonic()
            for _ in range(20):
                assert await cache.lookup("k") is None
                assert await cache.begin() == -1
            rest_took = time.monotonic() - started
            await asyncio.sleep(0.5)
            started = time.monotonic()
            assert await cache.lookup("k") is None
            again_took = time.monotonic() - started
        finally:
            await redis.aclose()
    assert 0.15 <= first_took < 1.0
    assert rest_took < 0.1
    assert again_took >= 0.15  # asked (and timed out) again after retry_seconds
