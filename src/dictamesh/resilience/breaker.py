"""A small asyncio circuit breaker with an injectable clock (see ADR 0003).

States::

    CLOSED ──(failures in the sliding window reach the threshold)──▶ OPEN
    OPEN ──(reset_timeout elapsed, checked lazily on the next call)──▶ HALF_OPEN
    HALF_OPEN ──(half_open_max_calls probes succeed)──▶ CLOSED
    HALF_OPEN ──(a probe fails)──▶ OPEN

While OPEN (and for calls beyond the probe budget while HALF_OPEN) calls fail fast with
:class:`~dictamesh.core.errors.CircuitOpenError` without touching the source.

Only errors that say something about the source's health count as failures: every
:class:`~dictamesh.core.errors.SourceError` (timeouts, 5xx, 429, garbage answers). A
not-found or validation error means the source answered, so it counts as a success;
anything else (a bug, a cancellation) is neutral.

Example::

    breaker = CircuitBreaker("crm", failure_threshold=5, window_seconds=30, reset_timeout=15)
    entity = await breaker.call(lambda: fetch("c-1"))
    breaker.state  # BreakerState.CLOSED
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from dictamesh.core.errors import CircuitOpenError, DictaMeshError, SourceError

__all__ = ["BreakerState", "CircuitBreaker", "StateChangeCallback", "is_source_failure"]

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


#: ``callback(breaker_name, old_state, new_state)``; must not raise or block
StateChangeCallback = Callable[[str, BreakerState, BreakerState], None]


def is_source_failure(exc: BaseException) -> bool:
    """Whether ``exc`` counts against the breaker (see the module docstring)."""
    return isinstance(exc, SourceError) and not isinstance(exc, CircuitOpenError)


class CircuitBreaker:
    """Counts source failures in a sliding time window and stops calls while tripped."""

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        window_seconds: float = 30.0,
        reset_timeout: float = 15.0,
        half_open_max_calls: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_state_change: StateChangeCallback | None = None,
    ) -> None:
        if failure_threshold < 1 or half_open_max_calls < 1:
            raise ValueError("failure_threshold and half_open_max_calls must be >= 1")
        if window_seconds <= 0 or reset_timeout <= 0:
            raise ValueError("window_seconds and reset_timeout must be > 0")
        self.name = name
        self.failure_threshold = failure_threshold
        self.window_seconds = window_seconds
        self.reset_timeout = reset_timeout
        self.half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._on_state_change = on_state_change
        self._state = BreakerState.CLOSED
        self._failures: deque[float] = deque()
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        #: how many calls were refused while open (for metrics)
        self.rejected = 0

    # --- state --------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """Current state; an OPEN breaker whose reset timeout has passed reads HALF_OPEN."""
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.reset_timeout
        ):
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    @property
    def failure_count(self) -> int:
        """Failures inside the current window."""
        self._expire(self._clock())
        return len(self._failures)

    @property
    def retry_in(self) -> float:
        """Seconds until an OPEN breaker lets a probe through (0 when not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.reset_timeout - (self._clock() - self._opened_at))

    def reset(self) -> None:
        """Force CLOSED and forget past failures (operator action, tests)."""
        self._failures.clear()
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._transition(BreakerState.CLOSED)

    # --- calls --------------------------------------------------------------------------

    async def call(self, factory: Callable[[], Awaitable[T]]) -> T:
        """Run ``factory()`` unless the breaker refuses; record how it went."""
        probe = self._admit()
        try:
            result = await factory()
        except BaseException as exc:
            self._record(exc, probe)
            raise
        self._record(None, probe)
        return result

    def _admit(self) -> bool:
        """Allow a call (returns whether it is a half-open probe) or raise CircuitOpenError."""
        state = self.state
        if state is BreakerState.CLOSED:
            return False
        if state is BreakerState.HALF_OPEN and self._probes_in_flight < self.half_open_max_calls:
            self._probes_in_flight += 1
            return True
        self.rejected += 1
        raise CircuitOpenError(
            f"circuit {self.name!r} is open; failing fast",
            circuit=self.name,
            retry_in_seconds=round(self.retry_in, 3),
        )

    def _record(self, exc: BaseException | None, probe: bool) -> None:
        if probe:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)
        if exc is not None and is_source_failure(exc):
            self._on_failure(probe)
        elif exc is None or isinstance(exc, DictaMeshError):
            # the source answered (possibly "not found"): that is a healthy source
            self._on_success(probe)
        # anything else (cancellation, a bug in our code) says nothing about the source

    def _on_failure(self, probe: bool) -> None:
        now = self._clock()
        if probe:
            self._trip(now)
            return
        if self._state is not BreakerState.CLOSED:
            return  # a call admitted before the trip finished late: already accounted for
        self._failures.append(now)
        self._expire(now)
        if len(self._failures) >= self.failure_threshold:
            self._trip(now)

    def _on_success(self, probe: bool) -> None:
        if not probe or self._state is not BreakerState.HALF_OPEN:
            return
        self._probe_successes += 1
        if self._probe_successes >= self.half_open_max_calls:
            self._failures.clear()
            self._transition(BreakerState.CLOSED)

    def _trip(self, now: float) -> None:
        self._opened_at = now
        self._failures.clear()
        self._transition(BreakerState.OPEN)

    def _expire(self, now: float) -> None:
        horizon = now - self.window_seconds
        while self._failures and self._failures[0] <= horizon:
            self._failures.popleft()

    def _transition(self, new: BreakerState) -> None:
        old = self._state
        if old is new:
            return
        self._state = new
        self._probe_successes = 0
        if new is not BreakerState.HALF_OPEN:
            self._probes_in_flight = 0
        if self._on_state_change is not None:
            self._on_state_change(self.name, old, new)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state.value})"
