"""One way to make a resource an async context manager: the :class:`AsyncResource` mixin.

``async with resource:`` awaits ``connect()`` on entry and ``aclose()`` on exit. When
``connect()`` fails, ``aclose()`` runs before the error propagates, so a half-opened
resource (a producer started, its admin client not) leaks nothing; ``aclose()`` must
therefore be idempotent and safe on a resource that never fully opened.

Example::

    class Client(AsyncResource):
        async def connect(self) -> None: ...   # open sockets, join groups
        async def aclose(self) -> None: ...    # release them; idempotent

    async with Client() as client:
        ...
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self

__all__ = ["AsyncResource", "run_together"]


async def run_together(*coroutines: Coroutine[Any, Any, Any]) -> None:
    """Run background loops side by side until all end; when one fails, or the caller is
    cancelled, the others are cancelled and awaited, so no loop outlives its owner."""
    tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class AsyncResource:
    async def connect(self) -> None:
        """Open what the resource needs; the default has nothing to open."""

    async def aclose(self) -> None:
        """Release what the resource holds; idempotent. The default holds nothing."""

    async def __aenter__(self) -> Self:
        try:
            await self.connect()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
