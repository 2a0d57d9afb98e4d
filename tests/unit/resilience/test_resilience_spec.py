"""The resilience spec beyond the basics: failure-rate rule with a minimum of calls, N
half-open probes, transitions (listeners, stats, structured log), deadline, Retry-After cap,
bulkhead queue limit, error annotation, counters, settings mapping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import pytest

from dictamesh.core.errors import (
    CircuitOpenError,
    EntityNotFound,
    SourceRateLimited,
    SourceUnavailable,
)
from dictamesh.core.settings import AdapterConfig, ResilienceSettings
from dictamesh.resilience import (
    BreakerState,
    BreakerTransition,
    Bulkhead,
    CircuitBreaker,
    ResiliencePolicy,
    RetryPolicy,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def ok() -> str:
    return "ok"


async def down() -> str:
    raise SourceUnavailable("503")


async def call(breaker: CircuitBreaker, fn: Callable[[], Awaitable[str]]) -> None:
    with contextlib.suppress(SourceUnavailable):
        await breaker.call(fn)


# --- breaker: the rate rule -------------------------------------------------------------


def rate_breaker(clock: Clock, **kw: object) -> CircuitBreaker:
    opts: dict[str, object] = {
        "failure_threshold": 100,
        "window_seconds": 10,
        "reset_timeout": 5,
        "failure_rate_threshold": 0.5,
        "minimum_calls": 10,
        **kw,
    }
    return CircuitBreaker("crm", clock=clock, **opts)  # type: ignore[arg-type]


async def test_rate_rule_waits_for_the_minimum_number_of_calls() -> None:
    clock = Clock()
    breaker = rate_breaker(clock)
    for _ in range(5):  # 5 of 5 failed: 100 %, but only 5 calls
        await call(breaker, down)
    assert breaker.state is BreakerState.CLOSED
    for _ in range(4):
        await call(breaker, ok)
    assert breaker.state is BreakerState.CLOSED  # 5 / 9
    await call(breaker, down)  # 6 / 10 = 60 % ≥ 50 % with 10 calls
    assert breaker.state is BreakerState.OPEN
    assert breaker.stats().transitions == {"closed->open": 1}


async def test_rate_rule_below_threshold_stays_closed() -> None:
    clock = Clock()
    breaker = rate_breaker(clock)
    for _ in range(30):
        await call(breaker, ok)
        await call(breaker, ok)
        await call(breaker, down)  # 33 %
    assert breaker.state is BreakerState.CLOSED
    calls, failures = breaker.window_counts()
    assert (calls, failures) == (90, 30)
    assert breaker.stats().failure_rate == pytest.approx(1 / 3, abs=1e-3)


async def test_rate_window_slides() -> None:
    clock = Clock()
    breaker = rate_breaker(clock)
    for _ in range(9):
        await call(breaker, down)
    clock.now += 12  # all of it left the 10 s window
    assert breaker.window_counts() == (0, 0)
    for _ in range(9):
        await call(breaker, ok)
    await call(breaker, down)  # 1 / 10
    assert breaker.state is BreakerState.CLOSED


async def test_not_found_counts_as_a_healthy_call_for_the_rate() -> None:
    clock = Clock()
    breaker = rate_breaker(clock)

    async def missing() -> str:
        raise EntityNotFound("customer", "x")

    for _ in range(6):
        with pytest.raises(EntityNotFound):
            await breaker.call(missing)
    for _ in range(4):
        await call(breaker, down)
    assert breaker.window_counts() == (10, 4)
    assert breaker.state is BreakerState.CLOSED


def test_rate_threshold_is_validated() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("x", failure_rate_threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker("x", failure_rate_threshold=1.5)
    with pytest.raises(ValueError):
        CircuitBreaker("x", minimum_calls=0)


# --- breaker: probes, transitions, stats -------------------------------------------------


async def test_n_half_open_probes_must_all_succeed() -> None:
    clock = Clock()
    seen: list[BreakerTransition] = []
    breaker = CircuitBreaker(
        "crm", failure_threshold=1, reset_timeout=5, half_open_max_calls=3, clock=clock
    )
    breaker.add_listener(seen.append)
    await call(breaker, down)
    clock.now += 5
    for _ in range(2):
        assert await breaker.call(ok) == "ok"
        assert breaker.state is BreakerState.HALF_OPEN
    assert await breaker.call(ok) == "ok"
    assert breaker.state is BreakerState.CLOSED
    assert [(t.old.value, t.new.value, t.reason) for t in seen] == [
        ("closed", "open", "failure_threshold"),
        ("open", "half_open", "reset_timeout"),
        ("half_open", "closed", "probes_succeeded"),
    ]
    assert seen[0].retry_in_seconds == 5
    assert seen[0].failures == 1


async def test_a_failed_probe_reopens_after_earlier_successes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(
        "crm", failure_threshold=1, reset_timeout=5, half_open_max_calls=2, clock=clock
    )
    await call(breaker, down)
    clock.now += 5
    await breaker.call(ok)
    await call(breaker, down)
    assert breaker.state is BreakerState.OPEN
    stats = breaker.stats()
    assert stats.opened == 2
    assert stats.transitions == {"closed->open": 1, "open->half_open": 1, "half_open->open": 1}
    assert stats.retry_in_seconds == pytest.approx(5)


async def test_stats_snapshot_and_rejections() -> None:
    clock = Clock()
    breaker = CircuitBreaker("crm", failure_threshold=2, reset_timeout=5, clock=clock)
    await call(breaker, down)
    assert breaker.stats().failures_in_window == 1
    await call(breaker, down)
    with pytest.raises(CircuitOpenError) as info:
        await breaker.call(ok)
    assert info.value.details["retry_after_seconds"] == pytest.approx(5)
    clock.now += 2
    stats = breaker.stats()
    assert stats.state is BreakerState.OPEN
    assert stats.rejected == 1
    assert stats.retry_in_seconds == pytest.approx(3)
    assert stats.last_transition_at is not None


async def test_listener_errors_do_not_break_calls(caplog: pytest.LogCaptureFixture) -> None:
    breaker = CircuitBreaker("crm", failure_threshold=1)

    def broken(_: BreakerTransition) -> None:
        raise RuntimeError("listener bug")

    remove = breaker.add_listener(broken)
    with caplog.at_level(logging.INFO, logger="dictamesh.resilience"):
        await call(breaker, down)
    assert breaker.state is BreakerState.OPEN
    assert any("listener failed" in r.getMessage() for r in caplog.records)
    [record] = [r for r in caplog.records if getattr(r, "dictamesh_event", None)]
    assert record.levelno == logging.WARNING
    assert (record.new_state, record.reason) == ("open", "failure_threshold")  # type: ignore[attr-defined]
    remove()
    breaker.reset()
    assert breaker.stats().transitions["open->closed"] == 1


# --- retry ------------------------------------------------------------------------------


async def no_sleep(_: float) -> None:
    return None


async def test_retry_after_within_its_own_cap_is_waited_for() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    retry = RetryPolicy(
        max_attempts=2, backoff_initial=0.01, backoff_max=0.1, retry_after_max=30, sleep=sleep
    )
    attempts = 0

    async def limited() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise SourceRateLimited("429", retry_after=20)
        return "ok"

    assert await retry.call(limited) == "ok"
    assert waits == [20]

    async def too_long() -> str:
        raise SourceRateLimited("429", retry_after=31)

    with pytest.raises(SourceRateLimited):
        await retry.call(too_long)
    assert waits == [20]  # beyond the cap: not retried at all


async def test_retry_stops_before_a_wait_past_the_deadline() -> None:
    clock = Clock()
    retry = RetryPolicy(
        max_attempts=5, backoff_initial=1, backoff_max=1, jitter=False, sleep=no_sleep, clock=clock
    )
    attempts = 0

    async def failing() -> str:
        nonlocal attempts
        attempts += 1
        raise SourceUnavailable("503")

    with pytest.raises(SourceUnavailable):
        await retry.call(failing, deadline=clock.now + 0.5)
    assert attempts == 1


# --- policy ------------------------------------------------------------------------------


async def test_deadline_bounds_a_hanging_source_in_wall_clock_time() -> None:
    policy = ResiliencePolicy.from_settings(
        ResilienceSettings(
            timeout_seconds=0.2,
            deadline_seconds=0.3,
            max_attempts=5,
            backoff_initial_seconds=0.01,
            backoff_max_seconds=0.01,
            breaker_failure_threshold=100,
        ),
        name="crm",
    )

    async def hang() -> str:
        await asyncio.sleep(10)
        return "never"

    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as info:
        await policy.run(hang)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 0.45
    assert info.value.details["adapter"] == "crm"
    stats = policy.stats()
    assert stats.timeouts == 2  # 0.2 s, then the 0.1 s left
    assert stats.attempts == 2
    assert stats.retries == 1


async def test_errors_name_the_adapter_and_when_an_open_breaker_retries() -> None:
    clock = Clock()
    policy = ResiliencePolicy.from_settings(
        ResilienceSettings(max_attempts=1, breaker_failure_threshold=1, breaker_reset_seconds=9),
        name="crm",
        clock=clock,
        sleep=no_sleep,
    )
    with pytest.raises(SourceUnavailable) as first:
        await policy.run(down)
    # this failure opened the breaker: the caller may come back in 9 s
    assert first.value.details["adapter"] == "crm"
    assert first.value.details["retry_after_seconds"] == pytest.approx(9)
    clock.now += 4
    with pytest.raises(CircuitOpenError) as second:
        await policy.run(ok)
    assert second.value.details["retry_after_seconds"] == pytest.approx(5)
    stats = policy.stats()
    assert (stats.calls, stats.attempts, stats.circuit_rejected) == (2, 1, 1)


async def test_bulkhead_refuses_beyond_max_waiting_and_tracks_peak() -> None:
    bulkhead = Bulkhead("crm", max_concurrent=2, queue_timeout=None, max_waiting=1)
    release = asyncio.Event()
    running = [asyncio.create_task(bulkhead.call(release.wait)) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert (bulkhead.in_flight, bulkhead.waiting) == (2, 1)
    with pytest.raises(SourceUnavailable) as info:
        await bulkhead.call(release.wait)
    assert info.value.details["reason"] == "bulkhead_full"
    release.set()
    await asyncio.gather(*running)
    stats = bulkhead.stats()
    assert (stats.peak_in_flight, stats.admitted, stats.rejected) == (2, 3, 1)


async def test_bulkhead_queue_wait_is_cut_to_the_callers_deadline() -> None:
    bulkhead = Bulkhead("crm", max_concurrent=1, queue_timeout=10)
    hold = asyncio.Event()
    first = asyncio.create_task(bulkhead.call(hold.wait))
    await asyncio.sleep(0)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable):
        await bulkhead.call(hold.wait, queue_timeout=0.05)
    assert time.monotonic() - started < 1
    hold.set()
    await first


def test_every_setting_reaches_the_policy() -> None:
    settings = ResilienceSettings(
        timeout_seconds=2,
        deadline_seconds=7,
        retry_after_max_seconds=20,
        breaker_failure_rate=0.3,
        breaker_minimum_calls=40,
        breaker_half_open_probes=3,
        bulkhead_queue_timeout_seconds=0.5,
        bulkhead_max_waiting=10,
    )
    policy = ResiliencePolicy.from_settings(settings, name="crm")
    assert policy.deadline_seconds == 7
    assert policy.retry.retry_after_max == 20
    assert policy.breaker.failure_rate_threshold == 0.3
    assert policy.breaker.minimum_calls == 40
    assert policy.breaker.half_open_max_calls == 3
    assert policy.bulkhead.queue_timeout == 0.5
    assert policy.bulkhead.max_waiting == 10
    # defaults: the rate rule is on, Retry-After is capped at the backoff cap
    default = ResiliencePolicy.from_settings(ResilienceSettings())
    assert default.breaker.failure_rate_threshold == 0.5
    assert default.retry.retry_after_max == default.retry.backoff_max
    assert default.bulkhead.queue_timeout == default.timeout_seconds


def test_adapter_config_reads_resilience_from_yaml_shaped_data() -> None:
    config = AdapterConfig.model_validate(
        {
            "name": "crm",
            "kind": "crm",
            "base_url": "http://crm",
            "resilience": {"breaker_failure_rate": None, "deadline_seconds": 3},
        }
    )
    assert config.resilience.breaker_failure_rate is None
    assert config.resilience.deadline_seconds == 3
    with pytest.raises(ValueError):
        ResilienceSettings(breaker_failure_rate=1.5)
