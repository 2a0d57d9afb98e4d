"""One resilience policy per source: bulkhead → retry → circuit breaker → timeout.

Nesting, outermost first, and why:

1. **Bulkhead** — bounds concurrent *logical* calls to the source. Outermost so a call that
   finds no slot is refused before it touches the breaker (an overloaded node is not a
   failing source) and is not retried (retrying would only queue again).
2. **Retry** — outside the breaker, so *every attempt* passes the breaker: each failed
   attempt counts towards tripping it, and once it trips the next attempt fails fast with
   :class:`CircuitOpenError`, which is not retryable, so retries stop at once.
3. **Circuit breaker** — counts source failures, fails fast while open.
4. **Timeout** — innermost, per attempt (``asyncio.timeout``); an expired attempt becomes
   :class:`SourceUnavailable("timed out")`, which the breaker counts and retry retries.

An optional **deadline** (``deadline_seconds``) bounds the whole logical call: the bulkhead
wait, each attempt's timeout and each backoff are cut to what is left of it, so a caller
never waits longer than the deadline (plus scheduling noise) however the source behaves.

Every :class:`SourceError` leaving :meth:`ResiliencePolicy.run` carries ``adapter`` (the
policy's name) in its details, and ``retry_after_seconds`` when the breaker is open and
knows when it will let a probe through — what the API turns into ``retryAfterSeconds``
and ``Retry-After``. :meth:`ResiliencePolicy.stats` is a plain snapshot (attempts, retries,
timeouts, rejections, breaker and bulkhead) for metrics.

Example::

    policy = ResiliencePolicy.from_settings(config.resilience, name="crm")
    raw = await policy.run(lambda: client.get("/contacts/1"))
    policy.breaker.state          # BreakerState.CLOSED
    policy.stats().timeouts       # attempts that timed out
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from dictamesh.core.errors import SourceError, SourceUnavailable
from dictamesh.core.settings import ResilienceSettings
from dictamesh.resilience.breaker import (
    BreakerState,
    BreakerStats,
    CircuitBreaker,
    StateChangeCallback,
)
from dictamesh.resilience.bulkhead import Bulkhead, BulkheadStats
from dictamesh.resilience.retry import RetryCallback, RetryPolicy

__all__ = ["ResiliencePolicy", "ResilienceStats", "call_with_timeout"]

T = TypeVar("T")


async def call_with_timeout(
    factory: Callable[[], Awaitable[T]], seconds: float | None, *, source: str = "source"
) -> T:
    """``await factory()``, or :class:`SourceUnavailable` after ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            return await factory()
    except TimeoutError:
        raise SourceUnavailable(
            f"{source} timed out after {seconds:.3g}s" if seconds is not None else "timed out",
            source=source,
            reason="timeout",
        ) from None


@dataclass(frozen=True, slots=True)
class ResilienceStats:
    """What the policy has done since it was made (counters) and its parts' state."""

    name: str
    #: logical calls (``run``), attempts that reached the breaker, and retries made
    calls: int
    attempts: int
    retries: int
    #: attempts that hit their timeout
    timeouts: int
    #: logical calls that ran out of ``deadline_seconds``
    deadline_exceeded: int
    #: calls refused by the open breaker / the full bulkhead
    circuit_rejected: int
    bulkhead_rejected: int
    breaker: BreakerStats
    bulkhead: BulkheadStats


