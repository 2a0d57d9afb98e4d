"""The node builds its bus and cache layers through the plugin registries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dictamesh.cache.memory import MemoryCache
from dictamesh.cache.redis import RedisCache
from dictamesh.cache.registry import cache_layers
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import BusSettings, CacheSettings, DictaMeshSettings
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.registry import bus_backends
from dictamesh.node import MeshNode
from dictamesh.testing.bus import InMemoryBus


def settings(state: Path, **extra: Any) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "plugged",
            "state_dir": str(state),
            "bus": {"path": str(state / "bus.sqlite3")},
            "catalog": {"url": f"sqlite+aiosqlite:///{state / 'catalog.sqlite3'}"},
            **extra,
        }
    )


class ClosingLayer(MemoryCache):
    def __init__(self) -> None:
        super().__init__(name="closing")
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


def test_built_in_backends(tmp_path: Path) -> None:
    node = MeshNode(settings(tmp_path))
    assert isinstance(node.bus, EmbeddedBus)
    assert node.cache.layer_names == ["memory"]
    redis = MeshNode(settings(tmp_path, cache={"redis_url": "redis://127.0.0.1:1/0"}))
    assert redis.cache.layer_names == ["memory", "redis"]
    assert isinstance(redis._cache_layers[1], RedisCache)


def test_unknown_backend_fails_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"bus\.backend: unknown bus backend 'nats'"):
        MeshNode(settings(tmp_path, bus={"backend": "nats"}))


async def test_third_party_backends_are_used_and_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buses = bus_backends(plugins=[])
    made: list[str] = []

    def in_memory(config: BusSettings, *, node_name: str) -> InMemoryBus:
        made.append(node_name)
        return InMemoryBus()

    buses.register("in_memory", in_memory)
    layer = ClosingLayer()
    caches = cache_layers(plugins=[])

    def closing(config: CacheSettings) -> ClosingLayer:
        return layer

    caches.register("closing", closing)
    monkeypatch.setattr("dictamesh.events.registry._DEFAULT", buses)
    monkeypatch.setattr("dictamesh.cache.registry._DEFAULT", caches)

    node = MeshNode(settings(tmp_path, bus={"backend": "in_memory"}, cache={"layers": ["closing"]}))
    assert isinstance(node.bus, InMemoryBus)
    assert made == ["plugged"]
    assert node.cache.layer_names == ["closing"]
    async with node:
        assert (await node.readiness())["bus"].status.value == "healthy"
        assert await node.bus.lag("dictamesh-catalog-ingest", []) == {}
    assert layer.closed == 1  # a stopped node releases every layer


async def test_the_graph_timeout_is_a_node_setting(tmp_path: Path) -> None:
    catalog = {
        "url": f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}",
        "graph_timeout_seconds": 0.25,
    }
    async with MeshNode(settings(tmp_path, catalog=catalog)) as node:
        assert node.catalog.graph.timeout_seconds == 0.25
