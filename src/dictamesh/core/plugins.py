"""A lazy registry of plugins published under one entry-point group.

Adapters (``dictamesh.adapters``), event buses (``dictamesh.buses``) and cache layers
(``dictamesh.caches``) are all found this way: a distribution declares
``name = "module:attribute"`` in its metadata, and nothing is imported until that name is
listed or loaded. A plugin that fails to import (or is not what the group expects) is
recorded as disabled with its reason instead of breaking the node.

Example::

    buses = PluginRegistry("dictamesh.buses", what="bus backend", accepts=callable)
    buses.names()              # ['embedded', 'kafka'] (nothing imported yet)
    factory = buses.load("kafka")
    buses.available()          # {'embedded': Plugin(...), 'kafka': Plugin(...)}
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeGuard, TypeVar

from dictamesh.core.errors import ConfigurationError

__all__ = ["Plugin", "PluginRegistry"]

log = logging.getLogger("dictamesh.plugins")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Plugin(Generic[T]):
    """One published plugin: where it points, and what it loaded to (or why not)."""

    name: str
    target: str
    obj: T | None = None
    #: why the plugin is disabled (``None`` when it loaded fine)
    error: str | None = None

    @property
    def enabled(self) -> bool:
        return self.obj is not None


class PluginRegistry(Generic[T]):
    def __init__(
        self,
        group: str,
        *,
        what: str,
        accepts: Callable[[object], TypeGuard[T]],
        expected: str = "a valid plugin",
        plugins: Iterable[EntryPoint] | None = None,
    ) -> None:
        """``what`` names a plugin in messages ("bus backend"); ``accepts`` checks what an
        entry point loaded to (``expected`` says what it should have been); ``plugins``
        replaces entry-point discovery (tests, embedding applications)."""
        self.group = group
        self.what = what
        self._accepts = accepts
        self._expected = expected
        self._source = plugins  # not iterated before the first lookup
        self._entry_points: dict[str, EntryPoint] | None = None
        self._loaded: dict[str, Plugin[T]] = {}

    def register(self, name: str, obj: T) -> None:
        """Make a plugin available without an entry point (tests, embedding applications)."""
        if not self._accepts(obj):
            raise ConfigurationError(f"{self.what} {name!r}: {obj!r} is not {self._expected}")
        module = getattr(obj, "__module__", "?")
        qualname = getattr(obj, "__qualname__", type(obj).__qualname__)
        self._loaded[name] = Plugin(name, f"{module}:{qualname}", obj)

    def names(self) -> list[str]:
        """Every known name, without importing anything."""
        return sorted(set(self._discover()) | set(self._loaded))

    def loaded(self) -> list[str]:
        """The names imported so far (enabled or not)."""
        return sorted(self._loaded)

    def available(self) -> dict[str, Plugin[T]]:
        """Every plugin, loaded (so a broken one shows up disabled, with its reason)."""
        for name in self._discover():
            self._load(name)
        return dict(sorted(self._loaded.items()))

    def load(self, name: str, *, setting: str | None = None) -> T:
        """The plugin called ``name``; ConfigurationError if unknown or disabled (its
        message starts with ``setting``, the config key that named the plugin, if given)."""
        where = f"{setting}: " if setting else ""
        if name not in self._loaded and name not in self._discover():
            known = self.names()
            raise ConfigurationError(
                f"{where}unknown {self.what} {name!r} (entry-point group {self.group!r});"
                f" known: {', '.join(known) or 'none'}",
                group=self.group,
                name=name,
                known=known,
            )
        found = self._load(name)
        if found.obj is None:
            raise ConfigurationError(
                f"{where}{self.what} {name!r} is disabled: {found.error}",
                group=self.group,
                name=name,
                reason=found.error,
            )
        return found.obj

    def _discover(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            source = self._source if self._source is not None else entry_points(group=self.group)
            found: dict[str, EntryPoint] = {}
            for ep in source:
                if ep.name in found and found[ep.name].value != ep.value:
                    log.warning(
                        "%s %r is published twice (%s, %s); using the first",
                        self.what,
                        ep.name,
                        found[ep.name].value,
                        ep.value,
                    )
                    continue
                found.setdefault(ep.name, ep)
            self._entry_points = found
        return self._entry_points

    def _load(self, name: str) -> Plugin[T]:
        if name in self._loaded:
            return self._loaded[name]
        ep = self._discover()[name]
        plugin: Plugin[T]
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin is reported, never fatal
            plugin = Plugin(name, ep.value, error=f"{type(exc).__name__}: {exc}")
        else:
            if self._accepts(obj):
                plugin = Plugin(name, ep.value, obj)
            else:
                plugin = Plugin(name, ep.value, error=f"{ep.value} is not {self._expected}")
        if plugin.error is not None:
            log.warning("%s %r disabled: %s", self.what, name, plugin.error)
        self._loaded[name] = plugin
        return plugin