class ResiliencePolicy:
    """Bulkhead, retry, breaker and timeout for the calls to one source."""

    def __init__(
        self,
        *,
        name: str,
        timeout_seconds: float | None,
        retry: RetryPolicy,
        breaker: CircuitBreaker,
        bulkhead: Bulkhead,
        deadline_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.timeout_seconds = timeout_seconds
        self.deadline_seconds = deadline_seconds
        self.retry = retry
        self.breaker = breaker
        self.bulkhead = bulkhead
        self._clock = clock
        self.calls = 0
        self.attempts = 0
        self.timeouts = 0
        self.deadline_exceeded = 0
        self._retries = 0
        retry.add_retry_listener(self._count_retry)

    @classmethod
    def from_settings(
        cls,
        settings: ResilienceSettings,
        *,
        name: str = "source",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        on_retry: RetryCallback | None = None,
        on_state_change: StateChangeCallback | None = None,
        half_open_max_calls: int | None = None,
        queue_timeout: float | None = None,
    ) -> ResiliencePolicy:
        """The policy ``settings`` describe.

        The bulkhead's queue wait defaults to ``settings.timeout_seconds``: a call should
        not wait longer for a slot than it may wait for the source itself.
        ``half_open_max_calls``/``queue_timeout`` override the settings (tests).
        """
        if queue_timeout is None:
            queue_timeout = settings.bulkhead_queue_timeout_seconds
        return cls(
            name=name,
            timeout_seconds=settings.timeout_seconds,
            deadline_seconds=settings.deadline_seconds,
            clock=clock,
            retry=RetryPolicy(
                max_attempts=settings.max_attempts,
                backoff_initial=settings.backoff_initial_seconds,
                backoff_max=settings.backoff_max_seconds,
                retry_after_max=settings.retry_after_max_seconds,
                sleep=sleep,
                clock=clock,
                rng=rng,
                on_retry=on_retry,
            ),
            breaker=CircuitBreaker(
                name,
                failure_threshold=settings.breaker_failure_threshold,
                window_seconds=settings.breaker_window_seconds,
                reset_timeout=settings.breaker_reset_seconds,
                half_open_max_calls=(
                    settings.breaker_half_open_probes
                    if half_open_max_calls is None
                    else half_open_max_calls
                ),
                failure_rate_threshold=settings.breaker_failure_rate,
                minimum_calls=settings.breaker_minimum_calls,
                clock=clock,
                on_state_change=on_state_change,
            ),
            bulkhead=Bulkhead(
                name,
                settings.max_concurrency,
                queue_timeout=settings.timeout_seconds if queue_timeout is None else queue_timeout,
                max_waiting=settings.bulkhead_max_waiting,
            ),
        )

    @property
    def breaker_state(self) -> BreakerState:
        return self.breaker.state

    @property
    def retries(self) -> int:
        """Retries made (attempts after the first)."""
        return self._retries

    def _count_retry(self, attempt: int, exc: BaseException, wait: float) -> None:
        self._retries += 1

    def stats(self) -> ResilienceStats:
        return ResilienceStats(
            name=self.name,
            calls=self.calls,
            attempts=self.attempts,
            retries=self._retries,
            timeouts=self.timeouts,
            deadline_exceeded=self.deadline_exceeded,
            circuit_rejected=self.breaker.rejected,
            bulkhead_rejected=self.bulkhead.rejected,
            breaker=self.breaker.stats(),
            bulkhead=self.bulkhead.stats(),
        )

    async def run(self, factory: Callable[[], Awaitable[T]], *, retry: bool = True) -> T:
        """``factory()`` through bulkhead → retry → breaker → timeout (module docstring).

        ``factory`` is called once per attempt and must return a fresh awaitable.
        """
        self.calls += 1
        deadline = None if self.deadline_seconds is None else self._clock() + self.deadline_seconds

        async def attempt() -> T:
            timeout = self.timeout_seconds
            if deadline is not None:
                left = deadline - self._clock()
                if left <= 0:
                    self.deadline_exceeded += 1
                    raise SourceUnavailable(
                        f"{self.name}: no time left of the {self.deadline_seconds:g}s deadline",
                        source=self.name,
                        reason="deadline",
                    )
                timeout = left if timeout is None else min(timeout, left)
            return await self.breaker.call(lambda: self._attempt(factory, timeout))

        async def attempts() -> T:
            return await (self.retry.call(attempt, deadline=deadline) if retry else attempt())

        queue_wait = None if deadline is None else max(0.0, deadline - self._clock())
        try:
            return await self.bulkhead.call(attempts, queue_timeout=queue_wait)
        except SourceError as exc:
            self._annotate(exc)
            raise

    async def _attempt(self, factory: Callable[[], Awaitable[T]], timeout: float | None) -> T:
        self.attempts += 1
        try:
            return await call_with_timeout(factory, timeout, source=self.name)
        except SourceUnavailable as exc:
            if exc.details.get("reason") == "timeout":
                self.timeouts += 1
            raise

    def _annotate(self, exc: SourceError) -> None:
        """Name the source, and say when to come back if the breaker knows."""
        exc.details.setdefault("adapter", self.name)
        if "retry_after_seconds" not in exc.details and self.breaker.state is BreakerState.OPEN:
            exc.details["retry_after_seconds"] = round(self.breaker.retry_in, 3)

    async def probe(self, factory: Callable[[], Awaitable[T]]) -> T:
        """A health probe: the timeout only — no bulkhead queue, no retry, and the breaker
        neither blocks it nor learns from it (a probe observes, it does not vote)."""
        return await call_with_timeout(factory, self.timeout_seconds, source=self.name)
