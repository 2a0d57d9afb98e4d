"""Typed Avro on a real broker, read by Confluent's own deserializer.

A node with ``bus.serialization: avro`` on Kafka registers its topic's value schema in its
own catalog and serves it at ``/schema-registry``; confluent-kafka's ``AvroDeserializer``
with a ``SchemaRegistryClient`` pointed there reads the records with real typed fields. The
Debezium-typed envelope is read the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.integration.confluent_support import consume_with_librdkafka
from tests.unit.gateway.fakes import MemoryRegistry

from dictamesh._serving import serve_in_process
from dictamesh.api import ApiContext, create_app
from dictamesh.catalog import CatalogService
from dictamesh.core.bus_config import Envelope
from dictamesh.core.errors import EntityNotFound
from dictamesh.core.models import (
    ChangeEvent,
    Entity,
    EntitySchema,
    EventType,
    FieldSpec,
    FieldType,
    SourceRef,
)
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.avro_typed import TypedAvroEventSerializer
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.schema_registry import HttpSchemaRegistryClient
from dictamesh.events.topics import TopicSpec
from dictamesh.node import MeshNode
from dictamesh.testing.adapters import WIDGET_SCHEMA, FakeAdapter

pytestmark = pytest.mark.kafka

confluent_kafka = pytest.importorskip("confluent_kafka")
sr = pytest.importorskip(
    "confluent_kafka.schema_registry", reason="needs confluent-kafka[schemaregistry] (dev extra)"
)
sr_avro = pytest.importorskip("confluent_kafka.schema_registry.avro")
serialization = pytest.importorskip("confluent_kafka.serialization")

GADGET = WIDGET_SCHEMA.model_copy(
    update={
        "fields": [
            *WIDGET_SCHEMA.fields,
            FieldSpec(name="weight", type=FieldType.NUMBER),
            FieldSpec(name="made_at", type=FieldType.DATETIME),
            FieldSpec(name="specs", type=FieldType.JSON),
        ]
    }
)


def value_ctx(topic: str) -> Any:
    return serialization.SerializationContext(topic, serialization.MessageField.VALUE)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except (AssertionError, EntityNotFound):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


def adapter_for(uid: str, schema: EntitySchema, records: list[dict[str, Any]]) -> FakeAdapter:
    """A fake adapter on a topic of its own (the broker is shared by every test run)."""
    cls = type("Gadgets", (FakeAdapter,), {"source": SourceRef(domain="it", system=f"k{uid}")})
    adapter = cls(records=records)
    adapter.schema = schema
    return adapter


async def test_confluent_deserializer_reads_a_nodes_typed_records(
    tmp_path: Path, kafka_bootstrap: str, kafka_bus: KafkaBus, uid: str
) -> None:
    made_at = "2026-03-04T05:06:07.890Z"
    adapter = adapter_for(
        uid,
        GADGET,
        [
            {
                "id": "g-1",
                "name": "Gear",
                "size": 7,
                "tags": ["a", "b"],
                "weight": 0.25,
                "made_at": made_at,
                "specs": {"teeth": 12},
            }
        ],
    )
    settings = DictaMeshSettings.from_mapping(
        {
            "node_name": f"typed{uid}",
            "state_dir": str(tmp_path),
            "bus": {
                "backend": "kafka",
                "kafka_bootstrap": kafka_bootstrap,
                "serialization": "avro",
            },
            "catalog": {"url": f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}"},
            "saga": {"enabled": False},
            "notifications": {"enabled": False},
        }
    )
    topic = f"it.k{uid}.entity_changed"
    node = MeshNode(settings, adapters=[adapter], ingest_group=f"ingest-{uid}")
    async with node, serve_in_process(node.asgi_app(), "127.0.0.1", 0, what="node") as base:

        async def ingested() -> None:
            location = await node.catalog.get_entity_location("widget", "g-1")
            assert location.attributes["size"] == 7

        await eventually(ingested)  # the node reads its own Avro from Kafka
        partitions = len(await node.bus.partitions_for(topic))  # type: ignore[attr-defined]
        records = await asyncio.to_thread(
            consume_with_librdkafka, kafka_bootstrap, topic, 1, partitions=partitions
        )
        client = sr.SchemaRegistryClient({"url": f"{base}/schema-registry"})
        try:
            deserializer = sr_avro.AvroDeserializer(client)
            decoded = await asyncio.to_thread(deserializer, records[0].value(), value_ctx(topic))
        finally:
            client.close()
    after = decoded["after"]
    assert after["name"] == "Gear"
    assert isinstance(after["name"], str)
    assert after["size"] == 7
    assert isinstance(after["size"], int)
    assert after["weight"] == 0.25
    assert after["tags"] == ["a", "b"]
    assert after["made_at"] == datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    assert after["specs"] == '{"teeth":12}'  # JSON fields stay JSON text
    assert after["color"] is None
    assert decoded["before"] is None
    assert decoded["event_type"] == "CREATED"
    assert decoded["entity"] == {"type": "widget", "id": "g-1", "version": 1}


async def test_confluent_deserializer_reads_debezium_typed_records(
    sqlite_catalog_url: str, kafka_bootstrap: str, kafka_bus: KafkaBus, uid: str
) -> None:
    source = SourceRef(domain="it", system=f"d{uid}")
    topic = f"it.d{uid}.entity_changed"
    await kafka_bus.ensure_topic(TopicSpec(name=topic, partitions=1))
    async with (
        await CatalogService.open(sqlite_catalog_url) as catalog,
        serve_in_process(
            create_app(ApiContext(registry=MemoryRegistry([]), catalog=catalog)),
            "127.0.0.1",
            0,
            what="schema registry",
        ) as base,
        HttpSchemaRegistryClient(f"{base}/schema-registry") as registry,
    ):
        ours = TypedAvroEventSerializer(registry)
        await ours.register_topic(topic, [GADGET], Envelope.DEBEZIUM)
        entity = Entity(
            type="widget",
            id="g-2",
            version=3,
            source=source,
            attributes={"name": "Cog", "size": 9, "made_at": "2026-01-01T00:00:00Z"},
        )
        event = ChangeEvent.for_change(EventType.UPDATED, entity, before={"name": "Cog", "size": 8})
        value, headers = ours.encode_debezium(event)
        await kafka_bus.publish(topic, value, key=event.key, headers=headers)
        records = await asyncio.to_thread(consume_with_librdkafka, kafka_bootstrap, topic, 1)
        client = sr.SchemaRegistryClient({"url": f"{base}/schema-registry"})
        try:
            deserializer = sr_avro.AvroDeserializer(client)
            decoded = await asyncio.to_thread(deserializer, records[0].value(), value_ctx(topic))
        finally:
            client.close()
        # and back to the same event through our own decoder
        assert ours.decode(records[0].value(), dict(records[0].headers())).after == {
            **dict.fromkeys(s.name for s in GADGET.fields),
            **entity.attributes,
        }
    assert decoded["op"] == "u"
    assert decoded["before"]["size"] == 8
    assert decoded["after"]["size"] == 9
    assert isinstance(decoded["after"]["size"], int)
    assert decoded["after"]["made_at"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert decoded["source"]["table"] == "widget"
    assert decoded["source"]["entity_id"] == "g-2"
    assert decoded["source"]["entity_version"] == 3
    assert decoded["transaction"] is None
