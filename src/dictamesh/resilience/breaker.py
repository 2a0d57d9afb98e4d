"""A small asyncio circuit breaker with an injectable clock (see ADR 0003).

States::

    CLOSED ──(failure count OR failure rate in the sliding window reaches its threshold)──▶ OPEN
    OPEN ──(reset_timeout elapsed, checked lazily on the next call or read)──▶ HALF_OPEN
    HALF_OPEN ──(half_open_max_calls probes succeed)──▶ CLOSED
    HALF_OPEN ──(a probe fails)──▶ OPEN

Two trip rules, both over the last ``window_seconds``:

* **count** — ``failure_threshold`` failures (exact timestamps);
* **rate** — ``failure_rate_threshold`` (0-1) of the calls failed, once at least
  ``minimum_calls`` calls were made in the window (so three calls at night, one failed,
  do not trip a 30 % rule). ``None`` switches the rate rule off. Calls are counted in ten
  buckets per window, so the rate covers the window give or take a tenth of it.

While OPEN (and for calls beyond the probe budget while HALF_OPEN) calls fail fast with
:class:`~dictamesh.core.errors.CircuitOpenError` without touching the source.

Only errors that say something about the source's health count as failures: a
:class:`~dictamesh.core.errors.SourceError` whose ``counts_against_source`` is set
(timeouts, 5xx, 429, garbage answers; not a 4xx refusal of one request). A not-found or
validation error means the source answered, so it counts as a success; a caller's input
refused before any request (:class:`~dictamesh.core.inputs.InvalidInput`), our own bug
(:class:`~dictamesh.core.errors.InternalError` or any other exception) or a cancellation
is neutral: one caller's bad input never opens the circuit for the others.

Every state change is a :class:`BreakerTransition` handed to the listeners
(:meth:`CircuitBreaker.add_listener`) and logged as a structured ``dictamesh.resilience``
record; :meth:`CircuitBreaker.stats` is a plain snapshot for metrics.

Example::

    breaker = CircuitBreaker("crm", failure_threshold=5, window_seconds=30, reset_timeout=15,
                             failure_rate_threshold=0.5, minimum_calls=20)
    breaker.add_listener(lambda t: print(t.old, "->", t.new, t.reason))
    entity = await breaker.call(lambda: fetch("c-1"))
    breaker.state          # BreakerState.CLOSED
    breaker.stats().opened # times it has opened
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from dictamesh.core.errors import CircuitOpenError, DictaMeshError, InternalError, SourceError
from dictamesh.core.inputs import InvalidInput

__all__ = [
    "BreakerListener",
    "BreakerState",
    "BreakerStats",
    "BreakerTransition",
    "CircuitBreaker",
    "StateChangeCallback",
    "is_source_failure",
]

T = TypeVar("T")

log = logging.getLogger("dictamesh.resilience")

_BUCKETS = 10
"""Buckets per window for the failure-rate rule."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


#: ``callback(breaker_name, old_state, new_state)``; must not raise or block
StateChangeCallback = Callable[[str, BreakerState, BreakerState], None]


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """One state change of a breaker, as listeners and the event relay see it."""

    breaker: str
    old: BreakerState
    new: BreakerState
    #: ``failure_threshold`` | ``failure_rate`` | ``reset_timeout`` | ``probe_failed`` |
    #: ``probes_succeeded`` | ``reset``
    reason: str
    #: wall-clock time of the change (epoch seconds)
    at: float
    #: failures / calls in the window when it tripped (0 for other changes)
    failures: int = 0
    calls: int = 0
    #: seconds until an OPEN breaker lets a probe through (0 unless ``new`` is OPEN)
    retry_in_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "breaker": self.breaker,
            "old_state": self.old.value,
            "new_state": self.new.value,
            "reason": self.reason,
            "at": self.at,
            "failures": self.failures,
            "calls": self.calls,
            "retry_in_seconds": round(self.retry_in_seconds, 3),
        }


#: ``listener(transition)``; must not block (an exception is logged and ignored)
BreakerListener = Callable[[BreakerTransition], None]


