"""Bulkhead: at most ``max_concurrent`` calls to one source at a time; the rest queue.

A call that cannot get a slot within ``queue_timeout`` seconds — or finds ``max_waiting``
callers already queued — fails with :class:`~dictamesh.core.errors.SourceUnavailable`
(``reason: bulkhead_full``) instead of piling up behind a slow source, so one sick source
cannot absorb every worker of the node.

Example::

    bulkhead = Bulkhead("crm", max_concurrent=32, queue_timeout=5.0)
    data = await bulkhead.call(lambda: fetch("c-1"))
    bulkhead.stats().peak_in_flight
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from dictamesh.core.errors import SourceUnavailable

__all__ = ["Bulkhead", "BulkheadStats"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BulkheadStats:
    name: str
    max_concurrent: int
    in_flight: int
    waiting: int
    #: most calls in flight at once since start
    peak_in_flight: int
    #: calls that got a slot
    admitted: int
    #: calls refused (no slot in time, or the queue was full)
    rejected: int


class Bulkhead:
    def __init__(
        self,
        name: str,
        max_concurrent: int,
        queue_timeout: float | None = None,
        *,
        max_waiting: int | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        if max_waiting is not None and max_waiting < 0:
            raise ValueError("max_waiting must be >= 0")
        self.name = name
        self.max_concurrent = max_concurrent
        #: seconds a call may wait for a slot; ``None`` waits forever
        self.queue_timeout = queue_timeout
        #: callers allowed to wait at once; ``None``: no limit (only the queue timeout)
        self.max_waiting = max_waiting
        self._semaphore = asyncio.Semaphore(max_concurrent)
        self._in_flight = 0
        self._waiting = 0
        self.peak_in_flight = 0
        self.admitted = 0
        #: calls refused because no slot freed up in time (for metrics)
        self.rejected = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return self._waiting

    def stats(self) -> BulkheadStats:
        return BulkheadStats(
            name=self.name,
            max_concurrent=self.max_concurrent,
            in_flight=self._in_flight,
            waiting=self._waiting,
            peak_in_flight=self.peak_in_flight,
            admitted=self.admitted,
            rejected=self.rejected,
        )

    async def call(
        self, factory: Callable[[], Awaitable[T]], *, queue_timeout: float | None = None
    ) -> T:
        """``factory()`` once a slot is free. ``queue_timeout`` overrides the configured
        wait for this call when it is shorter (a caller's deadline)."""
        wait = self.queue_timeout
        if queue_timeout is not None:
            wait = queue_timeout if wait is None else min(wait, queue_timeout)
        if (
            self.max_waiting is not None
            and self._semaphore.locked()
            and self._waiting >= self.max_waiting
        ):
            self.rejected += 1
            raise SourceUnavailable(
                f"{self.name}: {self.max_concurrent} calls in flight and"
                f" {self._waiting} waiting; not queueing more",
                source=self.name,
                reason="bulkhead_full",
            )
        self._waiting += 1
        try:
            async with asyncio.timeout(wait):
                await self._semaphore.acquire()
        except TimeoutError:
            self.rejected += 1
            raise SourceUnavailable(
                f"{self.name}: {self.max_concurrent} calls already in flight;"
                f" no slot within {wait}s",
                source=self.name,
                reason="bulkhead_full",
            ) from None
        finally:
            self._waiting -= 1
        self._in_flight += 1
        self.admitted += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            return await factory()
        finally:
            self._in_flight -= 1
            self._semaphore.release()
