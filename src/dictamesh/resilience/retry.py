"""Retry with exponential backoff and jitter, on retryable source errors only (tenacity).

Only errors whose ``retryable`` flag is set are retried: :class:`SourceUnavailable` (5xx,
connection errors, timeouts) and :class:`SourceRateLimited` (429). A garbage answer
(:class:`SourceResponseError`), a refusal (4xx), a not-found, and an open circuit
(:class:`CircuitOpenError`) are raised at once: asking again would not help.

Backoff before attempt ``n + 1`` ("equal jitter")::

    base = min(backoff_max, backoff_initial * 2 ** (n - 1))
    wait = base / 2 + uniform(0, base / 2)

``Retry-After``: a :class:`SourceRateLimited` with ``retry_after`` waits
``max(backoff, retry_after)``. **The cap:** when ``retry_after`` is larger than
``retry_after_max`` (default: ``backoff_max``) the call is *not* retried and the 429 error
propagates at once (its ``retry_after`` detail lets the API pass the hint on). Waiting less
would only earn another 429; waiting longer would hold the caller beyond the configured
budget.

**Deadline:** :meth:`RetryPolicy.call` takes an optional ``deadline`` (a ``clock()`` time);
a retry whose wait would end after it is not made, and the last error propagates.

Example::

    retry = RetryPolicy(max_attempts=3, backoff_initial=0.1, backoff_max=5.0,
                        retry_after_max=30.0)
    data = await retry.call(lambda: fetch("c-1"))
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
)
from tenacity.stop import stop_base

from dictamesh.core.errors import DictaMeshError, SourceRateLimited

__all__ = ["RetryCallback", "RetryPolicy", "is_retryable"]

T = TypeVar("T")

#: ``callback(attempt_number_that_failed, error, seconds_to_wait)``; must not raise
RetryCallback = Callable[[int, BaseException, float], None]


def is_retryable(exc: BaseException) -> bool:
    """Whether asking the source again may help."""
    return isinstance(exc, DictaMeshError) and bool(getattr(exc, "retryable", False))


class _Deadline(stop_base):
    """Stop when the next wait would end at or after ``deadline`` (a ``clock()`` time)."""

    def __init__(self, deadline: float | None, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self.deadline is None:
            return False
        return self.clock() + (retry_state.upcoming_sleep or 0.0) >= self.deadline


class RetryPolicy:
    """Retries retryable errors up to ``max_attempts`` attempts in total."""

    def __init__(
        self,
        max_attempts: int = 3,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        *,
        retry_after_max: float | None = None,
        jitter: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_retry: RetryCallback | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if backoff_initial < 0 or backoff_max < 0:
            raise ValueError("backoff times must be >= 0")
        if retry_after_max is not None and retry_after_max < 0:
            raise ValueError("retry_after_max must be >= 0")
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        #: longest ``Retry-After`` honoured by waiting; a longer one is not retried
        self.retry_after_max = backoff_max if retry_after_max is None else retry_after_max
        self.jitter = jitter
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._listeners: list[RetryCallback] = [on_retry] if on_retry is not None else []

    def add_retry_listener(self, listener: RetryCallback) -> None:
        """Also call ``listener(attempt, error, wait)`` before each retry's wait."""
        self._listeners.append(listener)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), before jitter."""
        return float(min(self.backoff_max, self.backoff_initial * 2.0 ** max(0, attempt - 1)))

    def should_retry(self, exc: BaseException) -> bool:
        if not is_retryable(exc):
            return False
        if isinstance(exc, SourceRateLimited) and exc.retry_after is not None:
            return exc.retry_after <= self.retry_after_max  # "the cap" (module docstring)
        return True

    def _wait_after(self, attempt: int, exc: BaseException | None) -> float:
        base = self.backoff(attempt)
        wait = base / 2 + self._rng.uniform(0, base / 2) if self.jitter else base
        if isinstance(exc, SourceRateLimited) and exc.retry_after is not None:
            wait = max(wait, exc.retry_after)
        return wait

    def _notify(self, attempt: int, exc: BaseException, wait: float) -> None:
        for listener in self._listeners:
            listener(attempt, exc, wait)

    async def call(
        self, factory: Callable[[], Awaitable[T]], *, deadline: float | None = None
    ) -> T:
        """Run ``factory()`` (a fresh coroutine per attempt) until success or give-up.

        ``deadline``: a ``clock()`` time; no retry is made whose wait would end after it.

        The first attempt runs directly; tenacity takes over only once it failed with an
        error worth retrying (same order as tenacity's: retry? → wait → stop? → listeners
        → sleep), so a call that succeeds at once costs no retry machinery.
        """
        try:
            return await factory()
        except BaseException as exc:
            if not self.should_retry(exc):
                raise
            wait = self._wait_after(1, exc)
            if self.max_attempts <= 1 or (
                deadline is not None and self._clock() + wait >= deadline
            ):
                raise
            self._notify(1, exc, wait)
        await self._sleep(wait)
        return await self._retry(factory, deadline)

    async def _retry(self, factory: Callable[[], Awaitable[T]], deadline: float | None) -> T:
        """Attempts 2..max_attempts, by tenacity (its attempt 1 is our attempt 2)."""

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            return self._wait_after(state.attempt_number + 1, exc)

        def before_sleep(state: RetryCallState) -> None:
            if not self._listeners or state.outcome is None:
                return
            exc = state.outcome.exception()
            upcoming = state.next_action.sleep if state.next_action is not None else 0.0
            if exc is not None:
                self._notify(state.attempt_number + 1, exc, upcoming)

        retrying = AsyncRetrying(
            stop=stop_any(
                stop_after_attempt(self.max_attempts - 1), _Deadline(deadline, self._clock)
            ),
            wait=wait,
            retry=retry_if_exception(self.should_retry),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

        # tenacity awaits only functions it recognises as coroutine functions; a lambda
        # returning a coroutine would be handed back un-awaited, so wrap it
        async def attempt() -> T:
            return await factory()

        return await retrying(attempt)
