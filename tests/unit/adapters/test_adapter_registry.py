"""AdapterRegistry: lookups, duplicates, entry-point kinds (lazy, broken ones disabled)."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.cache import TieredCache
from dictamesh.core.errors import ConfigurationError, NotFoundError, UnknownEntityType
from dictamesh.core.settings import AdapterConfig
from dictamesh.testing.adapters import FakeAdapter, fake_config

GROUP = "dictamesh.adapters.test"


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


PLUGINS = [
    ep("fake", "dictamesh.testing.adapters:FakeAdapter"),
    ep("broken", "tests.unit.adapters.broken_plugin:Adapter"),
    ep("not_an_adapter", "dictamesh.core.models:Entity"),
    ep("missing", "dictamesh.no_such_module:Adapter"),
]


def config(kind: str) -> AdapterConfig:
    return fake_config(kind=kind)


def test_lookups_by_type_and_name() -> None:
    registry = AdapterRegistry(plugins=[])
    adapter = FakeAdapter()
    assert registry.register(adapter) is adapter
    assert registry.for_type("widget") is adapter
    assert registry.by_name("fake_widgets") is adapter
    assert registry.adapters() == [adapter]
    assert registry.entity_types() == ["widget"]
    assert registry.schemas() == {"widget": adapter.get_schema()}
    assert "fake_widgets" in registry
    assert len(registry) == 1


def test_unknown_type_lists_known_types() -> None:
    registry = AdapterRegistry(plugins=[])
    registry.register(FakeAdapter())
    with pytest.raises(UnknownEntityType) as info:
        registry.for_type("gizmo")
    assert info.value.details["known_types"] == ["widget"]
    with pytest.raises(NotFoundError, match="unknown adapter"):
        registry.by_name("nope")


def test_duplicates_are_refused() -> None:
    registry = AdapterRegistry(plugins=[])
    registry.register(FakeAdapter())
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.register(FakeAdapter())
    with pytest.raises(ConfigurationError, match="already served"):
        registry.register(FakeAdapter(fake_config(name="other")))
    registry.unregister("fake_widgets")
    registry.register(FakeAdapter(fake_config(name="other")))


def test_available_kinds_records_broken_plugins_as_disabled() -> None:
    registry = AdapterRegistry(plugins=PLUGINS)
    kinds = registry.available_kinds()
    assert sorted(kinds) == ["broken", "fake", "missing", "not_an_adapter"]
    assert kinds["fake"].enabled
    assert kinds["fake"].adapter_class is FakeAdapter
    assert not kinds["broken"].enabled
    assert "broken on purpose" in (kinds["broken"].error or "")
    assert "ModuleNotFoundError" in (kinds["missing"].error or "")
    assert "not an AdapterBase" in (kinds["not_an_adapter"].error or "")


def test_discovery_reads_the_entry_point_group_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        asked.append(group)
        return PLUGINS

    monkeypatch.setattr("dictamesh.core.plugins.entry_points", fake_entry_points)
    registry = AdapterRegistry(group=GROUP)
    assert asked == []  # nothing read (let alone imported) at construction
    assert registry.load_kind("fake") is FakeAdapter
    registry.available_kinds()
    assert asked == [GROUP]  # read once


def test_build_only_loads_the_kind_it_needs() -> None:
    registry = AdapterRegistry(plugins=PLUGINS)
    cache = TieredCache([])
    adapter = registry.build(config("fake"), cache=cache)
    assert isinstance(adapter, FakeAdapter)
    assert adapter.cache is cache
    assert registry.kinds.loaded() == ["fake"]  # the broken plugins were never imported


def test_build_unknown_or_disabled_kind() -> None:
    registry = AdapterRegistry(plugins=PLUGINS)
    with pytest.raises(ConfigurationError, match="unknown adapter kind 'nope'") as info:
        registry.build(config("nope"))
    assert "fake" in info.value.details["known"]
    with pytest.raises(ConfigurationError, match="disabled: RuntimeError"):
        registry.build(config("broken"))


def test_build_wraps_constructor_errors() -> None:
    registry = AdapterRegistry(plugins=PLUGINS)
    with pytest.raises(ConfigurationError, match="could not be built"):
        registry.build(config("fake"), unexpected_dependency=1)


def test_register_kind_programmatically() -> None:
    registry = AdapterRegistry(plugins=[])
    registry.register_kind("widgets", FakeAdapter)
    assert isinstance(registry.build(config("widgets")), FakeAdapter)
    with pytest.raises(ConfigurationError):
        registry.register_kind("bad", dict)  # type: ignore[arg-type]


def test_reference_kinds_are_published_in_the_package_metadata() -> None:
    names = set(AdapterRegistry().kinds.names())
    assert {
        "customers_directus",
        "products_rest",
        "invoices_ecommerce",
        "payments_gateway",
    } <= names
