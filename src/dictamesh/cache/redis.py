"""L2 cache layer on Redis (redis-py asyncio), shared by every node of a mesh.

Entries are JSON ``{"value", "stored_at", "expires_at"}`` with a server-side expiry of
``expires_at + stale_ttl``, so Redis itself drops what even stale-while-error may no longer
serve. Connection problems (refused, timed out, still loading its snapshot, a read-only
replica) surface as :class:`~dictamesh.core.errors.CacheUnavailable` (503, transient);
:class:`~dictamesh.cache.tiered.TieredCache` reads a failing layer as a miss (and counts the
error), so a Redis outage degrades to the source instead of failing requests, while a failed
*delete* reaches the caller (the node's invalidation consumer retries it until Redis answers).

Example::

    l2 = RedisCache("redis://127.0.0.1:6379/0", ttl=300)
    cache = TieredCache([MemoryCache(ttl=60), l2])
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from dictamesh.cache.base import CacheEntry, JsonDict
from dictamesh.core.errors import CacheUnavailable, MissingDependencyError

__all__ = ["RedisCache"]


class RedisCache:
    def __init__(
        self,
        url: str,
        ttl: float = 300.0,
        *,
        stale_ttl: float = 300.0,
        key_prefix: str = "",
        clock: Callable[[], float] = time.time,
        name: str = "redis",
    ) -> None:
        try:
            import redis.asyncio as aioredis
            from redis import exceptions as redis_errors
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise MissingDependencyError("redis", "redis") from exc
        if ttl <= 0 or stale_ttl < 0:
            raise ValueError("ttl must be > 0 and stale_ttl >= 0")
        self.name = name
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.key_prefix = key_prefix
        self._clock = clock
        # "Cannot answer now", as opposed to a bad command: ConnectionError covers refused,
        # reset, BusyLoading (restarting from its snapshot) and auth; ReadOnlyError a replica
        # during a failover.
        self._outage: tuple[type[BaseException], ...] = (
            redis_errors.ConnectionError,
            redis_errors.TimeoutError,
            redis_errors.ReadOnlyError,
            OSError,
        )
        self._redis: Any = aioredis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0
        )

    @contextlib.contextmanager
    def _unavailable(self, op: str, key: str = "") -> Iterator[None]:
        try:
            yield
        except CacheUnavailable:
            raise
        except self._outage as exc:
            raise CacheUnavailable(
                f"cache layer {self.name}: {op} {key!r} failed: {exc}", layer=self.name, op=op
            ) from exc

    async def get(self, key: str) -> CacheEntry | None:
        with self._unavailable("get", key):
            raw = await self._redis.get(self.key_prefix + key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return CacheEntry(
                value=data["value"],
                stored_at=float(data["stored_at"]),
                expires_at=float(data["expires_at"]),
            )
        except (ValueError, KeyError, TypeError):
            # Written by something else or truncated: a miss, and gone for the next reader.
            with self._unavailable("delete", key):
                await self._redis.delete(self.key_prefix + key)
            return None

    async def set(
        self,
        key: str,
        value: JsonDict,
        *,
        stored_at: float | None = None,
        expires_at: float | None = None,
    ) -> None:
        now = self._clock()
        entry = CacheEntry.create(
            value, now=now, ttl=self.ttl, stored_at=stored_at, expires_at=expires_at
        )
        keep_ms = math.ceil((entry.expires_at + self.stale_ttl - now) * 1000)
        if keep_ms <= 0:
            return
        body = json.dumps(
            {"value": value, "stored_at": entry.stored_at, "expires_at": entry.expires_at},
            separators=(",", ":"),
        )
        with self._unavailable("set", key):
            await self._redis.set(self.key_prefix + key, body, px=keep_ms)

    async def delete(self, key: str) -> None:
        with self._unavailable("delete", key):
            await self._redis.delete(self.key_prefix + key)

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every key of this cache starting with ``prefix`` (SCAN + DEL: its cost
        grows with the database, so callers use it only when nothing narrower will do)."""
        await self._delete_matching(_glob_escape(self.key_prefix + prefix) + "*", "delete_prefix")

    async def clear(self) -> None:
        """Delete this cache's keys only (``<key_prefix>dm:*``), never the whole database."""
        await self._delete_matching(f"{_glob_escape(self.key_prefix)}dm:*", "clear")

    async def _delete_matching(self, pattern: str, op: str) -> None:
        batch: list[bytes] = []
        with self._unavailable(op):
            async for k in self._redis.scan_iter(match=pattern, count=500):
                batch.append(k)
                if len(batch) >= 500:
                    await self._redis.delete(*batch)
                    batch.clear()
            if batch:
                await self._redis.delete(*batch)

    async def ping(self) -> bool:
        with self._unavailable("ping"):
            return bool(await self._redis.ping())

    async def aclose(self) -> None:
        await self._redis.aclose()


def _glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\^-" else c for c in text)
