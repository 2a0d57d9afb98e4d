"""dictamesh.testing.bus: InMemoryBus and capture_events."""

from __future__ import annotations

import pytest

from dictamesh.core.errors import SerializationError
from dictamesh.core.models import ChangeEvent, EntityVersionRef, EventType, SourceRef
from dictamesh.events.bus import EventBus
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.publisher import EventPublisher
from dictamesh.testing.bus import InMemoryBus, capture_events

CUSTOMERS = "customers.directus.entity_changed"


def event(entity_id: str, entity_type: str = "customer", domain: str = "customers") -> ChangeEvent:
    system = "directus" if domain == "customers" else "thirdparty"
    return ChangeEvent(
        event_type=EventType.CREATED,
        entity=EntityVersionRef(type=entity_type, id=entity_id, version=1),
        source=SourceRef(domain=domain, system=system),
    )


async def test_in_memory_bus_is_the_real_engine() -> None:
    async with InMemoryBus() as bus:
        assert isinstance(bus, EmbeddedBus)
        assert isinstance(bus, EventBus)
        assert bus.path == ":memory:"
        assert repr(bus) == "InMemoryBus()"


async def test_capture_sees_only_what_is_published_inside_the_block() -> None:
    async with InMemoryBus() as bus:
        publisher = EventPublisher(bus)
        await publisher.publish_event(event("before"))
        async with capture_events(bus, [CUSTOMERS]) as captured:
            await publisher.publish_event(event("c-1"))
            await publisher.publish_event(event("p-1", "product", "products"))  # not watched
            await publisher.publish_event(event("c-2"))
            assert [e.entity.id for e in captured] == ["c-1", "c-2"]
            await publisher.publish_event(event("c-3"))
        await publisher.publish_event(event("after"))

    assert [e.entity.id for e in captured] == ["c-1", "c-2", "c-3"]
    assert len(captured) == 3
    assert captured[0].entity.id == "c-1"
    assert [m.topic for m in captured.messages] == [CUSTOMERS] * 3
    assert captured.of_type("customer") == list(captured)
    assert "3 events" in repr(captured)


async def test_capture_every_topic_including_new_ones() -> None:
    async with InMemoryBus() as bus, capture_events(bus) as captured:
        publisher = EventPublisher(bus)
        await publisher.publish_event(event("c-1"))
        await publisher.publish_event(event("p-1", "product", "products"))
    assert [e.entity.id for e in captured] == ["c-1", "p-1"]
    assert [e.entity.id for e in captured.of_type("product")] == ["p-1"]


async def test_capture_keeps_exact_publish_order_across_partitions() -> None:
    ids = [f"c-{i}" for i in range(50)]
    async with InMemoryBus() as bus, capture_events(bus) as captured:
        publisher = EventPublisher(bus)
        for entity_id in ids[:25]:
            await publisher.publish_event(event(entity_id))
        await publisher.publish_events([event(i) for i in ids[25:]])
    assert [e.entity.id for e in captured] == ids
    assert len({m.partition for m in captured.messages}) == 3


async def test_capture_complains_about_non_events() -> None:
    async with InMemoryBus() as bus:
        with pytest.raises(SerializationError):
            async with capture_events(bus, [CUSTOMERS]):
                await bus.publish(CUSTOMERS, b"not an event", key="x")
