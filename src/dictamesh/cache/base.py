"""The cache backend protocol every layer implements (memory L1, Redis L2, ...).

A backend stores JSON-serializable dicts (``Entity.model_dump(mode="json")``) with two
timestamps (epoch seconds, so they mean the same in every process sharing a layer):

* ``stored_at`` — when the value was read from the source (its age is ``now - stored_at``);
* ``expires_at`` — until when it is *fresh*.

After ``expires_at`` a backend keeps the entry as a **stale copy** for ``stale_ttl`` more
seconds and still returns it from :meth:`CacheBackend.get`; the
:class:`~dictamesh.cache.tiered.TieredCache` serves it only when the source fails
(stale-while-error). Past ``expires_at + stale_ttl`` the entry is gone.

``set(key, value, stored_at=None, expires_at=None)``: the backend computes its own expiry
as ``min(now + its ttl, expires_at)``; ``expires_at`` is given when an upper layer is
back-filled from a lower one, so a copy is never fresher than its origin, and
``stored_at`` keeps the original read time so ages stay honest.

Implementing a backend (e.g. Redis): store ``{"value", "stored_at", "expires_at"}`` as
JSON with a server-side expiry of ``expires_at + stale_ttl``.

Example::

    cache: CacheBackend = MemoryCache(max_entries=10_000, ttl=60)
    await cache.set("k", {"id": "c-1"})
    entry = await cache.get("k")   # CacheEntry(value={'id': 'c-1'}, stored_at=..., ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["CacheBackend", "CacheEntry", "CacheListener", "JsonDict"]

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    value: JsonDict
    #: epoch seconds when the value was read from the source
    stored_at: float
    #: epoch seconds after which the entry is stale
    expires_at: float

    @classmethod
    def create(
        cls,
        value: JsonDict,
        *,
        now: float,
        ttl: float,
        stored_at: float | None = None,
        expires_at: float | None = None,
    ) -> CacheEntry:
        """The entry a layer with ``ttl`` stores: fresh until ``min(now + ttl, expires_at)``,
        keeping the original read time so a back-filled copy is never younger than its source."""
        fresh_until = now + ttl if expires_at is None else min(now + ttl, expires_at)
        return cls(
            value=value, stored_at=now if stored_at is None else stored_at, expires_at=fresh_until
        )

    def is_fresh(self, now: float) -> bool:
        return now < self.expires_at

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored_at)


@runtime_checkable
class CacheBackend(Protocol):
    """One cache layer. All methods are async so network backends fit the same shape."""

    #: short label used in metrics and :class:`~dictamesh.cache.tiered.CacheResult.layer`
    name: str

    async def get(self, key: str) -> CacheEntry | None:
        """The entry, fresh or stale (within its stale retention), or ``None``."""
        ...

    async def set(
        self,
        key: str,
        value: JsonDict,
        *,
        stored_at: float | None = None,
        expires_at: float | None = None,
    ) -> None:
        """Store ``value``; fresh until ``min(now + ttl, expires_at)``."""
        ...

    async def delete(self, key: str) -> None: ...

    async def clear(self) -> None: ...

    async def ping(self) -> bool:
        """True when the layer answers (an in-process layer always does)."""
        ...

    async def aclose(self) -> None:
        """Release connections; a node calls it on stop (a no-op for in-process layers)."""
        ...


@runtime_checkable
class CacheListener(Protocol):
    """Told what a :class:`~dictamesh.cache.tiered.TieredCache` does with each key (the
    node records it as cache status, ``docs/catalog.md``).

    Called on the request path: a method must return at once (queue, never await) and
    should not raise (the cache logs and ignores what it raises). Times are epoch seconds.
    """

    def stored(self, key: str, layer: str, stored_at: float, expires_at: float) -> None:
        """``layer`` now holds a copy of ``key`` read at ``stored_at``, fresh until
        ``expires_at`` (a read-through fill or a back-fill from a lower layer)."""
        ...

    def hit(self, key: str, layer: str, stored_at: float, expires_at: float) -> None:
        """``layer`` answered a read of ``key`` with a fresh copy."""
        ...

    def invalidated(self, key: str, at: float) -> None:
        """``key`` was dropped from every layer at ``at``."""
        ...
