"""The GraphQL response cache in Redis: one cache for every node, invalidated by any of them.

Same keys (:func:`~dictamesh.gateway.response_cache.cache_key`: query, variables, tenant,
subject, roles) and the same dependency rules as the in-process
:class:`~dictamesh.gateway.response_cache.ResponseCache`, kept in Redis:

* ``rc:e:<key>`` — the answer, expiring after the plan's ``max_age``;
* dependency sets — ``rc:d:ref:<type,id>``, ``rc:d:type:<type>``, ``rc:d:rel:<type>:<via>``
  and ``rc:d:relany:<type>`` hold the keys of the answers that read them, each living at
  least as long as its longest entry;
* versions — a global change counter ``rc:seq`` and, per dependency, the counter value of
  the last change that touched it (``rc:v:…``, kept ``VERSION_TTL`` seconds).

**No stale answer survives a racing invalidation.** A request reads ``rc:seq`` before it
executes; its answer is stored by one script that first checks that none of its
dependencies' versions moved past that value. An invalidation is one script too: it bumps
the versions, then deletes every answer in the touched dependency sets. Redis runs scripts
one at a time, so an invalidation lands either before the store (versions moved: not
stored) or after it (the answer is in the sets: deleted).

Every node consumes every change topic and invalidates on its own, so a node whose consumer
is behind is covered by the others; invalidations that Redis could not take are retried
in order until it answers (more than ``max_pending`` waiting: the whole cache is dropped
once Redis is back). While Redis is down, lookups miss and nothing is stored.

Example::

    cache = RedisResponseCache(SharedRedis(url))
    feed.add_listener(cache.invalidate)
    since = await cache.begin()
    ...  # execute with TrackingLoaders(registry, deps)
    await cache.store(key, data, deps, ttl=plan.max_age, since=since)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

from dictamesh.cluster.shared_redis import SharedRedis
from dictamesh.core.errors import CacheUnavailable
from dictamesh.core.models import ChangeEvent, EventType
from dictamesh.gateway.response_cache import CachedResponse, Dependencies, ResponseCacheStats

__all__ = ["VERSION_TTL", "RedisResponseCache"]

log = logging.getLogger("dictamesh.gateway")

#: seconds a dependency's version is remembered: longer than any request may run
VERSION_TTL = 600

_STORE = """
local since = tonumber(ARGV[3])
local versions = tonumber(ARGV[4])
for i = 2, versions + 1 do
  local seen = redis.call('GET', KEYS[i])
  if seen and tonumber(seen) > since then return 0 end
end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for i = versions + 2, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  redis.call('PEXPIRE', KEYS[i], ttl, 'NX')
  redis.call('PEXPIRE', KEYS[i], ttl, 'GT')
end
return 1
"""

_INVALIDATE = """
local seq = redis.call('INCR', KEYS[1])
local versions = tonumber(ARGV[1])
for i = 2, versions + 1 do redis.call('SET', KEYS[i], seq, 'PX', ARGV[2]) end
local dropped = 0
for i = versions + 2, #KEYS do
  local keys = redis.call('SMEMBERS', KEYS[i])
  for _, key in ipairs(keys) do dropped = dropped + redis.call('DEL', key) end
  redis.call('DEL', KEYS[i])
