"""Interop on a real broker: our Avro events vs. Confluent's librdkafka client + serializers.

Both sides share one schema registry (confluent_kafka's in-process mock, adapted to our
SchemaRegistryClient protocol), so the schema ids in the frames mean the same thing to both.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.integration.confluent_support import change_events, consume_with_librdkafka

from dictamesh.events.avro import AvroEventSerializer, change_event_schema_str, event_to_record
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.partitioner import partition_for_key
from dictamesh.events.topics import TopicSpec

pytestmark = pytest.mark.kafka

confluent_kafka = pytest.importorskip("confluent_kafka")
sr = pytest.importorskip(
    "confluent_kafka.schema_registry", reason="needs confluent-kafka[schemaregistry] (dev extra)"
)
sr_avro = pytest.importorskip("confluent_kafka.schema_registry.avro")


class ConfluentRegistryAdapter:
    """Our SchemaRegistryClient protocol over confluent_kafka's in-process mock registry."""

    def __init__(self) -> None:
        self.client = sr.SchemaRegistryClient.new_client({"url": "mock://dictamesh-it"})

    async def register(self, subject: str, schema_str: str, schema_type: str = "AVRO") -> int:
        return int(self.client.register_schema(subject, sr.Schema(schema_str, schema_type)))

    async def get_by_id(self, schema_id: int) -> str:
        return str(self.client.get_schema(schema_id).schema_str)

    async def get_latest(self, subject: str) -> tuple[int, int, str]:
        latest = self.client.get_latest_version(subject)
        return latest.schema_id, latest.version, latest.schema.schema_str


async def test_confluent_consumer_and_deserializer_read_our_events(
    kafka_bus: KafkaBus, kafka_bootstrap: str, uid: str
) -> None:
    registry = ConfluentRegistryAdapter()
    events = change_events(f"x{uid}", 6)
    topic = events[0].topic
    await kafka_bus.ensure_topic(TopicSpec(name=topic, partitions=3))
    ours = AvroEventSerializer(registry)
    for event in events:
        value, headers = await ours.encode_async(event)
        await kafka_bus.publish(topic, value, key=event.key, headers=headers)

    records = await asyncio.to_thread(
        consume_with_librdkafka, kafka_bootstrap, topic, 6, partitions=3
    )
    assert len(records) == 6
    deserializer = sr_avro.AvroDeserializer(registry.client)
    ctx = confluent_kafka.serialization.SerializationContext(
        topic, confluent_kafka.serialization.MessageField.VALUE
    )
    by_id = {e.entity.id: e for e in events}
    for record in records:
        decoded = deserializer(record.value(), ctx)
        event = by_id[decoded["entity"]["id"]]
        assert str(decoded["event_id"]) == str(event.event_id)
        assert decoded["event_type"] == event.event_type.value
        assert record.key().decode() == event.key
        assert dict(record.headers())["content-type"] == b"application/vnd.dictamesh.avro"
        # librdkafka's murmur2 agrees with ours on where each key lives
        assert record.partition() == partition_for_key(event.key, 3)


async def test_we_read_events_from_confluent_producer_and_serializer(
    kafka_bus: KafkaBus, kafka_bootstrap: str, uid: str, poll_until: Any
) -> None:
    registry = ConfluentRegistryAdapter()
    events = change_events(f"x{uid}", 6)
    topic = events[0].topic
    await kafka_bus.ensure_topic(TopicSpec(name=topic, partitions=3))
    serializer = sr_avro.AvroSerializer(registry.client, change_event_schema_str())
    ctx = confluent_kafka.serialization.SerializationContext(
        topic, confluent_kafka.serialization.MessageField.VALUE
    )

    def produce() -> None:
        # murmur2_random = the Java client's partitioner (librdkafka's default differs)
        producer = confluent_kafka.Producer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "enable.idempotence": True,
                "partitioner": "murmur2_random",
            }
        )
        for event in events:
            producer.produce(topic, serializer(event_to_record(event), ctx), key=event.key)
        assert producer.flush(20) == 0

    await asyncio.to_thread(produce)

    ours = AvroEventSerializer(registry)
    async with kafka_bus.consumer(f"g{uid}", [topic]) as consumer:
        messages = await poll_until(consumer, 6)
    decoded = {}
    for message in messages:
        event = await ours.decode_async(message.value, message.headers)
        assert message.partition == partition_for_key(event.key, 3)
        decoded[event.entity.id] = event
    assert decoded == {e.entity.id: e for e in events}
