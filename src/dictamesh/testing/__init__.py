"""Test helpers for mesh code: a real in-memory bus, a fake adapter over dicts, a GraphQL
client over ASGI.

The adapter contract suites need pytest, so they are imported from their own module:
``from dictamesh.testing.contract import AdapterContractSuite, WriteContractSuite``.

Example::

    from dictamesh.testing import FakeAdapter, InMemoryBus, capture_events

    async with InMemoryBus() as bus, capture_events(bus) as captured:
        ...
"""

from dictamesh.testing.adapters import WIDGET_SCHEMA, FakeAdapter, FakeStore, fake_config
from dictamesh.testing.bus import CapturedEvents, InMemoryBus, capture_events
from dictamesh.testing.graphql import GraphQLResult, GraphQLTestClient

__all__ = [
    "WIDGET_SCHEMA",
    "CapturedEvents",
    "FakeAdapter",
    "FakeStore",
    "GraphQLResult",
    "GraphQLTestClient",
    "InMemoryBus",
    "capture_events",
    "fake_config",
]
