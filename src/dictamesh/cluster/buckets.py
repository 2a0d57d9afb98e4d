"""Token buckets that hold across nodes: one Lua script per take, atomic in Redis.

A bucket holds up to ``capacity`` tokens and refills at ``rate`` per second; a take of
``cost`` succeeds when the tokens are there (or, ``debt=True``, as soon as
``min(cost, capacity)`` is there, the bucket then going into debt so a batch larger than the
bucket still passes at the long-run rate). Otherwise nothing is taken and the answer says
how long until it would pass — the ``Retry-After`` of a 429.

Backends (:class:`BucketStore`):

* :class:`LocalBuckets` — this process only, at most ``max_keys`` buckets (least recently
  used forgotten first, which only ever gives a full bucket back);
* :class:`RedisBuckets` — one Redis hash per key (tokens, time of the last refill), read and
  written by one script with Redis' own clock, so every node sees one bucket. Each key
  expires once it would be full again: an idle client costs no memory;
* :class:`FailOpenBuckets` — Redis, and while Redis cannot answer (within its short
  timeout) the node's :class:`LocalBuckets`: each node then limits on its own (N nodes
  admit up to N times the limit) instead of refusing every request or stalling on a dead
  Redis. Counted in ``fallbacks`` and logged at most once per ``log_every`` seconds.

Example::

    buckets = FailOpenBuckets(RedisBuckets(SharedRedis(url)), LocalBuckets())
    taken = await buckets.take("rate:sub:alice", rate=10, capacity=20)
    if not taken.allowed:
        ...  # 429, Retry-After: taken.retry_after_seconds
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dictamesh.cluster.shared_redis import SharedRedis
from dictamesh.core.errors import CacheUnavailable

__all__ = [
    "BucketStore",
    "FailOpenBuckets",
    "LocalBuckets",
    "RedisBuckets",
    "Take",
    "TokenBucket",
]

log = logging.getLogger("dictamesh.cluster")


@dataclass(frozen=True, slots=True)
class Take:
    """The answer of one take."""

    #: seconds until the take would pass; 0 when it passed
    wait: float
    #: tokens left after it (negative in debt)
    tokens: float

    @property
    def allowed(self) -> bool:
        return self.wait <= 0

    @property
    def retry_after_seconds(self) -> int:
        """``Retry-After`` value: whole seconds, at least 1."""
        return max(1, math.ceil(self.wait))


class BucketStore(Protocol):
    """Where buckets live: this process, or Redis for every node."""

    async def take(
        self, key: str, *, rate: float, capacity: float, cost: float = 1.0, debt: bool = False
    ) -> Take: ...


class TokenBucket:
    """Up to ``capacity`` tokens, refilled at ``rate`` per second; starts full."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now

    def take(self, amount: float, now: float) -> float:
        """Take ``amount`` if it is there; else nothing. 0, or seconds until it would be."""
        self._refill(now)
        if self.tokens >= amount:
            self.tokens -= amount
            return 0.0
        return (amount - self.tokens) / self.rate

    def take_debt(self, amount: float, now: float) -> float:
        """Take ``amount`` as soon as ``min(amount, capacity)`` is there, possibly going
        into debt (which later takers wait off), so a batch larger than the bucket still
        passes at the long-run rate. 0, or seconds until it would pass."""
        self._refill(now)
        need = min(amount, self.capacity)
        if self.tokens >= need:
            self.tokens -= amount
            return 0.0
        return (need - self.tokens) / self.rate


class LocalBuckets:
    """Buckets in this process (one event loop; not thread-safe)."""

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take_now(
        self, key: str, *, rate: float, capacity: float, cost: float = 1.0, debt: bool = False
    ) -> Take:
        """:meth:`take` without awaiting (for synchronous callers)."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate or bucket.capacity != capacity:
            bucket = self._buckets[key] = TokenBucket(rate, capacity, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        wait = bucket.take_debt(cost, now) if debt else bucket.take(cost, now)
        return Take(wait, bucket.tokens)

    async def take(
        self, key: str, *, rate: float, capacity: float, cost: float = 1.0, debt: bool = False
    ) -> Take:
        return self.take_now(key, rate=rate, capacity=capacity, cost=cost, debt=debt)


# Redis' clock (TIME), not the node's: nodes whose clocks disagree still share one bucket.
# Floats go back as strings (Lua numbers become integers in a reply).
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local debt = ARGV[4] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local need = cost
if debt then need = math.min(cost, capacity) end
local wait = 0
if tokens >= need then
  tokens = tokens - cost
else
  wait = (need - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
-- gone once it would be full again: a missing bucket is a full one
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return {tostring(wait), tostring(tokens)}
"""


class RedisBuckets:
    """Buckets in Redis, shared by every node using the same Redis and prefix."""

    def __init__(self, redis: SharedRedis, *, namespace: str = "bucket") -> None:
        self.redis = redis
        self.namespace = namespace
        self._script = redis.script(_TAKE)

    async def take(
        self, key: str, *, rate: float, capacity: float, cost: float = 1.0, debt: bool = False
    ) -> Take:
        """Raises :class:`~dictamesh.core.errors.CacheUnavailable` when Redis cannot answer."""
        wait, tokens = await self.redis.run(
            self._script,
            [self.redis.key(self.namespace, key)],
            [repr(float(rate)), repr(float(capacity)), repr(float(cost)), "1" if debt else "0"],
        )
        return Take(float(wait), float(tokens))


class FailOpenBuckets:
    """``shared`` buckets, or ``local`` ones while ``shared`` cannot answer (module docs).

    After a failure Redis is not asked again for ``retry_seconds``, so a Redis that hangs
    costs one timeout per interval, not one per request.
    """

    def __init__(
        self,
        shared: BucketStore,
        local: LocalBuckets | None = None,
        *,
        retry_seconds: float = 1.0,
        log_every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_fallback: Callable[[], None] | None = None,
    ) -> None:
        self.shared = shared
        self.local = local if local is not None else LocalBuckets()
        self.retry_seconds = retry_seconds
        self.log_every = log_every
        self._clock = clock
        self._on_fallback = on_fallback
        self._down_until = 0.0
        self._logged_at = -math.inf
        #: takes answered by the local buckets because Redis could not
        self.fallbacks = 0

    async def take(
        self, key: str, *, rate: float, capacity: float, cost: float = 1.0, debt: bool = False
    ) -> Take:
        if self._clock() >= self._down_until:
            try:
                return await self.shared.take(
                    key, rate=rate, capacity=capacity, cost=cost, debt=debt
                )
            except CacheUnavailable as exc:
                self._down_until = self._clock() + self.retry_seconds
                self._log(exc)
        self.fallbacks += 1
        if self._on_fallback is not None:
            self._on_fallback()
        return self.local.take_now(key, rate=rate, capacity=capacity, cost=cost, debt=debt)

    def _log(self, exc: Exception) -> None:
        now = self._clock()
        if now - self._logged_at >= self.log_every:
            self._logged_at = now
            log.warning(
                "shared limits: Redis unreachable (%s); this node limits on its own until it"
                " answers (%d local decisions so far)",
                exc,
                self.fallbacks,
            )
