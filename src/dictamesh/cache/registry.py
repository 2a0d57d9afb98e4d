"""Cache layers as plugins of the entry-point group ``dictamesh.caches``.

A layer plugin is a factory ``(settings: CacheSettings) -> CacheBackend``. The built-in ones,
``memory`` (L1, in process) and ``redis`` (L2, shared), are declared in this package's
``pyproject.toml``; ``cache.layers`` lists the layers of a node in lookup order (by default
``memory``, then ``redis`` when ``cache.redis_url`` is set).

Example::

    layers = build_layers(settings.cache)     # [MemoryCache(...), RedisCache(...)]
    cache = TieredCache(layers)
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint
from typing import Protocol, TypeGuard

from dictamesh.cache.base import CacheBackend
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.plugins import PluginRegistry
from dictamesh.core.settings import CacheSettings

__all__ = [
    "CACHE_GROUP",
    "CacheFactory",
    "build_layers",
    "cache_layers",
    "memory_cache",
    "redis_cache",
]

CACHE_GROUP = "dictamesh.caches"


class CacheFactory(Protocol):
    def __call__(self, settings: CacheSettings) -> CacheBackend: ...


def _is_factory(obj: object) -> TypeGuard[CacheFactory]:
    return callable(obj)


def cache_layers(plugins: Iterable[EntryPoint] | None = None) -> PluginRegistry[CacheFactory]:
    """A registry of the installed cache layers (``plugins`` replaces discovery)."""
    return PluginRegistry(
        CACHE_GROUP, what="cache layer", accepts=_is_factory, expected="callable", plugins=plugins
    )


_DEFAULT = cache_layers()


def build_layers(
    settings: CacheSettings, *, registry: PluginRegistry[CacheFactory] | None = None
) -> list[CacheBackend]:
    """The layers ``settings.layer_names`` lists, in order, each built by its plugin."""
    plugins = registry or _DEFAULT
    return [plugins.load(name, setting="cache.layers")(settings) for name in settings.layer_names]


def memory_cache(settings: CacheSettings) -> CacheBackend:
    from dictamesh.cache.memory import MemoryCache

    return MemoryCache(max_entries=settings.l1_max_entries, ttl=settings.l1_ttl_seconds)


def redis_cache(settings: CacheSettings) -> CacheBackend:
    if settings.redis_url is None:
        raise ConfigurationError("cache layer 'redis' needs cache.redis_url")
    # imported here: redis is an optional extra (MissingDependencyError names it)
    from dictamesh.cache.redis import RedisCache

    # a shared L2 keeps entries longer than each node's L1
    return RedisCache(settings.redis_url.get_secret_value(), ttl=settings.l1_ttl_seconds * 5)
