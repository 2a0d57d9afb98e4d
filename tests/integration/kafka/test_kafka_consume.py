"""run_consumer (retries, dead letters, commits) on the Kafka backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.events.avro import AvroEventSerializer
from dictamesh.events.consume import DLQ_ATTEMPTS, DLQ_ERROR, DLQ_ORIGINAL_OFFSET, consume_events
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.schema_registry import InMemorySchemaRegistry
from dictamesh.events.serde import JsonEventSerializer, Serializer
from dictamesh.events.topics import TopicSpec, dlq_topic

pytestmark = pytest.mark.kafka


def events_for(uid: str, n: int) -> list[ChangeEvent]:
    source = SourceRef(domain="it", system=f"c{uid}")
    return [
        ChangeEvent.for_change(
            EventType.UPDATED,
            Entity(type="customer", id=f"c-{i}", version=1, attributes={"i": i}, source=source),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("format_name", ["json", "avro"])
async def test_poison_and_garbage_go_to_the_dlq_the_rest_is_committed(
    kafka_bus: KafkaBus, uid: str, poll_until: Any, format_name: str
) -> None:
    events = events_for(uid, 10)
    topic = events[0].topic
    await kafka_bus.ensure_topic(TopicSpec(name=topic, partitions=2))
    serde: Serializer
    if format_name == "avro":
        avro = AvroEventSerializer(InMemorySchemaRegistry())
        await avro.prepare([topic])
        serde = avro
    else:
        serde = JsonEventSerializer()
    for event in events:
        value, headers = serde.encode(event)
        await kafka_bus.publish(topic, value, key=event.key, headers=headers)
    garbage = await kafka_bus.publish(topic, b"\x00\x00\x00\x00\x09garbage", key="c-1")

    handled: list[str] = []

    async def handle(event: ChangeEvent) -> None:
        if event.entity.id == "c-3":
            raise RuntimeError("cannot handle c-3")
        handled.append(event.entity.id)

    stop = asyncio.Event()
    group = f"g{uid}"
    task = asyncio.create_task(
        consume_events(
            kafka_bus,
            group,
            [topic],
            handle,
            serializer=serde,
            max_attempts=3,
            backoff_initial=0.01,
            backoff_max=0.02,
            stop=stop,
            poll_timeout=0.2,
        )
    )
    try:
        for _ in range(200):
            if await kafka_bus.total_lag(group, [topic]) == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        stats = await asyncio.wait_for(task, 20)

    assert stats.dead_lettered == 2
    assert stats.committed == 11
    assert set(handled) == {f"c-{i}" for i in range(10)} - {"c-3"}
    assert await kafka_bus.lag(group, [topic]) == {topic: {0: 0, 1: 0}}

    async with kafka_bus.consumer(f"dlq{uid}", [dlq_topic(topic)]) as consumer:
        dead = await poll_until(consumer, 2)
    by_attempts = {m.headers[DLQ_ATTEMPTS]: m for m in dead}
    assert set(by_attempts) == {b"0", b"3"}
    assert by_attempts[b"0"].value == b"\x00\x00\x00\x00\x09garbage"
    assert by_attempts[b"0"].headers[DLQ_ORIGINAL_OFFSET] == str(garbage.offset).encode()
    assert serde.decode(by_attempts[b"3"].value).entity.id == "c-3"
    assert b"cannot handle c-3" in by_attempts[b"3"].headers[DLQ_ERROR]
