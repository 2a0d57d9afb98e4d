"""Bulkhead, timeout, and the composed ResiliencePolicy."""

from __future__ import annotations

import asyncio

import pytest

from dictamesh.core.errors import CircuitOpenError, SourceUnavailable
from dictamesh.core.settings import ResilienceSettings
from dictamesh.resilience import BreakerState, Bulkhead, ResiliencePolicy, call_with_timeout


async def no_sleep(_: float) -> None:
    return None


async def test_timeout_becomes_source_unavailable() -> None:
    with pytest.raises(SourceUnavailable, match="timed out") as info:
        await call_with_timeout(lambda: asyncio.sleep(10), 0.01, source="crm")
    assert info.value.retryable
    assert info.value.details["reason"] == "timeout"


async def test_bulkhead_bounds_concurrency() -> None:
    bulkhead = Bulkhead("crm", max_concurrent=2, queue_timeout=None)
    peak = 0
    release = asyncio.Event()

    async def work() -> None:
        nonlocal peak
        peak = max(peak, bulkhead.in_flight)
        await release.wait()

    tasks = [asyncio.create_task(bulkhead.call(work)) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert bulkhead.in_flight == 2
    assert bulkhead.waiting == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 2
    assert bulkhead.in_flight == 0


async def test_bulkhead_queue_timeout_is_source_unavailable() -> None:
    bulkhead = Bulkhead("crm", max_concurrent=1, queue_timeout=0.02)
    hold = asyncio.Event()
    first = asyncio.create_task(bulkhead.call(hold.wait))
    await asyncio.sleep(0)
    with pytest.raises(SourceUnavailable, match="in flight") as info:
        await bulkhead.call(hold.wait)
    assert info.value.details["reason"] == "bulkhead_full"
    assert bulkhead.rejected == 1
    hold.set()
    await first


def test_from_settings_maps_every_setting() -> None:
    settings = ResilienceSettings(
        timeout_seconds=2,
        max_attempts=4,
        backoff_initial_seconds=0.2,
        backoff_max_seconds=3,
        breaker_failure_threshold=7,
        breaker_window_seconds=20,
        breaker_reset_seconds=9,
        max_concurrency=5,
    )
    policy = ResiliencePolicy.from_settings(settings, name="crm")
    assert policy.timeout_seconds == 2
    assert (policy.retry.max_attempts, policy.retry.backoff_initial) == (4, 0.2)
    assert policy.retry.backoff_max == 3
    assert policy.breaker.failure_threshold == 7
    assert (policy.breaker.window_seconds, policy.breaker.reset_timeout) == (20, 9)
    assert policy.bulkhead.max_concurrent == 5
    assert policy.bulkhead.queue_timeout == 2
    assert policy.breaker_state is BreakerState.CLOSED


async def test_each_attempt_counts_and_an_open_breaker_stops_retries() -> None:
    settings = ResilienceSettings(max_attempts=5, breaker_failure_threshold=2)
    policy = ResiliencePolicy.from_settings(settings, name="crm", sleep=no_sleep)
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise SourceUnavailable("503")

    with pytest.raises(CircuitOpenError):
        await policy.run(down)
    # attempts 1 and 2 reached the source and tripped the breaker; attempt 3 failed fast
    assert calls == 2
    assert policy.breaker_state is BreakerState.OPEN


async def test_timeouts_are_retried_per_attempt() -> None:
    settings = ResilienceSettings(timeout_seconds=0.01, max_attempts=3)
    policy = ResiliencePolicy.from_settings(settings, name="crm", sleep=no_sleep)
    calls = 0

    async def slow_then_fast() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            await asyncio.sleep(1)
        return "ok"

    assert await policy.run(slow_then_fast) == "ok"
    assert calls == 3
    assert policy.breaker.failure_count == 2


async def test_run_without_retry_makes_one_attempt() -> None:
    policy = ResiliencePolicy.from_settings(ResilienceSettings(), sleep=no_sleep)
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise SourceUnavailable("503")

    with pytest.raises(SourceUnavailable):
        await policy.run(down, retry=False)
    assert calls == 1


async def test_probe_bypasses_an_open_breaker() -> None:
    policy = ResiliencePolicy.from_settings(
        ResilienceSettings(breaker_failure_threshold=1), sleep=no_sleep
    )

    async def down() -> None:
        raise SourceUnavailable("503")

    async def up() -> str:
        return "pong"

    with pytest.raises(SourceUnavailable):
        await policy.run(down)
    assert policy.breaker_state is BreakerState.OPEN
    assert await policy.probe(up) == "pong"
    assert policy.breaker_state is BreakerState.OPEN  # the probe observes, it does not vote
