"""L1: an in-process LRU cache with a TTL and a bounded stale retention.

An ``OrderedDict`` in recency order gives O(1) get, set and eviction. Entries past their
TTL stay ``stale_ttl`` more seconds as stale copies (see :mod:`dictamesh.cache.base`);
they still occupy a slot, so LRU eviction bounds memory either way.

Example::

    l1 = MemoryCache(max_entries=10_000, ttl=60, stale_ttl=300)
    await l1.set("k", {"id": "c-1"})
    (await l1.get("k")).is_fresh(time.time())   # True
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from dictamesh.cache.base import CacheEntry, JsonDict

__all__ = ["MemoryCache"]


class MemoryCache:
    """``max_entries=0`` disables the layer (every get misses, set stores nothing)."""

    def __init__(
        self,
        max_entries: int = 10_000,
        ttl: float = 60.0,
        *,
        stale_ttl: float = 300.0,
        clock: Callable[[], float] = time.time,
        name: str = "memory",
    ) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        if ttl <= 0 or stale_ttl < 0:
            raise ValueError("ttl must be > 0 and stale_ttl >= 0")
        self.name = name
        self.max_entries = max_entries
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self._clock = clock
        self._data: OrderedDict[str, CacheEntry] = OrderedDict()
        #: entries dropped to make room (for metrics)
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._data)

    async def get(self, key: str) -> CacheEntry | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if self._clock() >= entry.expires_at + self.stale_ttl:
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry

    async def set(
        self,
        key: str,
        value: JsonDict,
        *,
        stored_at: float | None = None,
        expires_at: float | None = None,
    ) -> None:
        if self.max_entries == 0:
            return
        self._data[key] = CacheEntry.create(
            value, now=self._clock(), ttl=self.ttl, stored_at=stored_at, expires_at=expires_at
        )
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
            self.evictions += 1

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every key starting with ``prefix`` (one pass over the entries)."""
        for key in [k for k in self._data if k.startswith(prefix)]:
            del self._data[key]

    async def clear(self) -> None:
        self._data.clear()

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        """Nothing to release (entries stay readable: closing is about connections)."""
