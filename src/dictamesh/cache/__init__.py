"""Entity cache: a :class:`CacheBackend` protocol, an in-process L1, and the tiered
read-through cache with single-flight and stale-while-error.

Example::

    cache = TieredCache([MemoryCache(max_entries=10_000, ttl=60)])
    result = await cache.get_or_load(entity_key(None, "customer", "c-1"), load)
"""

from dictamesh.cache.base import CacheBackend, CacheEntry, CacheListener, JsonDict
from dictamesh.cache.keys import (
    DEFAULT_TENANT,
    entity_key,
    lookup_key,
    parse_entity_key,
    tenant_prefix,
)
from dictamesh.cache.memory import MemoryCache
from dictamesh.cache.registry import build_layers, cache_layers
from dictamesh.cache.tiered import SOURCE_LAYER, CacheResult, LayerStats, TieredCache

__all__ = [
    "DEFAULT_TENANT",
    "SOURCE_LAYER",
    "CacheBackend",
    "CacheEntry",
    "CacheListener",
    "CacheResult",
    "JsonDict",
    "LayerStats",
    "MemoryCache",
    "TieredCache",
    "build_layers",
    "cache_layers",
    "entity_key",
    "lookup_key",
    "parse_entity_key",
    "tenant_prefix",
]
