"""PluginRegistry and the bus/cache backend registries built on it."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, TypeGuard

import pytest

from dictamesh.cache.memory import MemoryCache
from dictamesh.cache.registry import CACHE_GROUP, build_layers, cache_layers
from dictamesh.core.errors import ConfigurationError, MissingDependencyError
from dictamesh.core.plugins import PluginRegistry
from dictamesh.core.settings import BusSettings, CacheSettings
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.registry import BUS_GROUP, build_bus, bus_backends

GROUP = "dictamesh.test_things"


def _is_int(obj: object) -> TypeGuard[int]:
    return isinstance(obj, int)


def registry(*entries: tuple[str, str]) -> PluginRegistry[int]:
    plugins = [EntryPoint(name=n, value=v, group=GROUP) for n, v in entries]
    return PluginRegistry(GROUP, what="thing", accepts=_is_int, expected="an int", plugins=plugins)


def test_lookup_loads_only_the_named_plugin() -> None:
    things = registry(("port", "http.client:HTTP_PORT"), ("bad", "no_such_module:X"))
    assert things.names() == ["bad", "port"]
    assert things.loaded() == []  # listing names imports nothing
    assert things.load("port") == 80
    assert things.loaded() == ["port"]


def test_a_broken_plugin_is_listed_disabled_with_its_reason() -> None:
    things = registry(
        ("port", "http.client:HTTP_PORT"),
        ("missing", "no_such_module:X"),
        ("wrong", "http.client:HTTPConnection"),
    )
    found = things.available()
    assert found["port"].enabled
    assert found["port"].obj == 80
    assert not found["missing"].enabled
    assert "ModuleNotFoundError" in (found["missing"].error or "")
    assert found["wrong"].error == "http.client:HTTPConnection is not an int"
    with pytest.raises(ConfigurationError, match="thing 'missing' is disabled") as info:
        things.load("missing")
    assert info.value.details["group"] == GROUP


def test_an_unknown_name_names_the_group_and_the_known_ones() -> None:
    things = registry(("b", "http.client:HTTP_PORT"), ("a", "http.client:HTTPS_PORT"))
    with pytest.raises(ConfigurationError) as info:
        things.load("zzz", setting="x.kind")
    message = str(info.value)
    assert message.startswith("x.kind: unknown thing 'zzz'")
    assert f"entry-point group {GROUP!r}" in message
    assert message.endswith("known: a, b")
    assert info.value.details["known"] == ["a", "b"]


def test_programmatic_registration_is_checked() -> None:
    things = registry()
    things.register("seven", 7)
    assert things.load("seven") == 7
    assert things.names() == ["seven"]
    with pytest.raises(ConfigurationError, match="is not an int"):
        things.register("text", "7")  # type: ignore[arg-type]


def test_the_package_publishes_its_backends() -> None:
    assert {"embedded", "kafka"} <= set(bus_backends().names())
    assert {"memory", "redis"} <= set(cache_layers().names())
    assert bus_backends().group == BUS_GROUP
    assert cache_layers().group == CACHE_GROUP


def test_bus_is_built_by_the_plugin_the_settings_name(tmp_path: Path) -> None:
    built: list[tuple[BusSettings, str]] = []

    def custom(settings: BusSettings, *, node_name: str) -> Any:
        built.append((settings, node_name))
        return EmbeddedBus(":memory:")

    buses = bus_backends(plugins=[])
    buses.register("custom", custom)
    settings = BusSettings(backend="custom", path=tmp_path / "bus.sqlite3")
    bus = build_bus(settings, node_name="n1", registry=buses)
    assert isinstance(bus, EmbeddedBus)
    assert built == [(settings, "n1")]
    with pytest.raises(ConfigurationError, match=r"bus\.backend: unknown bus backend 'embedded'"):
        build_bus(BusSettings(), node_name="n1", registry=buses)


def test_embedded_bus_plugin_creates_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "bus.sqlite3"
    bus = build_bus(BusSettings(path=path), node_name="n")
    assert isinstance(bus, EmbeddedBus)
    assert bus.path == str(path)
    assert path.parent.is_dir()


def test_missing_optional_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import dictamesh.events.kafka as kafka

    def missing() -> Any:
        raise MissingDependencyError("aiokafka", "kafka")

    monkeypatch.setattr(kafka, "_aiokafka", missing)
    with pytest.raises(MissingDependencyError, match=r"dictamesh\[kafka\]"):
        build_bus(BusSettings(backend="kafka"), node_name="n")


def test_cache_layers_default_to_memory_then_redis_when_configured() -> None:
    assert CacheSettings().layer_names == ["memory"]
    with_redis = CacheSettings(redis_url="redis://:pw@127.0.0.1:1/0")  # type: ignore[arg-type]
    assert with_redis.layer_names == ["memory", "redis"]
    assert CacheSettings(layers=[]).layer_names == []
    (layer,) = build_layers(CacheSettings(l1_max_entries=5, l1_ttl_seconds=7))
    assert isinstance(layer, MemoryCache)
    assert (layer.max_entries, layer.ttl) == (5, 7)


def test_redis_layer_without_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"cache.redis_url"):
        build_layers(CacheSettings(layers=["memory", "redis"]))
    with pytest.raises(ConfigurationError, match=r"cache\.layers: unknown cache layer 'memcached'"):
        build_layers(CacheSettings(layers=["memcached"]))


async def test_every_layer_answers_ping_and_aclose() -> None:
    layer = MemoryCache()
    await layer.set("k", {"v": 1})
    assert await layer.ping() is True
    await layer.aclose()
    assert await layer.get("k") is not None  # closing an in-process layer drops nothing
