"""Tombstones: written after deletes where ``bus.topics`` says so, skipped by consumers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.unit.events.test_publisher import RecordingBus

from dictamesh.core.bus_config import TopicSettings
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.events.bus import TOMBSTONE, Message
from dictamesh.events.codecs import TopicCodec
from dictamesh.events.consume import ConsumerStats, consume_events, run_consumer
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.events.topics import TopicSpec, dlq_topic
from dictamesh.testing.bus import InMemoryBus, capture_events

TOPIC = "customers.crm.entity_changed"
FAST: dict[str, Any] = {"backoff_initial": 0.001, "backoff_max": 0.005, "poll_timeout": 0.05}
COMPACTED_DEBEZIUM = TopicSettings(
    name="customers.*", envelope="debezium", cleanup_policy="compact"
)


def change(kind: EventType, entity_id: str, version: int = 1) -> ChangeEvent:
    entity = Entity(
        type="customer",
        id=entity_id,
        version=version,
        source=SourceRef(domain="customers", system="crm"),
        attributes={"name": entity_id},
    )
    before = None if kind is EventType.CREATED else {"name": entity_id}
    return ChangeEvent.for_change(kind, entity, before=before)


@pytest.fixture
async def bus() -> AsyncIterator[EmbeddedBus]:
    async with InMemoryBus() as bus:
        await bus.ensure_topic(TopicSpec(name=TOPIC, partitions=1))
        yield bus


def test_message_tombstone() -> None:
    assert Message(TOPIC, 0, 0, "k", TOMBSTONE).tombstone
    assert not Message(TOPIC, 0, 0, "k", b"{}").tombstone


async def test_publisher_writes_a_tombstone_after_each_delete(bus: EmbeddedBus) -> None:
    publisher = EventPublisher(bus, TopicCodec(topics=[COMPACTED_DEBEZIUM]))
    deleted = change(EventType.DELETED, "c-1", 2)
    meta = await publisher.publish_event(deleted)
    metas = await publisher.publish_events(
        [change(EventType.CREATED, "c-2"), change(EventType.DELETED, "c-2", 2)]
    )
    assert [m.offset for m in [meta, *metas]] == [0, 2, 3]  # the events' own offsets
    log = await bus.read(TOPIC, 0)
    assert [(m.key, m.tombstone) for m in log] == [
        ("c-1", False),
        ("c-1", True),
        ("c-2", False),
        ("c-2", False),
        ("c-2", True),
    ]
    assert log[1].headers == {}
    assert publisher.stats.published[TOPIC] == 5


async def test_no_tombstones_unless_configured(bus: EmbeddedBus) -> None:
    for serializer in (
        JsonEventSerializer(),
        TopicCodec(topics=[TopicSettings(name="customers.*", envelope="debezium")]),
        TopicCodec(topics=[COMPACTED_DEBEZIUM.model_copy(update={"tombstones": False})]),
    ):
        await EventPublisher(bus, serializer).publish_event(change(EventType.DELETED, "c-1", 2))
    assert not any(m.tombstone for m in await bus.read(TOPIC, 0))


async def test_a_bus_without_publish_many_gets_the_tombstone_too() -> None:
    recording = RecordingBus()
    publisher = EventPublisher(recording, TopicCodec(topics=[COMPACTED_DEBEZIUM]))
    await publisher.publish_event(change(EventType.DELETED, "c-1", 2))
    await publisher.publish_events([change(EventType.DELETED, "c-2", 2)])
    assert [(key, value == TOMBSTONE) for _, value, key, _ in recording.published] == [
        ("c-1", False),
        ("c-1", True),
        ("c-2", False),
        ("c-2", True),
    ]


async def run_until(bus: EmbeddedBus, handler: Any, stats: ConsumerStats, **kw: Any) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_consumer(bus, "g", [TOPIC], handler, stop=stop, stats=stats, **{**FAST, **kw})
    )
    async with asyncio.timeout(5):
        while stats.committed < stats.consumed or stats.consumed == 0:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
    stop.set()
    await task


@pytest.mark.parametrize("serializer", [None, TopicCodec()])
async def test_consumers_commit_tombstones_without_handling_them(
    bus: EmbeddedBus, serializer: TopicCodec | None
) -> None:
    codec = TopicCodec(topics=[COMPACTED_DEBEZIUM])
    publisher = EventPublisher(bus, codec)
    await publisher.publish_events(
        [change(EventType.CREATED, "c-1"), change(EventType.DELETED, "c-1", 2)]
    )
    await bus.publish(TOPIC, TOMBSTONE, key="c-9")  # a lone tombstone closes the batch
    seen: list[str] = []

    async def handler(messages: list[Message]) -> None:
        seen.extend(codec.decode(m.value, m.headers).entity.id for m in messages)

    stats = ConsumerStats()
    await run_until(bus, handler, stats, serializer=serializer)
    assert seen == ["c-1", "c-1"]
    assert (stats.consumed, stats.committed, stats.tombstones, stats.dead_lettered) == (4, 4, 2, 0)
    assert await bus.committed("g") == {TOPIC: {0: 4}}
    assert await bus.end_offsets([dlq_topic(TOPIC)]) == {}


async def test_a_batch_of_only_tombstones_is_committed(bus: EmbeddedBus) -> None:
    await bus.publish_many(TOPIC, [(TOMBSTONE, "a", None), (TOMBSTONE, "b", None)])
    calls: list[list[Message]] = []

    async def handler(messages: list[Message]) -> None:
        calls.append(messages)

    stats = ConsumerStats()
    await run_until(bus, handler, stats)
    assert calls == []
    assert (stats.committed, stats.tombstones) == (2, 2)


async def test_tombstones_on_request_reach_the_handler(bus: EmbeddedBus) -> None:
    codec = TopicCodec(topics=[COMPACTED_DEBEZIUM])
    await EventPublisher(bus, codec).publish_event(change(EventType.DELETED, "a", 2))
    seen: list[tuple[str | None, bool]] = []

    async def handler(messages: list[Message]) -> None:
        seen.extend((m.key, m.tombstone) for m in messages)

    stats = ConsumerStats()
    # the serializer is not asked to decode the tombstone (it would dead-letter it)
    await run_until(bus, handler, stats, tombstones=True, serializer=codec)
    assert seen == [("a", False), ("a", True)]
    assert (stats.tombstones, stats.dead_lettered) == (0, 0)


async def test_consume_events_sees_events_only(bus: EmbeddedBus) -> None:
    codec = TopicCodec(topics=[COMPACTED_DEBEZIUM])
    await EventPublisher(bus, codec).publish_events(
        [change(EventType.CREATED, "c-1"), change(EventType.DELETED, "c-1", 2)]
    )
    events: list[ChangeEvent] = []
    stop = asyncio.Event()

    async def handle(event: ChangeEvent) -> None:
        events.append(event)
        if len(events) == 2:
            stop.set()

    async with asyncio.timeout(5):
        stats = await consume_events(
            bus, "events", [TOPIC], handle, serializer=codec, stop=stop, tombstones=True, **FAST
        )
    assert [e.event_type for e in events] == [EventType.CREATED, EventType.DELETED]
    assert stats.dead_lettered == 0


async def test_capture_events_keeps_tombstones_apart(bus: EmbeddedBus) -> None:
    codec = TopicCodec(topics=[COMPACTED_DEBEZIUM])
    async with capture_events(bus, [TOPIC], serializer=codec) as captured:
        await EventPublisher(bus, codec).publish_event(change(EventType.DELETED, "c-1", 2))
    assert [e.entity.id for e in captured] == ["c-1"]
    assert [m.key for m in captured.tombstones] == ["c-1"]
