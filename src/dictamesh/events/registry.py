"""Event bus backends as plugins of the entry-point group ``dictamesh.buses``.

A backend is a factory ``(settings: BusSettings, *, node_name: str) -> EventBus`` returning
an unconnected bus (the node connects it). The built-in ones, ``embedded`` and ``kafka``,
are declared in this package's ``pyproject.toml``; a third-party distribution adds its own
the same way, and ``bus.backend: <name>`` selects it.

Example::

    bus = build_bus(settings.bus, node_name="node-1")   # settings.bus.backend == "kafka"
    bus_backends().names()                               # ['embedded', 'kafka']
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint
from typing import Protocol, TypeGuard

from dictamesh.core.plugins import PluginRegistry
from dictamesh.core.settings import BusSettings
from dictamesh.events.bus import EventBus

__all__ = [
    "BUS_GROUP",
    "BusFactory",
    "build_bus",
    "bus_backends",
    "embedded_bus",
    "kafka_bus",
]

BUS_GROUP = "dictamesh.buses"


class BusFactory(Protocol):
    def __call__(self, settings: BusSettings, *, node_name: str) -> EventBus: ...


def _is_factory(obj: object) -> TypeGuard[BusFactory]:
    return callable(obj)


def bus_backends(plugins: Iterable[EntryPoint] | None = None) -> PluginRegistry[BusFactory]:
    """A registry of the installed bus backends (``plugins`` replaces discovery)."""
    return PluginRegistry(
        BUS_GROUP, what="bus backend", accepts=_is_factory, expected="callable", plugins=plugins
    )


_DEFAULT = bus_backends()


def build_bus(
    settings: BusSettings, *, node_name: str, registry: PluginRegistry[BusFactory] | None = None
) -> EventBus:
    """The bus ``settings.backend`` names, built by its plugin (not connected yet)."""
    factory = (registry or _DEFAULT).load(settings.backend, setting="bus.backend")
    return factory(settings, node_name=node_name)


def embedded_bus(settings: BusSettings, *, node_name: str) -> EventBus:
    from dictamesh.events.embedded import EmbeddedBus

    settings.path.parent.mkdir(parents=True, exist_ok=True)
    return EmbeddedBus(settings.path, topic_settings=settings.topics)


def kafka_bus(settings: BusSettings, *, node_name: str) -> EventBus:
    # imported here: aiokafka is an optional extra (MissingDependencyError names it)
    from dictamesh.events.kafka import KafkaBus

    return KafkaBus(
        settings.kafka_bootstrap,
        settings=settings.kafka,
        client_id=node_name,
        topic_settings=settings.topics,
    )
