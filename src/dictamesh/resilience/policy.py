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

Example::

    policy = ResiliencePolicy.from_settings(config.resilience, name="crm")
    raw = await policy.run(lambda: client.get("/contacts/1"))
    policy.breaker.state          # BreakerState.CLOSED
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dictamesh.core.errors import SourceUnavailable
from dictamesh.core.settings import ResilienceSettings
from dictamesh.resilience.breaker import BreakerState, CircuitBreaker, StateChangeCallback
from dictamesh.resilience.bulkhead import Bulkhead
from dictamesh.resilience.retry import RetryCallback, RetryPolicy

__all__ = ["ResiliencePolicy", "call_with_timeout"]

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
            f"{source} timed out after {seconds}s", source=source, reason="timeout"
        ) from None


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
    ) -> None:
        self.name = name
        self.timeout_seconds = timeout_seconds
        self.retry = retry
        self.breaker = breaker
        self.bulkhead = bulkhead

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
        half_open_max_calls: int = 1,
        queue_timeout: float | None = None,
    ) -> ResiliencePolicy:
        """The policy ``settings`` describe.

        The bulkhead's queue wait defaults to ``settings.timeout_seconds``: a call should
        not wait longer for a slot than it may wait for the source itself.
        """
        return cls(
            name=name,
            timeout_seconds=settings.timeout_seconds,
            retry=RetryPolicy(
                max_attempts=settings.max_attempts,
                backoff_initial=settings.backoff_initial_seconds,
                backoff_max=settings.backoff_max_seconds,
                sleep=sleep,
                rng=rng,
                on_retry=on_retry,
            ),
            breaker=CircuitBreaker(
                name,
                failure_threshold=settings.breaker_failure_threshold,
                window_seconds=settings.breaker_window_seconds,
                reset_timeout=settings.breaker_reset_seconds,
                half_open_max_calls=half_open_max_calls,
                clock=clock,
                on_state_change=on_state_change,
            ),
            bulkhead=Bulkhead(
                name,
                settings.max_concurrency,
                queue_timeout=settings.timeout_seconds if queue_timeout is None else queue_timeout,
            ),
        )

    @property
    def breaker_state(self) -> BreakerState:
        return self.breaker.state

    async def run(self, factory: Callable[[], Awaitable[T]], *, retry: bool = True) -> T:
        """``factory()`` through bulkhead → retry → breaker → timeout (module docstring).

        ``factory`` is called once per attempt and must return a fresh awaitable.
        """

        async def attempt() -> T:
            return await self.breaker.call(
                lambda: call_with_timeout(factory, self.timeout_seconds, source=self.name)
            )

        async def attempts() -> T:
            return await (self.retry.call(attempt) if retry else attempt())

        return await self.bulkhead.call(attempts)

    async def probe(self, factory: Callable[[], Awaitable[T]]) -> T:
        """A health probe: the timeout only — no bulkhead queue, no retry, and the breaker
        neither blocks it nor learns from it (a probe observes, it does not vote)."""
        return await call_with_timeout(factory, self.timeout_seconds, source=self.name)
