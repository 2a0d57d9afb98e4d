"""Wall-clock bounds that check the code, not the machine: :class:`LoopStalls`; and
:func:`eventually`, waiting for an asynchronous effect under a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["LoopStalls", "eventually"]


class LoopStalls:
    """How long the event loop could not run anything here, summed over a block.

    A 10 ms sleeper measures how late it is woken: on a busy machine (or while this
    process's own CPU work runs) every timer here, deadlines included, fires that much
    late. Wall-clock bounds add this, so they check the code and not the machine.
    """

    def __init__(self, tick: float = 0.01) -> None:
        self.tick = tick
        self.total = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopStalls:
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asleep = loop.time()
            await asyncio.sleep(self.tick)
            self.total += max(0.0, loop.time() - asleep - self.tick)


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 15.0, poll: float = 0.05
) -> Any:
    """``check()``'s result once it stops raising AssertionError; its last AssertionError
    after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(poll)
