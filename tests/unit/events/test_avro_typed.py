"""TypedAvroEventSerializer: typed values in, the same event out; what does not fit is refused.

The raw records are also read with plain fastavro and the registered writer schema (what any
Avro consumer does), to see the fields really are typed, not text."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from tests.unit.events.typed_avro_support import (
    CUSTOMER,
    EVERY_TYPE,
    TOPIC,
    customer_event,
    full,
)

from dictamesh.core.bus_config import AvroTimestamps, Envelope
from dictamesh.core.errors import ConfigurationError, SerializationError
from dictamesh.core.models import ChangeEvent, EventType, FieldType, TraceContext
from dictamesh.events.avro import AvroEventSerializer
from dictamesh.events.avro_typed import TypedAvroEventSerializer, schema_changes
from dictamesh.events.schema_registry import InMemorySchemaRegistry
from dictamesh.events.wire import unframe


async def typed(
    *schemas: Any,
    envelope: Envelope = Envelope.DICTAMESH,
    registry: InMemorySchemaRegistry | None = None,
    timestamps: AvroTimestamps = AvroTimestamps.MILLIS,
) -> TypedAvroEventSerializer:
    serializer = TypedAvroEventSerializer(
        registry or InMemorySchemaRegistry(), timestamps=timestamps
    )
    await serializer.register_topic(TOPIC, schemas or [CUSTOMER], envelope)
    return serializer


async def raw(serializer: TypedAvroEventSerializer, value: bytes) -> dict[str, Any]:
    """The record as a plain Avro reader sees it, with the registered writer schema."""
    schema_id, payload = unframe(value)
    writer = fastavro.parse_schema(json.loads(await serializer.registry.get_by_id(schema_id)))
    record = fastavro.schemaless_reader(
        io.BytesIO(payload),
        writer,
        None,
        return_record_name=True,
        return_record_name_override=True,
    )
    assert isinstance(record, dict)
    return record


def expected(event: ChangeEvent, schema: Any = CUSTOMER) -> ChangeEvent:
    """``event`` as decoded: attributes with every field of the schema (Avro has no absent)."""
    return event.model_copy(
        update={
            "before": None if event.before is None else full(schema, event.before),
            "after": None if event.after is None else full(schema, event.after),
        }
    )


@pytest.mark.parametrize("event_type", list(EventType))
async def test_round_trip_of_each_event_type(event_type: EventType) -> None:
    serializer = await typed()
    before = {"email": "old@example.org", "age": 35}
    event = customer_event(
        event_type, before=None if event_type is EventType.CREATED else before
    ).model_copy(update={"trace_context": TraceContext(trace_id="a" * 32, span_id="b" * 16)})
    value, headers = serializer.encode(event)
    assert headers["content-type"] == b"application/vnd.dictamesh.avro"
    assert serializer.decode(value, headers) == expected(event)


async def test_fields_are_typed_in_the_record() -> None:
    serializer = await typed()
    value, _ = serializer.encode(customer_event())
    record = await raw(serializer, value)
    after = record["after"]
    assert after["email"] == "ada@example.org"
    assert after["age"] == 36
    assert isinstance(after["age"], int)
    assert after["since"] == datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    assert json.loads(after["address"]) == {"city": "London", "lines": ["1 Main St"]}
    assert record["before"] is None
    assert record["event_type"] == "CREATED"
    assert record["entity"] == {"type": "customer", "id": "c-1", "version": 2}


async def test_every_field_type_round_trips() -> None:
    serializer = await typed(EVERY_TYPE)
    attributes = {
        "s": "text",
        "i": 42,
        "n": 1.5,
        "b": False,
        "at": datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=timezone(timedelta(hours=2))),
        "day": date(2024, 2, 29),
        "blob": {"nested": [1, "two", None, {"x": True}]},
        "tags": ["a", "b"],
    }
    event = customer_event(entity_type="everything", **attributes)
    decoded = serializer.decode(*serializer.encode(event))
    assert decoded.after == {
        **attributes,
        "at": "2024-02-29T21:59:59.999Z",  # the same instant, in UTC, as the JSON text
        "day": "2024-02-29",
    }
    record = (await raw(serializer, serializer.encode(event)[0]))["after"]
    assert record["i"] == 42
    assert record["n"] == 1.5
    assert record["b"] is False
    assert record["day"] == date(2024, 2, 29)
    assert record["tags"] == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "given", "written"),
    [
        ("i", 3.0, 3),  # a whole float is an integer
        ("i", Decimal("7"), 7),
        ("n", 2, 2.0),
        ("n", Decimal("0.1"), 0.1),  # the double that reads back as the same decimal
        ("at", "2024-01-01T00:00:00", datetime(2024, 1, 1, tzinfo=UTC)),  # naive is UTC
        ("at", "2024-01-01T01:00:00+01:00", datetime(2024, 1, 1, tzinfo=UTC)),
        ("day", "2024-12-31", date(2024, 12, 31)),
        ("blob", "just a string", '"just a string"'),  # JSON of any value
        ("blob", {"when": datetime(2024, 1, 1, tzinfo=UTC)}, '{"when":"2024-01-01T00:00:00Z"}'),
    ],
)
async def test_values_are_coerced_without_loss(name: str, given: Any, written: Any) -> None:
    serializer = await typed(EVERY_TYPE)
    event = customer_event(entity_type="everything", s="x", **{name: given})
    assert (await raw(serializer, serializer.encode(event)[0]))["after"][name] == written


@pytest.mark.parametrize(
    ("attributes", "field", "why"),
    [
        ({"s": 5}, "after.s", "must be a string"),
        ({}, "after.s", "is required"),
        ({"s": None}, "after.s", "is required"),
        ({"s": "x", "i": "12"}, "after.i", "whole number"),
        ({"s": "x", "i": 1.5}, "after.i", "whole number"),
        ({"s": "x", "i": True}, "after.i", "whole number"),
        ({"s": "x", "i": 2**64}, "after.i", "64-bit"),
        ({"s": "x", "n": "1.5"}, "after.n", "must be a number"),
        ({"s": "x", "n": True}, "after.n", "not bool"),
        ({"s": "x", "n": 2**60 + 1}, "after.n", "cannot hold exactly"),
        ({"s": "x", "n": Decimal("0.10000000000000000001")}, "after.n", "cannot hold exactly"),
        ({"s": "x", "b": "true"}, "after.b", "must be a boolean"),
        ({"s": "x", "at": "yesterday"}, "after.at", "not an ISO 8601 datetime"),
        ({"s": "x", "at": 1700000000}, "after.at", "must be a datetime"),
        ({"s": "x", "at": "2024-01-01T00:00:00.123456Z"}, "after.at", "sub-millisecond"),
        ({"s": "x", "day": "2024-02-30"}, "after.day", "not an ISO 8601 date"),
        ({"s": "x", "day": datetime(2024, 1, 1)}, "after.day", "not a datetime"),
        ({"s": "x", "blob": object()}, "after.blob", "cannot be written as JSON"),
        ({"s": "x", "tags": "a,b"}, "after.tags", "must be a list"),
        ({"s": "x", "tags": ["a", None]}, "after.tags[1]", "cannot be"),
        ({"s": "x", "tags": ["a", 2]}, "after.tags[1]", "must be a string"),
        ({"s": "x", "nickname": "Ada"}, "after.nickname", "not a field of entity type"),
    ],
)
async def test_what_the_record_cannot_hold_is_refused_naming_the_field(
    attributes: dict[str, Any], field: str, why: str
) -> None:
    serializer = await typed(EVERY_TYPE)
    event = customer_event(entity_type="everything").model_copy(update={"after": attributes})
    with pytest.raises(SerializationError, match=why) as caught:
        serializer.encode(event)
    assert caught.value.details["field"] == field
    assert repr(field) in caught.value.message


async def test_before_is_checked_too() -> None:
    serializer = await typed()
    event = customer_event(EventType.UPDATED, before={"email": 1})
    with pytest.raises(SerializationError, match=r"'before\.email'"):
        serializer.encode(event)


async def test_nested_object_lists_are_records() -> None:
    from dictamesh.adapters.reference.invoices_ecommerce import EcommerceInvoicesAdapter

    schema = EcommerceInvoicesAdapter.schema
    serializer = await typed(schema)
    item = {"id": "l-1", "product_id": "p-1", "quantity": 2, "unit_price": 1.25}
    attributes = {"id": "i-1", "invoice_number": "7", "customer_id": "c-1", "items": [item]}
    event = customer_event(entity_type="invoice", **attributes)
    record = (await raw(serializer, serializer.encode(event)[0]))["after"]
    assert record["items"] == [{**item, "line_total": None}]
    bad = {**attributes, "items": [{**item, "quantity": "two"}]}
    with pytest.raises(SerializationError, match=r"'after\.items\[0\]\.quantity'"):
        serializer.encode(event.model_copy(update={"after": bad}))


async def test_microsecond_timestamps_with_micros() -> None:
    serializer = await typed(EVERY_TYPE, timestamps=AvroTimestamps.MICROS)
    event = customer_event(entity_type="everything", s="x", at="2024-01-01T00:00:00.123456Z")
    decoded = serializer.decode(*serializer.encode(event))
    assert decoded.after is not None
    assert decoded.after["at"] == "2024-01-01T00:00:00.123456Z"


async def test_debezium_envelope_round_trip_and_shape() -> None:
    serializer = await typed(envelope=Envelope.DEBEZIUM)
    event = customer_event(EventType.UPDATED, before={"email": "old@example.org", "age": 35})
    value, headers = serializer.encode_debezium(event, ts_ms=1_700_000_000_000)
    assert serializer.decode(value, headers) == expected(event)
    record = await raw(serializer, value)
    assert record["op"] == "u"
    assert record["ts_ms"] == 1_700_000_000_000
    assert record["transaction"] is None
    assert record["before"]["age"] == 35
    assert record["after"]["age"] == 36
    source = record["source"]
    assert (source["db"], source["table"], source["entity_id"]) == ("crm", "customer", "c-1")
    assert source["event_id"] == str(event.event_id)
    deleted = customer_event(EventType.DELETED, before={"email": "old@example.org"})
    record = await raw(serializer, serializer.encode_debezium(deleted)[0])
    assert record["op"] == "d"
    assert record["after"] is None


async def test_a_topic_carries_one_envelope() -> None:
    debezium = await typed(envelope=Envelope.DEBEZIUM)
    with pytest.raises(SerializationError, match="carries the debezium envelope"):
        debezium.encode(customer_event())
    dictamesh = await typed()
    with pytest.raises(SerializationError, match="carries the dictamesh envelope"):
        dictamesh.encode_debezium(customer_event())
    with pytest.raises(SerializationError, match="register_topic"):
        TypedAvroEventSerializer(InMemorySchemaRegistry()).encode(customer_event())


async def test_several_entity_types_on_one_topic() -> None:
    serializer = await typed(CUSTOMER, EVERY_TYPE)
    customer = customer_event()
    thing = customer_event(entity_type="everything", entity_id="e-1", s="x", i=1)
    for event, schema, name in (
        (customer, CUSTOMER, "customer"),
        (thing, EVERY_TYPE, "everything"),
    ):
        value, headers = serializer.encode(event)
        assert serializer.decode(value, headers) == expected(event, schema)
        record = (await raw(serializer, value))["after"]
        assert record[0] == f"io.dictamesh.entities.{name}"  # the union branch, by name
    stranger = customer_event(entity_type="supplier")
    with pytest.raises(SerializationError, match="'supplier' has no record"):
        serializer.encode(stranger)


async def test_generic_avro_events_still_decode() -> None:
    registry = InMemorySchemaRegistry()
    generic = AvroEventSerializer(registry)
    event = customer_event(EventType.UPDATED, before={"email": "old@example.org"})
    value, headers = await generic.encode_async(event)
    reader = await typed(registry=registry)
    with pytest.raises(SerializationError, match="not cached"):
        reader.decode(value, headers)  # another schema id: resolve first
    await reader.resolve(value)
    assert reader.decode(value, headers) == event  # attributes as they were, untyped


async def test_values_of_an_older_version_decode_by_their_own_schema() -> None:
    registry = InMemorySchemaRegistry()
    v1 = await typed(registry=registry)
    event = customer_event()
    value, headers = v1.encode(event)
    grown = CUSTOMER.model_copy(
        update={"fields": [*CUSTOMER.fields, CUSTOMER.fields[1].model_copy(update={"name": "n"})]}
    )
    v2 = await typed(grown, registry=registry)
    assert v2.schema_id_for_topic(TOPIC) != v1.schema_id_for_topic(TOPIC)
    decoded = await v2.decode_async(value, headers)
    assert decoded == expected(event)  # v1's fields, as v1 wrote them
    new_value, new_headers = v2.encode(event)
    assert (await v1.decode_async(new_value, new_headers)).after == {
        **full(CUSTOMER, event.after or {}),
        "n": None,
    }


async def test_garbage_is_a_serialization_error() -> None:
    serializer = await typed()
    value, headers = serializer.encode(customer_event())
    for bad in (value[:-3], value + b"\x00", b"\x00\x00\x00\x00\x01", b"{}"):
        with pytest.raises(SerializationError):
            serializer.decode(bad, headers)
    with pytest.raises(SerializationError, match="as Avro"):
        serializer.decode(value, {"content-type": b"application/json"})


async def test_event_ids_and_timestamps_survive() -> None:
    serializer = await typed()
    event = customer_event().model_copy(
        update={"event_id": uuid.UUID(int=7), "timestamp": 1_700_000_000_123}
    )
    decoded = serializer.decode(*serializer.encode(event))
    assert (decoded.event_id, decoded.timestamp) == (uuid.UUID(int=7), 1_700_000_000_123)


def test_schema_changes_name_the_fields() -> None:
    serializer = TypedAvroEventSerializer(InMemorySchemaRegistry())
    old = serializer.value_schema([CUSTOMER])
    required = CUSTOMER.model_copy(
        update={
            "fields": [
                *CUSTOMER.fields,
                CUSTOMER.fields[0].model_copy(update={"name": "country"}),
            ]
        }
    )
    assert schema_changes(old, serializer.value_schema([required])) == [
        "customer.country: added without a default (required)"
    ]
    retyped = CUSTOMER.model_copy(
        update={
            "fields": [
                CUSTOMER.fields[0],
                CUSTOMER.fields[1].model_copy(update={"type": FieldType.STRING}),
                *CUSTOMER.fields[2:],
            ]
        }
    )
    assert schema_changes(old, serializer.value_schema([retyped])) == [
        'customer.age: type ["null","long"] → ["null","string"]'
    ]
    optional = CUSTOMER.model_copy(
        update={"fields": [*CUSTOMER.fields, CUSTOMER.fields[1].model_copy(update={"name": "x"})]}
    )
    assert schema_changes(old, serializer.value_schema([optional])) == []
    other = serializer.value_schema([EVERY_TYPE])
    assert "record removed: io.dictamesh.entities.customer" in schema_changes(old, other)


async def test_a_refusal_names_the_subject_and_the_field() -> None:
    def refuse_all(previous: list[str], new: str) -> str | None:
        return "reader union lacking writer type: RECORD"  # what the registry says

    registry = InMemorySchemaRegistry(compatible=refuse_all)
    await typed(registry=registry)
    required = CUSTOMER.model_copy(
        update={"fields": [*CUSTOMER.fields, CUSTOMER.fields[0].model_copy(update={"name": "vat"})]}
    )
    with pytest.raises(ConfigurationError) as caught:
        await typed(required, registry=registry)
    message = caught.value.message
    assert f"'{TOPIC}-value'" in message
    assert "customer.vat: added without a default (required)" in message
    assert "reader union lacking writer type" in message  # the registry's own words too
    assert caught.value.details["subject"] == f"{TOPIC}-value"
