"""CircuitBreaker: the state machine, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from dictamesh.core.errors import (
    CircuitOpenError,
    EntityNotFound,
    SourceResponseError,
    SourceUnavailable,
    ValidationError,
)
from dictamesh.resilience import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    def __init__(self) -> None:
        self.calls = 0
        self.error: BaseException | None = None

    async def __call__(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return "ok"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def breaker(clock: Clock, changes: list[tuple[str, str]]) -> CircuitBreaker:
    return CircuitBreaker(
        "crm",
        failure_threshold=3,
        window_seconds=10,
        reset_timeout=5,
        clock=clock,
        on_state_change=lambda name, old, new: changes.append((old.value, new.value)),
    )


async def fail(breaker: CircuitBreaker, source: Source, error: BaseException) -> None:
    source.error = error
    with pytest.raises(type(error)):
        await breaker.call(source)


async def test_opens_at_threshold_then_fails_fast_without_calling(
    breaker: CircuitBreaker, changes: list[tuple[str, str]]
) -> None:
    source = Source()
    for _ in range(2):
        await fail(breaker, source, SourceUnavailable("down"))
    assert breaker.state is BreakerState.CLOSED
    await fail(breaker, source, SourceUnavailable("down"))
    assert breaker.state is BreakerState.OPEN
    assert changes == [("closed", "open")]

    source.error = None
    with pytest.raises(CircuitOpenError) as info:
        await breaker.call(source)
    assert source.calls == 3  # the open breaker never reached the source
    assert info.value.details["circuit"] == "crm"
    assert breaker.rejected == 1


async def test_failures_outside_the_window_do_not_count(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    source = Source()
    await fail(breaker, source, SourceUnavailable("down"))
    await fail(breaker, source, SourceUnavailable("down"))
    clock.now += 10.5  # both slide out of the 10 s window
    await fail(breaker, source, SourceUnavailable("down"))
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failure_count == 1


async def test_garbage_counts_but_not_found_and_validation_do_not(
    breaker: CircuitBreaker,
) -> None:
    source = Source()
    for _ in range(5):
        await fail(breaker, source, EntityNotFound("customer", "c-1"))
        await fail(breaker, source, ValidationError("bad id"))
        await fail(breaker, source, KeyError("bug"))
    assert breaker.state is BreakerState.CLOSED
    for _ in range(3):
        await fail(breaker, source, SourceResponseError("garbage"))
    assert breaker.state is BreakerState.OPEN


async def test_half_open_probe_closes_on_success(
    breaker: CircuitBreaker, clock: Clock, changes: list[tuple[str, str]]
) -> None:
    source = Source()
    for _ in range(3):
        await fail(breaker, source, SourceUnavailable("down"))
    assert breaker.retry_in == pytest.approx(5)
    clock.now += 5
    assert breaker.state is BreakerState.HALF_OPEN
    source.error = None
    assert await breaker.call(source) == "ok"
    assert breaker.state is BreakerState.CLOSED
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert breaker.failure_count == 0


async def test_half_open_probe_failure_reopens(breaker: CircuitBreaker, clock: Clock) -> None:
    source = Source()
    for _ in range(3):
        await fail(breaker, source, SourceUnavailable("down"))
    clock.now += 5
    await fail(breaker, source, SourceUnavailable("still down"))
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.9
    assert breaker.state is BreakerState.OPEN  # the reset timeout restarted


async def test_half_open_admits_only_max_calls_concurrently(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    source = Source()
    for _ in range(3):
        await fail(breaker, source, SourceUnavailable("down"))
    clock.now += 5
    inner: list[BaseException] = []

    async def probe() -> str:
        # while the probe is in flight, a second call is refused
        try:
            await breaker.call(source)
        except CircuitOpenError as exc:
            inner.append(exc)
        return "probe ok"

    assert await breaker.call(probe) == "probe ok"
    assert len(inner) == 1
    assert breaker.state is BreakerState.CLOSED


async def test_reset_forces_closed(breaker: CircuitBreaker) -> None:
    source = Source()
    for _ in range(3):
        await fail(breaker, source, SourceUnavailable("down"))
    breaker.reset()
    assert breaker.state is BreakerState.CLOSED
    source.error = None
    assert await breaker.call(source) == "ok"


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("x", failure_threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker("x", reset_timeout=0)
