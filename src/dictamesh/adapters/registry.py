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

from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from typing import Any, TypeGuard, TypeVar

from dictamesh.adapters.base import AdapterBase
from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.core.errors import (
    ConfigurationError,
    DictaMeshError,
    NotFoundError,
    UnknownEntityType,
)
from dictamesh.core.models import EntitySchema
from dictamesh.core.plugins import PluginRegistry
from dictamesh.core.settings import AdapterConfig

__all__ = ["ENTRY_POINT_GROUP", "AdapterKind", "AdapterRegistry"]

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


def _is_adapter_class(obj: object) -> TypeGuard[type[AdapterBase]]:
    return isinstance(obj, type) and issubclass(obj, AdapterBase)


class AdapterRegistry:
    def __init__(
        self,
        *,
        group: str = ENTRY_POINT_GROUP,
        plugins: Iterable[EntryPoint] | None = None,
    ) -> None:
        """``plugins`` replaces entry-point discovery (tests, embedding applications)."""
        self.group = group
        self.kinds: PluginRegistry[type[AdapterBase]] = PluginRegistry(
            group,
            what="adapter kind",
            accepts=_is_adapter_class,
            expected="an AdapterBase subclass",
            plugins=plugins,
        )
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
        self.kinds.register(name, adapter_class)

    def available_kinds(self) -> dict[str, AdapterKind]:
        """Every kind, loaded (so a broken plugin shows up disabled, with its reason)."""
        return {
            name: AdapterKind(name, p.target, p.obj, p.error)
            for name, p in self.kinds.available().items()
        }

    def load_kind(self, kind: str) -> type[AdapterBase]:
        """The adapter class of ``kind``; ConfigurationError if unknown or disabled."""
        return self.kinds.load(kind)

    @classmethod
    def configured(cls, configs: Iterable[AdapterConfig]) -> AdapterRegistry:
        """A registry of every adapter ``configs`` names, built but not connected: what the
        tools and the router role read schemas and topics from, calling no source."""
        registry = cls()
        for config in configs:
            registry.register(registry.build(config))
        return registry

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