end
return dropped
"""

_LOOKUP = """
local body = redis.call('GET', KEYS[1])
if not body then return false end
return {body, redis.call('PTTL', KEYS[1])}
"""


def _part(value: str) -> str:
    # Entity types and ids may hold ':'; JSON keeps the parts of a key apart.
    return json.dumps(value)


class RedisResponseCache:
    """GraphQL answers in Redis with dependency-based invalidation (module docs)."""

    def __init__(
        self, redis: SharedRedis, *, max_pending: int = 10_000, retry_max: float = 2.0
    ) -> None:
        self.redis = redis
        self.stats = ResponseCacheStats()
        self.max_pending = max_pending
        self.retry_max = retry_max
        self._store = redis.script(_STORE)
        self._invalidate = redis.script(_INVALIDATE)
        self._lookup = redis.script(_LOOKUP)
        self._pending: deque[ChangeEvent] = deque()
        self._overflowed = False
        self._drain: asyncio.Task[None] | None = None

    def _key(self, *parts: str) -> str:
        return self.redis.key("rc", *parts)

    # --- reading and writing ------------------------------------------------------------

    async def lookup(self, key: str) -> CachedResponse | None:
        try:
            found = await self.redis.run(self._lookup, [self._key("e", key)], [])
        except CacheUnavailable:
            found = None
        if not found:
            self.stats.misses += 1
            return None
        body, pttl = found
        self.stats.hits += 1
        return CachedResponse(json.loads(body), max(0, math.floor(int(pttl) / 1000)))

    async def begin(self) -> int:
        """The change counter before a request executes (its ``since``); -1 when Redis
        cannot answer (nothing is then stored)."""
        try:
            with self.redis.unavailable("get"):
                raw = await self.redis.client.get(self._key("seq"))
        except CacheUnavailable:
            return -1
        return int(raw) if raw is not None else 0

    async def store(
        self, key: str, data: Mapping[str, Any], deps: Dependencies, *, ttl: float, since: int
    ) -> bool:
        """Store ``data`` for ``ttl`` seconds unless a dependency changed after ``since``.
        Returns whether it stored."""
        if ttl <= 0 or since < 0:
            return False
        try:
            body = json.dumps(data, separators=(",", ":"))
        except (TypeError, ValueError):
            return False
        versions = [self._key("v", "all")]
        sets = []
        for kind, entity_id in deps.refs:
            ref = _part(kind) + ":" + _part(entity_id)
            versions.append(self._key("v", "ref", ref))
            sets.append(self._key("d", "ref", ref))
        for kind in deps.types:
            versions.append(self._key("v", "type", _part(kind)))
            sets.append(self._key("d", "type", _part(kind)))
        for kind, via in deps.related:
            versions.append(self._key("v", "relany", _part(kind)))
            versions.append(self._key("v", "rel", _part(kind), _part(via)))
            sets.append(self._key("d", "relany", _part(kind)))
            sets.append(self._key("d", "rel", _part(kind), _part(via)))
        ttl_ms = max(1, math.ceil(ttl * 1000))
        try:
            stored = await self.redis.run(
                self._store,
                [self._key("e", key), *versions, *sets],
                [body, ttl_ms, since, len(versions)],
            )
        except CacheUnavailable:
            return False
        if not stored:
            self.stats.races += 1
            return False
        self.stats.stores += 1
        return True

    # --- invalidation -------------------------------------------------------------------

    def invalidate(self, event: ChangeEvent) -> None:
        """A :class:`~dictamesh.events.fanout.ChangeFeed` listener: queue ``event``'s
        invalidation, sent to Redis in order by a background task."""
        if len(self._pending) >= self.max_pending:
            self._pending.clear()
            self._overflowed = True  # too much missed: drop the whole cache when back
        self._pending.append(event)
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_task(self._drain_pending())

    async def flush(self) -> None:
        """Wait until every queued invalidation reached Redis (tests, shutdown)."""
        while self._drain is not None and not self._drain.done():
            await asyncio.shield(self._drain)

    async def invalidate_now(self, event: ChangeEvent) -> int:
        """Drop every answer ``event`` may alter; returns how many. Raises
        :class:`~dictamesh.core.errors.CacheUnavailable` when Redis cannot answer."""
        kind, ref = (
            _part(event.entity.type),
            _part(event.entity.type) + ":" + _part(event.entity.id),
        )
        versions = [self._key("v", "ref", ref), self._key("v", "type", kind)]
        sets = [self._key("d", "ref", ref), self._key("d", "type", kind)]
        if event.event_type is not EventType.UPDATED:
            versions.append(self._key("v", "relany", kind))
            sets.append(self._key("d", "relany", kind))
        for name in event.changed_fields:
            versions.append(self._key("v", "rel", kind, _part(name)))
            sets.append(self._key("d", "rel", kind, _part(name)))
        dropped = int(
            await self.redis.run(
                self._invalidate,
                [self._key("seq"), *versions, *sets],
                [len(versions), VERSION_TTL * 1000],
            )
        )
        self.stats.invalidations += dropped
        return dropped

    async def clear(self) -> None:
        """Drop every answer (for every node): bump the global version, delete entries."""
        await self.redis.run(
            self._invalidate, [self._key("seq"), self._key("v", "all")], [1, VERSION_TTL * 1000]
        )
        with self.redis.unavailable("clear"):
            batch: list[Any] = []
            async for found in self.redis.client.scan_iter(match=self._key("e", "*"), count=500):
                batch.append(found)
                if len(batch) >= 500:
                    await self.redis.client.delete(*batch)
                    batch.clear()
            if batch:
                await self.redis.client.delete(*batch)

    async def _drain_pending(self) -> None:
        delay = 0.05
        while self._pending or self._overflowed:
            try:
                if self._overflowed:
                    await self.clear()
                    self._overflowed = False
                    continue
                await self.invalidate_now(self._pending[0])
                self._pending.popleft()
                delay = 0.05
            except CacheUnavailable as exc:
                log.warning(
                    "response cache: Redis unreachable (%s); %d invalidations wait",
                    exc,
                    len(self._pending),
                )
                await asyncio.sleep(delay)
                delay = min(self.retry_max, delay * 2)

    async def aclose(self) -> None:
        """Stop retrying (what is still queued is dropped with this node)."""
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
            self._drain = None
