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

from types import TracebackType
from typing import Self

__all__ = ["AsyncResource"]


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
