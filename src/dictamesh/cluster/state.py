"""A node's handle on the state it shares with every other node (``docs/scale-out.md``).

Made from ``cache.redis_url`` (no Redis configured: ``None``, and every limit and cache
stays in the process). It holds the Redis client and the fail-open token buckets; the API
layer builds the shared rate limiter, persisted-query store and response cache over it.

Example::

    shared = SharedState.from_settings(settings.cache)
    if shared is not None:
        quotas = TenantQuotas(settings.tenancy.quotas, shared=shared.buckets)
        registry.register(shared.collector())     # dictamesh_shared_limit_fallbacks_total
        ...
        await shared.aclose()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from dictamesh.cluster.buckets import FailOpenBuckets, LocalBuckets, RedisBuckets
from dictamesh.cluster.shared_redis import SharedRedis
from dictamesh.core.settings import CacheSettings

__all__ = ["SharedState"]


class SharedState:
    """The shared Redis and the mesh-wide token buckets of one node."""

    def __init__(self, redis: SharedRedis) -> None:
        self.redis = redis
        self.buckets = FailOpenBuckets(RedisBuckets(redis), LocalBuckets())
        self._closers: list[Callable[[], Awaitable[None]]] = []

    @classmethod
    def from_settings(cls, cache: CacheSettings) -> SharedState | None:
        if cache.redis_url is None:
            return None
        return cls(SharedRedis(cache.redis_url.get_secret_value()))

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Await ``closer`` in :meth:`aclose` (what was built over this state)."""
        self._closers.append(closer)

    def collector(self) -> _SharedStateCollector:
        """Prometheus view: ``dictamesh_shared_limit_fallbacks_total``."""
        return _SharedStateCollector(self)

    async def aclose(self) -> None:
        closers, self._closers = self._closers, []
        for closer in closers:
            await closer()
        await self.redis.aclose()


class _SharedStateCollector:
    def __init__(self, state: SharedState) -> None:
        self._state = state

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        fallbacks = CounterMetricFamily(
            "dictamesh_shared_limit_fallbacks",
            "Rate-limit and quota decisions this node made alone because Redis did not answer.",
        )
        fallbacks.add_metric([], self._state.buckets.fallbacks)
        yield fallbacks
