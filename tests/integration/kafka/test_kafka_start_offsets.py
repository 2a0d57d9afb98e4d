"""``initial_offsets`` on Kafka beyond the shared contract: a rebalance (a second member
joins) starts newly assigned, never-committed partitions at the snapshot again, never at
the earliest message; ``seek_to_committed`` goes back to the snapshot, not to the start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from tests.integration.kafka.conftest import PollUntil

from dictamesh.events.bus import Message
from dictamesh.events.kafka import KafkaBus, KafkaConsumer
from dictamesh.events.topics import TopicSpec

pytestmark = pytest.mark.kafka


async def publish(bus: KafkaBus, topic: str, label: str, count: int) -> set[bytes]:
    values = {f"{label}-{i}".encode() for i in range(count)}
    for value in sorted(values):
        await bus.publish(topic, value, key=value.decode())
    return values


async def test_a_rebalance_never_rewinds_to_the_earliest(
    kafka_bus: KafkaBus, topic_name: Callable[..., str], uid: str
) -> None:
    topic = topic_name()
    await kafka_bus.ensure_topic(TopicSpec(name=topic, partitions=6))
    old = await publish(kafka_bus, topic, "old", 60)
    snapshot = await kafka_bus.end_offsets([topic])
    group = f"it-start-{uid}"
    seen: list[Message] = []
    first = kafka_bus.consumer(group, [topic], initial_offsets=snapshot)
    second = kafka_bus.consumer(group, [topic], initial_offsets=snapshot)
    async with first, second:
        new = await publish(kafka_bus, topic, "a", 12)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 45
        joined = False
        while not new <= {m.value for m in seen}:
            assert loop.time() < deadline, f"saw {len(seen)} of {len(new)} new messages"
            # the second member only joins once the first has handed some out: the group
            # rebalances (eager: every partition is revoked and assigned again)
            members = (first, second) if joined else (first,)
            for member in members:
                batch = await member.poll(max_records=5, timeout=0.3)
                seen.extend(batch)
                # some partitions committed, the rest read but never committed
                for m in batch[:1]:
                    await member.commit(m)
            if seen and not joined:
                joined = True
                new |= await publish(kafka_bus, topic, "b", 12)
        assert second.assignment, "the second member never got partitions"
    values = {m.value for m in seen}
    assert not old & values, "a rebalance started a partition at the earliest message"
    assert values == new  # redeliveries (read, not committed) allowed, nothing else


async def test_seek_to_committed_goes_back_to_the_snapshot(
    kafka_bus: KafkaBus, topic_name: Callable[..., str], uid: str, poll_until: PollUntil
) -> None:
    topic = topic_name()
    await kafka_bus.ensure_topic(TopicSpec(name=topic, partitions=1))
    await publish(kafka_bus, topic, "old", 5)
    snapshot = await kafka_bus.end_offsets([topic])
    new = await publish(kafka_bus, topic, "new", 3)
    consumer = kafka_bus.consumer(f"it-start-{uid}", [topic], initial_offsets=snapshot)
    assert isinstance(consumer, KafkaConsumer)
    async with consumer:
        got = await poll_until(consumer, 3)
        assert {m.value for m in got} == new
        await consumer.seek_to_committed()  # nothing handled was committed: the snapshot
        again = await poll_until(consumer, 3)
    assert [m.offset for m in again] == [5, 6, 7]
