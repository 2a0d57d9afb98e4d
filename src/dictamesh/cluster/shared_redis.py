"""The Redis connection behind mesh-wide state (limits, persisted queries, response cache).

One client per node, made from ``cache.redis_url``, with a short socket timeout: it sits
on the request path, so a Redis that hangs must cost a request milliseconds, not seconds.
After a failure, calls fail at once for ``retry_seconds`` (a hung Redis then costs one
timeout per interval, not one per request).
Every "cannot answer now" failure becomes :class:`~dictamesh.core.errors.CacheUnavailable`
so callers decide in one place what an outage means for them (limits fall back to the
node's own buckets, caches read as a miss).

Example::

    shared = SharedRedis("redis://127.0.0.1:6379/0", timeout=0.25)
    script = shared.script("return redis.call('INCR', KEYS[1])")
    value = await shared.run(script, ["k"], [])
    await shared.aclose()
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dictamesh.core.errors import CacheUnavailable, ConfigurationError, MissingDependencyError

__all__ = ["DEFAULT_PREFIX", "DEFAULT_TIMEOUT", "SharedRedis"]

DEFAULT_PREFIX = "dictamesh:"
#: seconds one Redis call may take on the request path before it counts as an outage
DEFAULT_TIMEOUT = 0.25


class SharedRedis:
    """A redis-py asyncio client with a short timeout and outages as ``CacheUnavailable``."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        prefix: str = DEFAULT_PREFIX,
        retry_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            import redis.asyncio as aioredis
            from redis import exceptions as redis_errors
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise MissingDependencyError("redis", "redis") from exc
        if timeout <= 0:
            raise ConfigurationError("the shared-state Redis timeout must be > 0")
        self.prefix = prefix
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._down_until = 0.0
        self._outage: tuple[type[BaseException], ...] = (
            redis_errors.ConnectionError,
            redis_errors.TimeoutError,
            redis_errors.ReadOnlyError,
            OSError,
        )
        self.client: Any = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def key(self, *parts: str) -> str:
        """``<prefix><part>:<part>...``: every key this node writes is under ``prefix``."""
        return self.prefix + ":".join(parts)

    def script(self, source: str) -> Any:
        """A registered Lua script (EVALSHA, loaded again by redis-py after a restart)."""
        return self.client.register_script(source)

    @contextlib.contextmanager
    def unavailable(self, op: str) -> Iterator[None]:
        """Translate an outage inside the block into :class:`CacheUnavailable` (raised at
        once, without calling Redis, within ``retry_seconds`` of the last outage)."""
        if self._clock() < self._down_until:
            raise CacheUnavailable(
                f"shared state in Redis: {op} skipped: Redis failed less than"
                f" {self.retry_seconds:g} s ago",
                layer="redis",
                op=op,
            )
        try:
            yield
        except CacheUnavailable:
            raise
        except self._outage as exc:
            self._down_until = self._clock() + self.retry_seconds
            raise CacheUnavailable(
                f"shared state in Redis: {op} failed: {exc}", layer="redis", op=op
            ) from exc

    async def run(self, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        with self.unavailable("script"):
            return await script(keys=list(keys), args=list(args))

    async def ping(self) -> bool:
        with self.unavailable("ping"):
            return bool(await self.client.ping())

    async def aclose(self) -> None:
        await self.client.aclose()