@dataclass(frozen=True, slots=True)
class BreakerStats:
    """A plain snapshot of a breaker (what ``/metrics`` and ``get_metrics()`` read)."""

    name: str
    state: BreakerState
    #: failures counted by the count rule (inside the window)
    failures_in_window: int
    #: calls and failures the rate rule sees (inside the window, bucketed)
    calls_in_window: int
    failure_rate: float | None
    #: seconds until an OPEN breaker lets a probe through (0 when not open)
    retry_in_seconds: float
    #: calls refused while open / beyond the half-open probe budget
    rejected: int
    #: times it went to OPEN (from CLOSED or HALF_OPEN)
    opened: int
    #: ``"closed->open"`` → how many times
    transitions: dict[str, int] = field(default_factory=dict)
    #: wall-clock time of the last state change, None if it never changed
    last_transition_at: float | None = None
    half_open_probes_in_flight: int = 0


def is_source_failure(exc: BaseException) -> bool:
    """Whether ``exc`` counts against the breaker (see the module docstring)."""
    return (
        isinstance(exc, SourceError)
        and exc.counts_against_source
        and not isinstance(exc, CircuitOpenError)
    )


def _says_nothing_about_the_source(exc: BaseException) -> bool:
    return not isinstance(exc, DictaMeshError) or isinstance(exc, InvalidInput | InternalError)


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
        failure_rate_threshold: float | None = None,
        minimum_calls: int = 20,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_state_change: StateChangeCallback | None = None,
    ) -> None:
        if failure_threshold < 1 or half_open_max_calls < 1 or minimum_calls < 1:
            raise ValueError(
                "failure_threshold, half_open_max_calls and minimum_calls must be >= 1"
            )
        if window_seconds <= 0 or reset_timeout <= 0:
            raise ValueError("window_seconds and reset_timeout must be > 0")
        if failure_rate_threshold is not None and not 0 < failure_rate_threshold <= 1:
            raise ValueError("failure_rate_threshold must be in (0, 1]")
        self.name = name
        self.failure_threshold = failure_threshold
        self.failure_rate_threshold = failure_rate_threshold
        self.minimum_calls = minimum_calls
        self.window_seconds = window_seconds
        self.reset_timeout = reset_timeout
        self.half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._wall_clock = wall_clock
        self._listeners: list[BreakerListener] = []
        if on_state_change is not None:
            callback = on_state_change
            self._listeners.append(lambda t: callback(t.breaker, t.old, t.new))
        self._state = BreakerState.CLOSED
        #: exact failure times for the count rule (bounded: tripping clears it)
        self._failures: deque[float] = deque()
        #: ``[bucket start, calls, failures]`` for the rate rule
        self._buckets: deque[list[float]] = deque()
        self._bucket_width = window_seconds / _BUCKETS
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._transitions: dict[str, int] = {}
        self._last_transition_at: float | None = None
        #: times it opened
        self.opened = 0
        #: how many calls were refused while open (for metrics)
        self.rejected = 0

    # --- listeners ----------------------------------------------------------------------

    def add_listener(self, listener: BreakerListener) -> Callable[[], None]:
        """Call ``listener(transition)`` on every state change; returns a remover."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # --- state --------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """Current state; an OPEN breaker whose reset timeout has passed reads HALF_OPEN."""
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.reset_timeout
        ):
            self._transition(BreakerState.HALF_OPEN, "reset_timeout")
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

    def window_counts(self) -> tuple[int, int]:
        """``(calls, failures)`` the rate rule sees in the current window."""
        self._expire(self._clock())
        calls = sum(int(b[1]) for b in self._buckets)
        failures = sum(int(b[2]) for b in self._buckets)
        return calls, failures

    def stats(self) -> BreakerStats:
        state = self.state
        calls, failures = self.window_counts()
        return BreakerStats(
            name=self.name,
            state=state,
            failures_in_window=len(self._failures),
            calls_in_window=calls,
            failure_rate=round(failures / calls, 4) if calls else None,
            retry_in_seconds=round(self.retry_in, 3),
            rejected=self.rejected,
            opened=self.opened,
            transitions=dict(self._transitions),
            last_transition_at=self._last_transition_at,
            half_open_probes_in_flight=self._probes_in_flight,
        )

    def reset(self) -> None:
        """Force CLOSED and forget past failures (operator action, tests)."""
        self._clear_window()
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._transition(BreakerState.CLOSED, "reset")

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
        retry_in = round(self.retry_in, 3)
        raise CircuitOpenError(
            f"circuit {self.name!r} is open; failing fast",
            circuit=self.name,
            retry_in_seconds=retry_in,
            # a half-open breaker busy with its probes: "soon", as far as a client can tell
            retry_after_seconds=retry_in,
        )

    def _record(self, exc: BaseException | None, probe: bool) -> None:
        if probe:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)
        if exc is not None and is_source_failure(exc):
            self._on_failure(probe)
        elif exc is None or not _says_nothing_about_the_source(exc):
            # the source answered (possibly "not found"): that is a healthy source
            self._on_success(probe)
        # anything else (cancellation, bad input, a bug in our code) is neutral

    def _on_failure(self, probe: bool) -> None:
        now = self._clock()
        if probe:
            if self._state is BreakerState.HALF_OPEN:
                self._trip(now, "probe_failed", 1, 1)
            return
        if self._state is not BreakerState.CLOSED:
            return  # a call admitted before the trip finished late: already accounted for
        self._failures.append(now)
        self._count(now, failed=True)
        self._expire(now)
        calls, failures = self.window_counts()
        if len(self._failures) >= self.failure_threshold:
            self._trip(now, "failure_threshold", len(self._failures), calls)
        elif (
            self.failure_rate_threshold is not None
            and calls >= self.minimum_calls
            and failures / calls >= self.failure_rate_threshold
        ):
            self._trip(now, "failure_rate", failures, calls)

    def _on_success(self, probe: bool) -> None:
        if not probe:
            if self._state is BreakerState.CLOSED:
                self._count(self._clock(), failed=False)
            return
        if self._state is not BreakerState.HALF_OPEN:
            return
        self._probe_successes += 1
        if self._probe_successes >= self.half_open_max_calls:
            self._clear_window()
            self._transition(BreakerState.CLOSED, "probes_succeeded")

    def _trip(self, now: float, reason: str, failures: int, calls: int) -> None:
        self._opened_at = now
        self._clear_window()
        self._transition(BreakerState.OPEN, reason, failures=failures, calls=calls)

    def _count(self, now: float, *, failed: bool) -> None:
        start = now - (now % self._bucket_width)
        if self._buckets and self._buckets[-1][0] == start:
            bucket = self._buckets[-1]
        else:
            bucket = [start, 0, 0]
            self._buckets.append(bucket)
        bucket[1] += 1
        if failed:
            bucket[2] += 1

    def _expire(self, now: float) -> None:
        horizon = now - self.window_seconds
        while self._failures and self._failures[0] <= horizon:
            self._failures.popleft()
        # a bucket goes once all of it is older than the window
        while self._buckets and self._buckets[0][0] + self._bucket_width <= horizon:
            self._buckets.popleft()

    def _clear_window(self) -> None:
        self._failures.clear()
        self._buckets.clear()

    def _transition(
        self, new: BreakerState, reason: str, *, failures: int = 0, calls: int = 0
    ) -> None:
        old = self._state
        if old is new:
            return
        self._state = new
        self._probe_successes = 0
        if new is not BreakerState.HALF_OPEN:
            self._probes_in_flight = 0
        if new is BreakerState.OPEN:
            self.opened += 1
        key = f"{old.value}->{new.value}"
        self._transitions[key] = self._transitions.get(key, 0) + 1
        transition = BreakerTransition(
            breaker=self.name,
            old=old,
            new=new,
            reason=reason,
            at=self._wall_clock(),
            failures=failures,
            calls=calls,
            retry_in_seconds=self.reset_timeout if new is BreakerState.OPEN else 0.0,
        )
        self._last_transition_at = transition.at
        log.log(
            logging.WARNING if new is BreakerState.OPEN else logging.INFO,
            "circuit breaker %s: %s -> %s (%s)",
            self.name,
            old.value,
            new.value,
            reason,
            extra={"dictamesh_event": "breaker_changed", **transition.to_dict()},
        )
        for listener in list(self._listeners):
            try:
                listener(transition)
            except Exception:  # a listener must never break the calls it watches
                log.exception("breaker %s: state change listener failed", self.name)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state.value})"
