"""Group commit: many writers' small changes in one transaction.

Each writer submits its item and waits; what is submitted while a commit runs goes into the
next one, so under load one transaction carries many items, and alone an item is committed at
once (no timer). The saga store (step log) and the notification worker (delivery results)
use it: per-item transactions were what bounded their throughput on SQLite.

Example::

    lane = GroupCommit(commit_all)          # async (items) -> [None | exception per item]
    await lane.submit(item)                 # returns when the transaction holding it is done
    await lane.aclose()                     # lets the commit in flight finish (bounded)
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["LANE_CLOSE_SECONDS", "GroupCommit"]

#: how long closing waits for a group commit in flight
LANE_CLOSE_SECONDS = 10.0


class GroupCommit:
    """Group commit: what is submitted while a commit runs goes into the next one, and
    each submitter returns when the commit holding its item is done (``commit`` gives one
    outcome per item: ``None`` or the exception that item's submitter gets)."""

    def __init__(
        self,
        commit: Callable[[list[Any]], Awaitable[list[BaseException | None]]],
        *,
        linger: float = 0.0,
    ) -> None:
        """``linger``: seconds an idle lane waits for more items before committing the
        first (fewer, larger transactions for a little latency)."""
        self._commit = commit
        self._linger = linger
        self._waiting: list[tuple[Any, asyncio.Future[None]]] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, item: Any) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._running is None or self._running.done():
            # a context of its own: not the first submitter's tenant, principal or span
            self._running = asyncio.create_task(self._drain(), context=contextvars.Context())
        await asyncio.shield(done)  # a cancelled submitter leaves the commit to finish

    async def aclose(self) -> None:
        """Wait for the commit in flight (its submitters may have been cancelled: the
        shield above keeps it going), so no transaction outlives the database; bounded,
        so an unreachable database cannot hold a shutdown."""
        if self._running is not None and not self._running.done():
            await asyncio.wait([self._running], timeout=LANE_CLOSE_SECONDS)

    async def _drain(self) -> None:
        if self._linger:
            await asyncio.sleep(self._linger)
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                outcomes = await self._commit([item for item, _ in batch])
            except BaseException as exc:  # the transaction failed: every item with it
                outcomes = [exc] * len(batch)
            for (_, done), outcome in zip(batch, outcomes, strict=True):
                if done.done():
                    continue
                if outcome is None:
                    done.set_result(None)
                else:
                    done.set_exception(outcome)
