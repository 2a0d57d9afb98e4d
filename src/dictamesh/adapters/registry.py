"""AdapterRegistry: the adapters of a node, by name and by entity type, plus plugin kinds.

Adapter *kinds* are classes published under the entry-point group ``dictamesh.adapters``
(``kind = "module:Class"`` in a distribution's metadata). They are read lazily: nothing is
imported until a kind is listed or built, and a plugin that fails to import is recorded as
disabled with its reason instead of breaking the node.

Example::

    registry = AdapterRegistry()
    registry.available_kinds()      # {'customers_directus': AdapterKind(...), ...}
    adapter = registry.build(AdapterConfig(name="crm", kind="customers_directus",
                                           base_url="http://crm"), cache=cache)
    registry.register(adapter)
    registry.for_type("customer")   # the adapter; unknown types raise UnknownEntityType
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

from dictamesh.adapters.base import AdapterBase
from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.core.errors import (
    ConfigurationError,
    DictaMeshError,
    NotFoundError,
    UnknownEntityType,
)
from dictamesh.core.models import EntitySchema
from dictamesh.core.settings import AdapterConfig

__all__ = ["ENTRY_POINT_GROUP", "AdapterKind", "AdapterRegistry"]

log = logging.getLogger("dictamesh.adapters")

ENTRY_POINT_GROUP = "dictamesh.adapters"

A = TypeVar("A", bound=DataProductAdapter)


@dataclass(frozen=True, slots=True)
class AdapterKind:
    """One plugin kind: where it points, and whether it could be loaded."""

    name: str
    target: str
    adapter_class: type[AdapterBase] | None = None
    #: why the kind is disabled (``None`` when it loaded fine)
    error: str | None = None

    @property
    def enabled(self) -> bool:
        return self.adapter_class is not None


class AdapterRegistry:
    def __init__(
        self,
        *,
        group: str = ENTRY_POINT_GROUP,
        plugins: Iterable[EntryPoint] | None = None,
    ) -> None:
        """``plugins`` replaces entry-point discovery (tests, embedding applications)."""
        self.group = group
        self._plugin_source = plugins  # not iterated before the first lookup
        self._entry_points: dict[str, EntryPoint] | None = None
        self._kinds: dict[str, AdapterKind] = {}
        self._by_name: dict[str, DataProductAdapter] = {}
        self._by_type: dict[str, DataProductAdapter] = {}

    # --- adapters of this node ----------------------------------------------------------

    def register(self, adapter: A) -> A:
        """Add an adapter; names are unique, and one entity type has one adapter."""
        if adapter.name in self._by_name:
            raise ConfigurationError(
                f"an adapter named {adapter.name!r} is already registered", adapter=adapter.name
            )
        other = self._by_type.get(adapter.entity_type)
        if other is not None:
            raise ConfigurationError(
                f"entity type {adapter.entity_type!r} is already served by {other.name!r}",
                adapter=adapter.name,
                entity_type=adapter.entity_type,
            )
        self._by_name[adapter.name] = adapter
        self._by_type[adapter.entity_type] = adapter
        return adapter

    def unregister(self, name: str) -> DataProductAdapter:
        adapter = self.by_name(name)
        del self._by_name[name]
        del self._by_type[adapter.entity_type]
        return adapter

    def for_type(self, entity_type: str) -> DataProductAdapter:
        try:
            return self._by_type[entity_type]
        except KeyError:
            raise UnknownEntityType(entity_type, list(self._by_type)) from None

    def by_name(self, name: str) -> DataProductAdapter:
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFoundError(
                f"unknown adapter {name!r}", adapter=name, known_adapters=sorted(self._by_name)
            ) from None

    def adapters(self) -> list[DataProductAdapter]:
        return list(self._by_name.values())

    def entity_types(self) -> list[str]:
        return sorted(self._by_type)

    def schemas(self) -> dict[str, EntitySchema]:
        return {t: self._by_type[t].get_schema() for t in sorted(self._by_type)}

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self._by_name)

    # --- plugin kinds -------------------------------------------------------------------

    def register_kind(self, name: str, adapter_class: type[AdapterBase]) -> None:
        """Make a kind available without an entry point (tests, embedding applications)."""
        if not (isinstance(adapter_class, type) and issubclass(adapter_class, AdapterBase)):
            raise ConfigurationError(f"kind {name!r}: {adapter_class!r} is not an AdapterBase")
        target = f"{adapter_class.__module__}:{adapter_class.__qualname__}"
        self._kinds[name] = AdapterKind(name, target, adapter_class)

    def available_kinds(self) -> dict[str, AdapterKind]:
        """Every kind, loaded (so a broken plugin shows up disabled, with its reason)."""
        for name in self._discover():
            self._load(name)
        return dict(sorted(self._kinds.items()))

    def load_kind(self, kind: str) -> type[AdapterBase]:
        """The adapter class of ``kind``; ConfigurationError if unknown or disabled."""
        if kind not in self._kinds and kind not in self._discover():
            known = sorted(set(self._discover()) | set(self._kinds))
            raise ConfigurationError(
                f"unknown adapter kind {kind!r}; known kinds: {', '.join(known) or 'none'}",
                kind=kind,
                known_kinds=known,
            )
        found = self._load(kind)
        if found.adapter_class is None:
            raise ConfigurationError(
                f"adapter kind {kind!r} is disabled: {found.error}", kind=kind, reason=found.error
            )
        return found.adapter_class

    def build(self, config: AdapterConfig, **deps: Any) -> AdapterBase:
        """Instantiate ``config.kind`` with ``config`` and ``deps`` (client, cache, state…)."""
        adapter_class = self.load_kind(config.kind)
        try:
            return adapter_class(config, **deps)
        except DictaMeshError:
            raise
        except Exception as exc:
            raise ConfigurationError(
                f"adapter {config.name!r} (kind {config.kind!r}) could not be built: {exc}",
                adapter=config.name,
                kind=config.kind,
            ) from exc

    def _discover(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            source = (
                self._plugin_source
                if self._plugin_source is not None
                else entry_points(group=self.group)
            )
            found: dict[str, EntryPoint] = {}
            for ep in source:
                if ep.name in found and found[ep.name].value != ep.value:
                    log.warning(
                        "adapter kind %r is published twice (%s, %s); using the first",
                        ep.name,
                        found[ep.name].value,
                        ep.value,
                    )
                    continue
                found.setdefault(ep.name, ep)
            self._entry_points = found
        return self._entry_points

    def _load(self, name: str) -> AdapterKind:
        if name in self._kinds:
            return self._kinds[name]
        ep = self._discover()[name]
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plugin is reported, never fatal
            kind = AdapterKind(name, ep.value, error=f"{type(exc).__name__}: {exc}")
            log.warning("adapter kind %r disabled: %s", name, kind.error)
        else:
            if isinstance(loaded, type) and issubclass(loaded, AdapterBase):
                kind = AdapterKind(name, ep.value, loaded)
            else:
                kind = AdapterKind(
                    name, ep.value, error=f"{ep.value} is not an AdapterBase subclass"
                )
                log.warning("adapter kind %r disabled: %s", name, kind.error)
        self._kinds[name] = kind
        return kind
