"""Avro encoding of ChangeEvent: schema, registry-backed framing, evolution, interop."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dictamesh.core.errors import SerializationError
from dictamesh.core.models import (
    ChangeEvent,
    Entity,
    EventType,
    SourceRef,
    TraceContext,
)
from dictamesh.events.avro import (
    AVRO_CONTENT_TYPE,
    CHANGE_EVENT_AVRO_SCHEMA,
    AvroEventSerializer,
    RecordNameStrategy,
    TopicNameStrategy,
    TopicRecordNameStrategy,
    change_event_schema_str,
    event_to_record,
)
from dictamesh.events.schema_registry import InMemorySchemaRegistry
from dictamesh.events.serde import JsonEventSerializer, Serializer
from dictamesh.events.wire import HEADER_SIZE, frame, unframe

TOPIC = "customers.directus.entity_changed"
SUBJECT = f"{TOPIC}-value"


def make_event(event_type: EventType = EventType.UPDATED, **extra: Any) -> ChangeEvent:
    entity = Entity(
        type="customer",
        id="c-1",
        version=3,
        attributes={"email": "a@b.io", "tags": ["x", "y"], "score": 1.5, "vip": True},
        source=SourceRef(domain="customers", system="directus"),
        tenant_id="acme",
    )
    return ChangeEvent.for_change(event_type, entity, before={"email": "old@b.io"}, **extra)


@pytest.fixture
def registry() -> InMemorySchemaRegistry:
    return InMemorySchemaRegistry()


@pytest.fixture
def serde(registry: InMemorySchemaRegistry) -> AvroEventSerializer:
    return AvroEventSerializer(registry)


# -- the schema ----------------------------------------------------------------------------


def test_schema_is_valid_avro_with_the_promised_shape() -> None:
    parsed: Any = fastavro.parse_schema(json.loads(change_event_schema_str()))
    assert parsed["name"] == "io.dictamesh.events.ChangeEvent"
    fields = {f["name"]: f["type"] for f in CHANGE_EVENT_AVRO_SCHEMA["fields"]}
    assert fields["event_id"] == {"type": "string", "logicalType": "uuid"}
    assert fields["timestamp"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert fields["event_type"]["type"] == "enum"
    assert fields["event_type"]["symbols"] == [e.value for e in EventType]
    assert fields["before"] == ["null", "string"]
    assert fields["after"] == ["null", "string"]


def test_schema_covers_every_change_event_field() -> None:
    avro_fields = {f["name"] for f in CHANGE_EVENT_AVRO_SCHEMA["fields"]}
    assert avro_fields == set(ChangeEvent.model_fields)


# -- round trips ---------------------------------------------------------------------------


async def test_roundtrip_full_event(serde: AvroEventSerializer) -> None:
    event = make_event(trace_context=TraceContext(trace_id="a" * 32, span_id="b" * 16))
    value, headers = await serde.encode_async(event)
    assert await serde.decode_async(value, headers) == event
    assert serde.decode(value, headers) == event


@pytest.mark.parametrize("event_type", list(EventType))
async def test_roundtrip_each_event_type(serde: AvroEventSerializer, event_type: EventType) -> None:
    event = make_event(event_type)
    value, _ = await serde.encode_async(event)
    decoded = await serde.decode_async(value)
    assert decoded == event
    if event_type is EventType.DELETED:
        assert decoded.after is None


async def test_minimal_event_with_nulls(serde: AvroEventSerializer) -> None:
    event = ChangeEvent(
        event_type=EventType.CREATED,
        entity={"type": "product", "id": "p-9", "version": 0},
        source=SourceRef(domain="products", system="thirdparty"),
    )
    value, _ = await serde.encode_async(event)
    assert await serde.decode_async(value) == event


async def test_attributes_decode_like_the_json_serializer(serde: AvroEventSerializer) -> None:
    # Non-JSON-native attribute values (datetimes, decimals) become the same JSON text as
    # with JsonEventSerializer, so a consumer sees the same event whatever the format.
    entity = Entity(
        type="invoice",
        id="i-1",
        attributes={"issued": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "total": Decimal("9.90")},
        source=SourceRef(domain="invoices", system="ecommerce"),
    )
    event = ChangeEvent.for_change(EventType.CREATED, entity)
    value, _ = await serde.encode_async(event)
    json_serde = JsonEventSerializer()
    assert await serde.decode_async(value) == json_serde.decode(json_serde.encode(event)[0])


json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    before=st.none() | st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    after=st.none() | st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    timestamp=st.integers(min_value=0, max_value=2**41),
    version=st.integers(min_value=0, max_value=2**62),
)
def test_roundtrip_property(
    before: dict[str, Any] | None, after: dict[str, Any] | None, timestamp: int, version: int
) -> None:
    registry = InMemorySchemaRegistry()
    serde = AvroEventSerializer(registry)
    event = ChangeEvent(
        event_type=EventType.UPDATED,
        timestamp=timestamp,
        entity={"type": "customer", "id": "c-1", "version": version},
        source=SourceRef(domain="customers", system="directus"),
        before=before,
        after=after,
        changed_fields=sorted((before or {}).keys()),
    )
    asyncio.run(serde.prepare([TOPIC]))  # hypothesis drives sync tests: prepare, then no I/O
    value, headers = serde.encode(event)
    assert serde.decode(value, headers) == event


# -- registry use and caching --------------------------------------------------------------


async def test_registers_under_topic_value_subject(
    serde: AvroEventSerializer, registry: InMemorySchemaRegistry
) -> None:
    value, _ = await serde.encode_async(make_event())
    schema_id, _payload = unframe(value)
    assert registry.subjects() == [SUBJECT]
    latest_id, version, schema_str = await registry.get_latest(SUBJECT)
    assert (latest_id, version) == (schema_id, 1)
    assert json.loads(schema_str) == CHANGE_EVENT_AVRO_SCHEMA


async def test_one_global_id_for_the_same_schema_on_two_topics(
    serde: AvroEventSerializer, registry: InMemorySchemaRegistry
) -> None:
    ids = await serde.prepare([TOPIC, "products.thirdparty.entity_changed"])
    assert len(set(ids.values())) == 1
    assert registry.subjects() == [SUBJECT, "products.thirdparty.entity_changed-value"]


@pytest.mark.parametrize(
    ("strategy", "subject"),
    [
        (TopicNameStrategy, SUBJECT),
        (RecordNameStrategy, "io.dictamesh.events.ChangeEvent"),
        (TopicRecordNameStrategy, f"{TOPIC}-io.dictamesh.events.ChangeEvent"),
    ],
)
async def test_subject_strategies(
    registry: InMemorySchemaRegistry, strategy: Any, subject: str
) -> None:
    serde = AvroEventSerializer(registry, strategy)
    await serde.prepare([TOPIC])
    assert registry.subjects() == [subject]


async def test_encode_and_decode_do_no_io_after_prepare(
    serde: AvroEventSerializer, registry: InMemorySchemaRegistry
) -> None:
    await serde.prepare([TOPIC])
    calls = registry.calls
    for _ in range(5):
        value, headers = serde.encode(make_event())
        serde.decode(value, headers)
        await serde.decode_async(value, headers)
        await serde.encode_async(make_event())
    assert registry.calls == calls


def test_sync_encode_without_prepare_says_what_to_do(serde: AvroEventSerializer) -> None:
    with pytest.raises(SerializationError, match=r"prepare\(\[topic\]\)"):
        serde.encode(make_event())


async def test_sync_decode_of_foreign_schema_id_needs_resolve(
    registry: InMemorySchemaRegistry,
) -> None:
    event = make_event()
    value, headers = await AvroEventSerializer(registry).encode_async(event)
    reader = AvroEventSerializer(registry)  # a fresh process: nothing cached
    with pytest.raises(SerializationError, match="not cached"):
        reader.decode(value, headers)
    assert await reader.resolve(value) == unframe(value)[0]
    assert reader.decode(value, headers) == event


async def test_schema_parse_is_cached_per_id(registry: InMemorySchemaRegistry) -> None:
    writer = AvroEventSerializer(registry)
    value, _ = await writer.encode_async(make_event())
    reader = AvroEventSerializer(registry)
    await reader.decode_async(value)
    calls = registry.calls
    await reader.decode_async(value)
    await reader.decode_async(value)
    assert registry.calls == calls


def test_implements_the_serializer_protocol(serde: AvroEventSerializer) -> None:
    assert isinstance(serde, Serializer)
    assert serde.content_type == AVRO_CONTENT_TYPE == "application/vnd.dictamesh.avro"


async def test_headers_carry_content_type_and_routing_fields(serde: AvroEventSerializer) -> None:
    _, headers = await serde.encode_async(make_event())
    assert headers["content-type"] == b"application/vnd.dictamesh.avro"
    assert headers["event-type"] == b"UPDATED"
    assert headers["entity-type"] == b"customer"
    assert headers["tenant-id"] == b"acme"


# -- the bytes on the wire -----------------------------------------------------------------


async def test_framed_bytes_decode_with_plain_fastavro(
    serde: AvroEventSerializer, registry: InMemorySchemaRegistry
) -> None:
    event = make_event()
    value, _ = await serde.encode_async(event)
    assert value[0] == 0
    schema_id = int.from_bytes(value[1:HEADER_SIZE], "big")
    writer_schema = fastavro.parse_schema(json.loads(await registry.get_by_id(schema_id)))
    buf = io.BytesIO(value[HEADER_SIZE:])
    record: Any = fastavro.schemaless_reader(buf, writer_schema, None)
    assert buf.tell() == len(value) - HEADER_SIZE
    assert str(record["event_id"]) == str(event.event_id)
    assert record["event_type"] == "UPDATED"
    assert record["timestamp"] == datetime.fromtimestamp(event.timestamp / 1000, tz=UTC)
    assert record["entity"] == {"type": "customer", "id": "c-1", "version": 3}
    assert json.loads(record["after"]) == event.after
    assert json.loads(record["before"]) == event.before


async def test_plain_fastavro_bytes_decode_with_the_serializer(
    serde: AvroEventSerializer, registry: InMemorySchemaRegistry
) -> None:
    event = make_event()
    schema_id = await registry.register(SUBJECT, change_event_schema_str())
    buf = io.BytesIO()
    fastavro.schemaless_writer(
        buf, fastavro.parse_schema(CHANGE_EVENT_AVRO_SCHEMA), event_to_record(event)
    )
    assert await serde.decode_async(frame(schema_id, buf.getvalue())) == event


# -- garbage in ----------------------------------------------------------------------------


async def test_bad_values_raise_serialization_error(
    serde: AvroEventSerializer, registry: InMemorySchemaRegistry
) -> None:
    value, _ = await serde.encode_async(make_event())
    schema_id = unframe(value)[0]
    bad_values = {
        "json": b'{"event_type": "UPDATED"}',
        "short": b"\x00\x00",
        "truncated": value[:-7],
        "trailing": value + b"\x00\x01",
        "unknown id": frame(schema_id + 100, value[HEADER_SIZE:]),
        "garbage payload": frame(schema_id, b"\xff" * 12),
    }
    for name, bad in bad_values.items():
        with pytest.raises(SerializationError):
            await serde.decode_async(bad)
        if name != "unknown id":
            with pytest.raises(SerializationError):
                serde.decode(bad)


async def test_invalid_record_content_is_a_serialization_error(
    serde: AvroEventSerializer, registry: InMemorySchemaRegistry
) -> None:
    schema_id = await registry.register(SUBJECT, change_event_schema_str())
    record = event_to_record(make_event())
    for field, bad in [
        ("after", "[1, 2]"),
        ("before", "{not json"),
        ("entity", {"type": "Bad Type", "id": "x", "version": 1}),
    ]:
        buf = io.BytesIO()
        fastavro.schemaless_writer(
            buf, fastavro.parse_schema(CHANGE_EVENT_AVRO_SCHEMA), {**record, field: bad}
        )
        with pytest.raises(SerializationError):
            await serde.decode_async(frame(schema_id, buf.getvalue()))


async def test_other_content_type_header_is_refused(serde: AvroEventSerializer) -> None:
    value, _ = await serde.encode_async(make_event())
    with pytest.raises(SerializationError, match="content-type"):
        serde.decode(value, {"content-type": b"application/json"})
    # a value without the header (a foreign Confluent producer) is fine
    assert serde.decode(value, {}).entity.id == "c-1"


async def test_registry_schema_that_is_not_avro(registry: InMemorySchemaRegistry) -> None:
    schema_id = await registry.register("other-value", '{"type": "nonsense"}')
    serde = AvroEventSerializer(registry)
    with pytest.raises(SerializationError, match="not a valid Avro schema"):
        await serde.decode_async(frame(schema_id, b"\x00"))


# -- evolution -----------------------------------------------------------------------------


def _schema_without(*names: str) -> dict[str, Any]:
    return {
        **CHANGE_EVENT_AVRO_SCHEMA,
        "fields": [f for f in CHANGE_EVENT_AVRO_SCHEMA["fields"] if f["name"] not in names],
    }


async def test_older_writer_without_optional_fields_is_read_with_defaults(
    serde: AvroEventSerializer, registry: InMemorySchemaRegistry
) -> None:
    old_schema = _schema_without("trace_context", "schema_version", "tenant_id")
    schema_id = await registry.register(SUBJECT, json.dumps(old_schema))
    event = make_event()
    record = {
        k: v
        for k, v in event_to_record(event).items()
        if k in {f["name"] for f in old_schema["fields"]}
    }
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(old_schema), record)
    decoded = await serde.decode_async(frame(schema_id, buf.getvalue()))
    assert decoded == event.model_copy(update={"tenant_id": None, "schema_version": 1})


async def test_newer_writer_with_an_extra_field_is_readable(
    serde: AvroEventSerializer, registry: InMemorySchemaRegistry
) -> None:
    new_schema = {
        **CHANGE_EVENT_AVRO_SCHEMA,
        "fields": [
            *CHANGE_EVENT_AVRO_SCHEMA["fields"],
            {"name": "origin", "type": "string", "default": ""},
        ],
    }
    schema_id = await registry.register(SUBJECT, json.dumps(new_schema))
    event = make_event()
    buf = io.BytesIO()
    fastavro.schemaless_writer(
        buf, fastavro.parse_schema(new_schema), {**event_to_record(event), "origin": "x"}
    )
    assert await serde.decode_async(frame(schema_id, buf.getvalue())) == event


async def test_auto_register_off(registry: InMemorySchemaRegistry) -> None:
    serde = AvroEventSerializer(registry, auto_register=False)
    with pytest.raises(SerializationError, match="auto_register is off"):
        await serde.encode_async(make_event())
    await registry.register(SUBJECT, json.dumps(_schema_without("tenant_id")))
    with pytest.raises(SerializationError, match="not the ChangeEvent schema"):
        await serde.encode_async(make_event())
    # a re-formatted copy of the same schema counts as the same schema
    await registry.register(SUBJECT, json.dumps(CHANGE_EVENT_AVRO_SCHEMA, indent=2))
    value, _ = await serde.encode_async(make_event())
    assert (await serde.decode_async(value)).entity.id == "c-1"


# -- interop with Confluent's own serializers ----------------------------------------------


class ConfluentRegistryAdapter:
    """Our SchemaRegistryClient protocol over confluent_kafka's in-process mock registry, so
    both serializers share one registry (ids) without an HTTP server."""

    def __init__(self) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self.client = SchemaRegistryClient.new_client({"url": "mock://dictamesh"})

    async def register(self, subject: str, schema_str: str, schema_type: str = "AVRO") -> int:
        from confluent_kafka.schema_registry import Schema

        return int(self.client.register_schema(subject, Schema(schema_str, schema_type)))

    async def get_by_id(self, schema_id: int) -> str:
        return str(self.client.get_schema(schema_id).schema_str)

    async def get_latest(self, subject: str) -> tuple[int, int, str]:
        latest: Any = self.client.get_latest_version(subject)
        return latest.schema_id, latest.version, latest.schema.schema_str


@pytest.fixture
def confluent() -> ConfluentRegistryAdapter:
    pytest.importorskip(
        "confluent_kafka.schema_registry.avro",
        reason="needs confluent-kafka[schemaregistry] (dev extra)",
    )
    return ConfluentRegistryAdapter()


async def test_confluent_avro_deserializer_reads_our_bytes(
    confluent: ConfluentRegistryAdapter,
) -> None:
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    event = make_event(trace_context=TraceContext(trace_id="c" * 32, span_id="d" * 16))
    ours = AvroEventSerializer(confluent)
    value, _ = await ours.encode_async(event)

    record = AvroDeserializer(confluent.client)(
        value, SerializationContext(TOPIC, MessageField.VALUE)
    )
    assert isinstance(record, dict)
    assert str(record["event_id"]) == str(event.event_id)
    assert record["event_type"] == "UPDATED"
    assert record["entity"]["id"] == "c-1"
    assert record["trace_context"] == {"trace_id": "c" * 32, "span_id": "d" * 16}
    assert json.loads(record["after"]) == event.after


async def test_we_read_confluent_avro_serializer_bytes(confluent: ConfluentRegistryAdapter) -> None:
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    event = make_event(EventType.DELETED)
    theirs = AvroSerializer(confluent.client, change_event_schema_str())
    value = theirs(event_to_record(event), SerializationContext(TOPIC, MessageField.VALUE))
    assert value is not None
    # Confluent registered under the same subject (TopicNameStrategy) ...
    assert (await confluent.get_latest(SUBJECT))[0] == unframe(value)[0]
    # ... and our serializer, a fresh reader, fetches that schema and decodes.
    ours = AvroEventSerializer(confluent)
    assert await ours.decode_async(value) == event
    # Writing ourselves reuses Confluent's id: one schema, one id.
    mine, _ = await ours.encode_async(event)
    assert unframe(mine)[0] == unframe(value)[0]
    assert mine == value
