"""KafkaBus against a real Apache Kafka broker: topics, producer, consumer groups, Avro."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from dictamesh.core.errors import EventBusError, ValidationError
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.events.avro import AvroEventSerializer
from dictamesh.events.bus import Consumer, EventBus
from dictamesh.events.kafka import KafkaBus, KafkaConsumer
from dictamesh.events.partitioner import partition_for_key
from dictamesh.events.schema_registry import InMemorySchemaRegistry
from dictamesh.events.topics import CleanupPolicy, TopicSpec

pytestmark = pytest.mark.kafka

TopicName = Callable[..., str]


def spec(name: str, partitions: int = 1, **extra: Any) -> TopicSpec:
    return TopicSpec(name=name, partitions=partitions, **extra)


# -- connection ----------------------------------------------------------------------------


async def test_implements_the_protocols(kafka_bus: KafkaBus, topic_name: TopicName) -> None:
    assert isinstance(kafka_bus, EventBus)
    consumer = kafka_bus.consumer("g", [topic_name()])
    assert isinstance(consumer, Consumer)
    await consumer.aclose()


async def test_connect_is_idempotent_and_ping(kafka_bus: KafkaBus) -> None:
    producer = kafka_bus._producer
    await kafka_bus.connect()
    assert kafka_bus._producer is producer
    assert await kafka_bus.ping() is True
    await kafka_bus.aclose()
    assert await kafka_bus.ping() is False
    with pytest.raises(EventBusError, match="closed"):
        await kafka_bus.connect()


async def test_unreachable_broker_is_an_event_bus_error() -> None:
    bus = KafkaBus("127.0.0.1:1", topic_specs=(), request_timeout_ms=2000)
    started = time.monotonic()
    with pytest.raises(EventBusError, match="connect") as info:
        await bus.connect()
    assert info.value.http_status == 503
    assert time.monotonic() - started < 10
    assert await bus.ping() is False
    await bus.aclose()


# -- topics --------------------------------------------------------------------------------


async def test_topic_created_with_the_specs_partitions_and_configs(
    kafka_bus: KafkaBus, topic_name: TopicName
) -> None:
    deleting = spec(topic_name("deleting"), partitions=4, retention_ms=3_600_000)
    compacted = spec(
        topic_name("compacted"),
        partitions=2,
        retention_ms=None,
        cleanup_policy=CleanupPolicy.COMPACT,
    )
    await kafka_bus.ensure_topic(deleting)
    await kafka_bus.ensure_topic(compacted)

    assert await kafka_bus.partitions_for(deleting.name) == [0, 1, 2, 3]
    configs = await kafka_bus.describe_topic_configs(deleting.name)
    assert configs["retention.ms"] == "3600000"
    assert configs["cleanup.policy"] == "delete"

    assert await kafka_bus.partitions_for(compacted.name) == [0, 1]
    configs = await kafka_bus.describe_topic_configs(compacted.name)
    assert configs["retention.ms"] == "-1"
    assert configs["cleanup.policy"] == "compact"


async def test_ensure_topic_is_idempotent_and_keeps_an_existing_topic(
    kafka_bus: KafkaBus, topic_name: TopicName
) -> None:
    name = topic_name()
    await kafka_bus.ensure_topic(spec(name, partitions=2, retention_ms=60_000))
    await kafka_bus.ensure_topic(spec(name, partitions=2, retention_ms=60_000))
    await kafka_bus.ensure_topic(spec(name, partitions=5, retention_ms=None))
    assert await kafka_bus.partitions_for(name) == [0, 1]
    assert (await kafka_bus.describe_topic_configs(name))["retention.ms"] == "60000"


async def test_nodes_racing_to_create_a_topic_can_all_read_its_offsets_at_once(
    kafka_bootstrap: str, topic_name: TopicName
) -> None:
    """Several nodes start together: one creates each topic, the others hear "already exists"
    a moment before the broker they ask knows the topic. Each must wait for it rather than
    fail its start with "unknown topic" (it did, once, in a three-node CI run)."""
    names = [topic_name(f"race{i}") for i in range(8)]
    buses = [KafkaBus(kafka_bootstrap, topic_specs=(), linger_ms=0) for _ in range(3)]
    for bus in buses:
        await bus.connect()
    try:

        async def start(bus: KafkaBus) -> dict[str, dict[int, int]]:
            await bus.ensure_topics([spec(n, partitions=2) for n in names])
            return await bus.end_offsets(names)

        snapshots = await asyncio.gather(*(start(bus) for bus in buses))
    finally:
        for bus in buses:
            await bus.aclose()
    assert all(s == {n: {0: 0, 1: 0} for n in names} for s in snapshots)


async def test_connect_creates_the_known_topics_and_publish_creates_dlq_like_base(
    kafka_bootstrap: str, topic_name: TopicName
) -> None:
    base = spec(topic_name("base"), partitions=2, retention_ms=86_400_000)
    async with KafkaBus(kafka_bootstrap, topic_specs=[base]) as bus:
        assert await bus.partitions_for(base.name) == [0, 1]
        await bus.publish(f"{base.name}.dlq", b"poison", key="k")
        assert await bus.partitions_for(f"{base.name}.dlq") == [0, 1]
        configs = await bus.describe_topic_configs(f"{base.name}.dlq")
        assert configs["retention.ms"] == "86400000"


async def test_describing_a_missing_topic_is_an_event_bus_error(
    kafka_bus: KafkaBus, topic_name: TopicName
) -> None:
    with pytest.raises(EventBusError):
        await kafka_bus.partitions_for(topic_name("missing"))


async def test_refused_topic_creation_is_reported(
    kafka_bus: KafkaBus, topic_name: TopicName
) -> None:
    # a single broker cannot host 3 replicas
    with pytest.raises(EventBusError, match="refused to create"):
        await kafka_bus.ensure_topic(spec(topic_name(), replication_factor=3))


# -- producing -----------------------------------------------------------------------------


async def test_producer_is_idempotent_with_acks_all(
    kafka_bus: KafkaBus, topic_name: TopicName
) -> None:
    assert kafka_bus.producer_config["enable_idempotence"] is True
    assert kafka_bus.producer_config["acks"] == "all"
    await kafka_bus.publish(topic_name(), b"x", key="k")
    # The broker handed the producer an id (InitProducerId): idempotent writes are on.
    txn = kafka_bus._producer._txn_manager
    assert txn is not None
    assert txn.producer_id >= 0


async def test_bad_records_are_validation_errors(
    kafka_bus: KafkaBus, topic_name: TopicName
) -> None:
    for value, key, headers in [
        ("text", None, None),
        (b"x", 42, None),
        (b"x", None, {"h": "not-bytes"}),
    ]:
        with pytest.raises(ValidationError):
            await kafka_bus.publish(topic_name(), value, key=key, headers=headers)  # type: ignore[arg-type]


async def test_keys_land_on_the_murmur2_partition(
    kafka_bus: KafkaBus, topic_name: TopicName
) -> None:
    name = topic_name()
    await kafka_bus.ensure_topic(spec(name, partitions=5))
    keys = [f"c-{i}" for i in range(30)]
    metas = await kafka_bus.publish_many(name, [(b"v", k, None) for k in keys])
    # the same partition the embedded bus and Kafka's Java client pick
    assert [m.partition for m in metas] == [partition_for_key(k, 5) for k in keys]


# -- consuming -----------------------------------------------------------------------------


async def test_publish_consume_roundtrip_with_headers(
    kafka_bus: KafkaBus, topic_name: TopicName, uid: str, poll_until: Any
) -> None:
    name = topic_name()
    await kafka_bus.ensure_topic(spec(name, partitions=3))
    before = int(time.time() * 1000)
    sent = [
        await kafka_bus.publish(
            name, b"v1", key="c-1", headers={"event-type": b"CREATED", "bin": b"\x00\xff"}
        ),
        await kafka_bus.publish(name, b"", key=None),
        await kafka_bus.publish(name, b"v3", key="c-1"),
    ]
    assert sent[0].topic == name
    assert sent[2].partition == sent[0].partition
    assert sent[2].offset > sent[0].offset  # same key: same partition, later offset

    async with kafka_bus.consumer(f"g{uid}", [name]) as consumer:
        messages = await poll_until(consumer, 3)
    by_offset = {(m.partition, m.offset): m for m in messages}
    first = by_offset[(sent[0].partition, sent[0].offset)]
    assert (first.key, first.value) == ("c-1", b"v1")
    assert dict(first.headers) == {"event-type": b"CREATED", "bin": b"\x00\xff"}
    assert first.delivery_count == 0
    assert first.timestamp_ms >= before - 5_000
    unkeyed = by_offset[(sent[1].partition, sent[1].offset)]
    assert (unkeyed.key, unkeyed.value, dict(unkeyed.headers)) == (None, b"", {})
    # per partition, offsets ascend
    same = [m.offset for m in messages if m.partition == sent[0].partition]
    assert same == sorted(same)


async def test_poll_returns_partitions_in_order_and_respects_max_records(
    kafka_bus: KafkaBus, topic_name: TopicName, uid: str, poll_until: Any
) -> None:
    name = topic_name()
    await kafka_bus.ensure_topic(spec(name, partitions=3))
    await kafka_bus.publish_many(name, [(str(i).encode(), f"k{i}", None) for i in range(30)])
    async with kafka_bus.consumer(f"g{uid}", [name]) as consumer:
        messages = await poll_until(consumer, 30, max_records=7)
        assert len(messages) == 30
        batch = await consumer.poll(max_records=1, timeout=0.2)
        assert batch == []
        with pytest.raises(ValidationError):
            await consumer.poll(max_records=0)


async def test_uncommitted_messages_go_to_the_next_member_committed_do_not(
    kafka_bus: KafkaBus, topic_name: TopicName, uid: str, poll_until: Any
) -> None:
    name, group = topic_name(), f"g{uid}"
    await kafka_bus.ensure_topic(spec(name, partitions=1))
    await kafka_bus.publish_many(name, [(f"m{i}".encode(), "k", None) for i in range(6)])

    async with kafka_bus.consumer(group, [name]) as first:
        got = await poll_until(first, 6)
        await first.commit(got[2])  # acks m0..m2

    async with kafka_bus.consumer(group, [name]) as second:
        again = await poll_until(second, 3)
        assert [m.value for m in again] == [b"m3", b"m4", b"m5"]
        await second.commit(again[-1])

    async with kafka_bus.consumer(group, [name]) as third:
        assert await third.poll(timeout=1.0) == []
    assert await kafka_bus.lag(group, [name]) == {name: {0: 0}}


async def test_commit_never_moves_backwards(
    kafka_bus: KafkaBus, topic_name: TopicName, uid: str, poll_until: Any
) -> None:
    name, group = topic_name(), f"g{uid}"
    await kafka_bus.ensure_topic(spec(name, partitions=1))
    await kafka_bus.publish_many(name, [(f"m{i}".encode(), None, None) for i in range(5)])
    async with kafka_bus.consumer(group, [name]) as consumer:
        got = await poll_until(consumer, 5)
        await consumer.commit(got[3])
        await consumer.commit(got[1])
        await consumer.commit_many([got[0], got[2]])
    assert await kafka_bus.committed_offsets(group) == {name: {0: 4}}


async def test_seek_to_committed_redelivers_to_the_same_member(
    kafka_bus: KafkaBus, topic_name: TopicName, uid: str, poll_until: Any
) -> None:
    name = topic_name()
    await kafka_bus.ensure_topic(spec(name, partitions=2))
    await kafka_bus.publish_many(name, [(f"m{i}".encode(), f"k{i}", None) for i in range(8)])
    async with kafka_bus.consumer(f"g{uid}", [name]) as consumer:
        got = await poll_until(consumer, 8)
        last_of_p0 = max((m for m in got if m.partition == 0), key=lambda m: m.offset)
        await consumer.commit(last_of_p0)
        assert await consumer.poll(timeout=0.3) == []
        await consumer.seek_to_committed()
        redelivered = await poll_until(consumer, 8 - (last_of_p0.offset + 1))
        assert {m.partition for m in redelivered} == {1}
        await consumer.seek(name, 0, 0)
        assert len(await poll_until(consumer, last_of_p0.offset + 1)) == last_of_p0.offset + 1
        with pytest.raises(EventBusError, match="not assigned"):
            await consumer.seek(name, 9, 0)


async def test_group_members_split_partitions_and_take_over_on_leave(
    kafka_bus: KafkaBus, topic_name: TopicName, uid: str, poll_until: Any
) -> None:
    name, group = topic_name(), f"g{uid}"
    await kafka_bus.ensure_topic(spec(name, partitions=4))
    a = kafka_bus.consumer(group, [name])
    b = kafka_bus.consumer(group, [name])
    assert isinstance(a, KafkaConsumer)
    assert isinstance(b, KafkaConsumer)
    await a.connect()
    await b.connect()
    # a learns of the rebalance at its next heartbeat and rejoins: wait for the split
    everything = {(name, p) for p in range(4)}

    def split() -> bool:
        return a.assignment | b.assignment == everything and not a.assignment & b.assignment

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not split():
        await asyncio.gather(a.poll(timeout=0.2), b.poll(timeout=0.2))
    assert a.assignment
    assert b.assignment
    assert a.assignment | b.assignment == everything
    assert not a.assignment & b.assignment

    await kafka_bus.publish_many(name, [(f"m{i}".encode(), f"k{i}", None) for i in range(20)])
    await b.aclose()  # leaves without committing: a gets every partition
    # The rebalance restarts a's own partitions from the committed offsets too, so a may
    # see some messages twice (at-least-once); every message must arrive.
    seen: set[bytes] = set()
    deadline = time.monotonic() + 20
    while len(seen) < 20 and time.monotonic() < deadline:
        seen.update(m.value for m in await a.poll(timeout=0.5))
    assert seen == {f"m{i}".encode() for i in range(20)}
    assert a.assignment == everything
    await a.aclose()


async def test_lag_from_committed_and_end_offsets(
    kafka_bus: KafkaBus, topic_name: TopicName, uid: str, poll_until: Any
) -> None:
    name, group = topic_name(), f"g{uid}"
    await kafka_bus.ensure_topic(spec(name, partitions=2))
    metas = await kafka_bus.publish_many(name, [(b"x", f"k{i}", None) for i in range(10)])
    per_partition = {p: sum(1 for m in metas if m.partition == p) for p in (0, 1)}
    assert await kafka_bus.end_offsets([name]) == {name: per_partition}
    assert await kafka_bus.lag(group, [name]) == {name: per_partition}  # never committed
    async with kafka_bus.consumer(group, [name]) as consumer:
        got = await poll_until(consumer, 10)
        first_p0 = min((m for m in got if m.partition == 0), key=lambda m: m.offset)
        await consumer.commit(first_p0)
    lag = await kafka_bus.lag(group)
    assert lag == {name: {0: per_partition[0] - 1, 1: per_partition[1]}}
    assert await kafka_bus.total_lag(group) == 9
    details = await kafka_bus.lag_details(group, [name])
    assert [(d.partition, d.committed, d.end_offset) for d in details] == [
        (0, 1, per_partition[0]),
        (1, None, per_partition[1]),
    ]


async def test_closed_consumer_and_bus(
    kafka_bus: KafkaBus, topic_name: TopicName, uid: str
) -> None:
    consumer = kafka_bus.consumer(f"g{uid}", [topic_name()])
    await consumer.connect()
    await kafka_bus.aclose()  # closes its live consumers too
    with pytest.raises(EventBusError, match="closed"):
        await consumer.poll(timeout=0.1)
    with pytest.raises(EventBusError, match="closed"):
        kafka_bus.consumer("g", [topic_name()])
    with pytest.raises(ValidationError):
        KafkaBus("x:1").consumer("", ["a.b.c"])


# -- Avro end to end -----------------------------------------------------------------------


async def test_avro_events_end_to_end(kafka_bus: KafkaBus, uid: str, poll_until: Any) -> None:
    source = SourceRef(domain="it", system=f"k{uid}")
    events = [
        ChangeEvent.for_change(
            EventType.UPDATED,
            Entity(type="customer", id=f"c-{i}", version=i, attributes={"n": i}, source=source),
            before={"n": i - 1},
        )
        for i in range(5)
    ]
    topic = events[0].topic
    registry = InMemorySchemaRegistry()
    writer = AvroEventSerializer(registry)
    await writer.prepare([topic])
    for event in events:
        value, headers = writer.encode(event)
        await kafka_bus.publish(topic, value, key=event.key, headers=headers)

    reader = AvroEventSerializer(registry)  # another process: only the registry is shared
    async with kafka_bus.consumer(f"g{uid}", [topic]) as consumer:
        messages = await poll_until(consumer, 5)
    decoded = [await reader.decode_async(m.value, m.headers) for m in messages]
    assert sorted(decoded, key=lambda e: e.entity.version) == events
    assert registry.subjects() == [f"{topic}-value"]


async def test_commit_after_losing_the_partition_is_skipped_not_fatal(
    kafka_bus: KafkaBus,
    topic_name: TopicName,
    uid: str,
    poll_until: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name, group = topic_name(), f"g{uid}"
    await kafka_bus.ensure_topic(spec(name, partitions=2))
    await kafka_bus.publish_many(name, [(f"m{i}".encode(), f"k{i}", None) for i in range(10)])
    a = kafka_bus.consumer(group, [name])
    got = await poll_until(a, 10)  # a alone: owns both partitions
    b = kafka_bus.consumer(group, [name])
    await b.connect()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(a.assignment) != 1:
        await a.poll(timeout=0.2)
    assert len(a.assignment) == 1
    (kept,) = a.assignment

    await a.commit_many(got)  # one partition moved to b meanwhile: skipped with a warning
    assert "no longer assigned" in caplog.text
    committed = await kafka_bus.committed_offsets(group, [name])
    last_kept = max(m.offset for m in got if (m.topic, m.partition) == kept)
    assert committed == {name: {kept[1]: last_kept + 1}}
    # b reads its partition from the start: nothing of it was committed
    moved = [m for m in got if (m.topic, m.partition) != kept]
    assert len(await poll_until(b, len(moved))) == len(moved)
    await a.aclose()
    await b.aclose()
