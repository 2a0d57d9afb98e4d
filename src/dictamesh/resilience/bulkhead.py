"""Bulkhead: at most ``max_concurrent`` calls to one source at a time; the rest queue.

A call that cannot get a slot within ``queue_timeout`` seconds fails with
:class:`~dictamesh.core.errors.SourceUnavailable` instead of piling up behind a slow
source, so one sick source cannot absorb every worker of the node.

Example::

    bulkhead = Bulkhead("crm", max_concurrent=32, queue_timeout=5.0)
    data = await bulkhead.call(lambda: fetch("c-1"))
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dictamesh.core.errors import SourceUnavailable

__all__ = ["Bulkhead"]

T = TypeVar("T")


class Bulkhead:
    def __init__(self, name: str, max_concurrent: int, queue_timeout: float | None = None) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self.name = name
        self.max_concurrent = max_concurrent
        #: seconds a call may wait for a slot; ``None`` waits forever
        self.queue_timeout = queue_timeout
        self._semaphore = asyncio.Semaphore(max_concurrent)
        self._in_flight = 0
        self._waiting = 0
        #: calls refused because no slot freed up in time (for metrics)
        self.rejected = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return self._waiting

    async def call(self, factory: Callable[[], Awaitable[T]]) -> T:
        self._waiting += 1
        try:
            async with asyncio.timeout(self.queue_timeout):
                await self._semaphore.acquire()
        except TimeoutError:
            self.rejected += 1
            raise SourceUnavailable(
                f"{self.name}: {self.max_concurrent} calls already in flight;"
                f" no slot within {self.queue_timeout}s",
                source=self.name,
                reason="bulkhead_full",
            ) from None
        finally:
            self._waiting -= 1
        self._in_flight += 1
        try:
            return await factory()
        finally:
            self._in_flight -= 1
            self._semaphore.release()
