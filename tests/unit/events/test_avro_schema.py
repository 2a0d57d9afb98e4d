"""EntitySchema → Avro: one typed record per entity type, typed envelopes around them.

Every generated schema is also parsed by the reference implementation (the ``avro``
package) and by fastavro, so "valid Avro" is not our own opinion."""

from __future__ import annotations

import json
from typing import Any

import avro.schema
import fastavro
import pytest
from tests.unit.events.typed_avro_support import EVERY_TYPE, customer_event

from dictamesh.adapters.reference.invoices_ecommerce import EcommerceInvoicesAdapter
from dictamesh.core.bus_config import AvroTimestamps
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import Classification, EntitySchema, FieldSpec, FieldType
from dictamesh.events.avro_schema import (
    JSON_CONNECT_NAME,
    avro_name,
    change_event_value_schema,
    debezium_value_schema,
    entity_record,
    entity_records,
)
from dictamesh.events.envelopes import to_debezium


def valid(schema: dict[str, Any]) -> dict[str, Any]:
    avro.schema.parse(json.dumps(schema))  # raises SchemaParseException if not valid Avro
    fastavro.parse_schema(schema)
    return schema


def field(record: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in record["fields"] if f["name"] == name)


def test_every_field_type_gets_its_avro_type() -> None:
    record = valid(entity_record(EVERY_TYPE).schema)
    assert (record["name"], record["namespace"]) == ("everything", "io.dictamesh.entities")
    assert record["doc"] == "One field of each type."
    assert field(record, "s")["type"] == "string"  # required: no union, no default
    assert "default" not in field(record, "s")
    assert field(record, "i")["type"] == ["null", "long"]
    assert field(record, "n")["type"] == ["null", "double"]
    assert field(record, "b")["type"] == ["null", "boolean"]
    stamp = field(record, "at")["type"][1]
    assert stamp["type"] == "long"
    assert stamp["logicalType"] == "timestamp-millis"
    assert stamp["connect.name"] == "org.apache.kafka.connect.data.Timestamp"
    day = field(record, "day")["type"][1]
    assert (day["type"], day["logicalType"]) == ("int", "date")
    blob = field(record, "blob")["type"][1]
    assert (blob["type"], blob["connect.name"]) == ("string", JSON_CONNECT_NAME)
    assert field(record, "tags")["type"] == ["null", {"type": "array", "items": "string"}]
    for name in ("i", "n", "b", "at", "day", "blob", "tags"):  # optional: null by default
        assert field(record, name)["default"] is None
        assert field(record, name)["type"][0] == "null"  # null first, or the default is wrong


def test_micros_timestamps_when_asked() -> None:
    record = entity_record(EVERY_TYPE, timestamps=AvroTimestamps.MICROS).schema
    assert field(record, "at")["type"][1] == {"type": "long", "logicalType": "timestamp-micros"}


def test_docs_and_classification_come_from_the_entity_schema() -> None:
    record = entity_record(EVERY_TYPE).schema
    assert field(record, "s")["doc"] == "a required string"
    assert "doc" not in field(record, "i")
    assert field(record, "s")["dictamesh_classification"] == Classification.PII_EMAIL.value
    assert "dictamesh_classification" not in field(record, "i")


def test_nested_object_lists_are_arrays_of_their_own_records() -> None:
    schema = EcommerceInvoicesAdapter.schema
    record = valid(entity_record(schema).schema)
    items = field(record, "items")
    assert items["default"] is None
    inner = items["type"][1]["items"]
    assert inner["name"] == "items"
    assert inner["namespace"] == "io.dictamesh.entities.invoice"
    assert field(inner, "quantity")["type"] == "long"  # required in the nested schema
    assert field(inner, "unit_price")["type"] == ["null", "double"]


@pytest.mark.parametrize(
    ("text", "legal"),
    [
        ("email", "email"),
        ("first-name", "first_name"),
        ("9lives", "_9lives"),
        ("", "_"),
        ("a.b c", "a_b_c"),
        ("_ok", "_ok"),
    ],
)
def test_avro_names(text: str, legal: str) -> None:
    assert avro_name(text) == legal


def test_names_that_collide_once_made_legal_are_refused() -> None:
    # pydantic would refuse these names; model_construct stands in for a schema built by hand
    schema = EntitySchema.model_construct(
        entity_type="thing",
        domain="d",
        version=1,
        description=None,
        fields=[
            FieldSpec.model_construct(
                name="a-b",
                type=FieldType.STRING,
                required=False,
                many=False,
                description=None,
                classification=Classification.PUBLIC,
            ),
            FieldSpec.model_construct(
                name="a_b",
                type=FieldType.STRING,
                required=False,
                many=False,
                description=None,
                classification=Classification.PUBLIC,
            ),
        ],
        relationships=[],
        nested={},
    )
    with pytest.raises(ConfigurationError, match="'a-b' and 'a_b' both become"):
        entity_record(schema)


def test_one_entity_type_makes_a_nullable_record_before_and_after() -> None:
    records = entity_records([EVERY_TYPE])
    schema = valid(change_event_value_schema(records))
    assert schema["name"] == "ChangeEvent"
    assert schema["namespace"] == "io.dictamesh.events"
    before, after = field(schema, "before"), field(schema, "after")
    assert before["type"][0] == "null"
    assert before["type"][1]["name"] == "everything"
    assert after["type"] == ["null", "io.dictamesh.entities.everything"]  # defined once
    assert before["default"] is None
    assert after["default"] is None
    names = [f["name"] for f in schema["fields"]]
    assert names == [
        "event_id",
        "event_type",
        "timestamp",
        "entity",
        "source",
        "changed_fields",
        "before",
        "after",
        "tenant_id",
        "trace_context",
        "schema_version",
    ]


def test_several_entity_types_on_one_topic_make_a_union() -> None:
    other = EVERY_TYPE.model_copy(update={"entity_type": "another"})
    records = entity_records([EVERY_TYPE, other, EVERY_TYPE])  # a repeat is the same type
    assert [r.entity_type for r in records] == ["another", "everything"]
    schema = valid(change_event_value_schema(records))
    assert field(schema, "after")["type"] == [
        "null",
        "io.dictamesh.entities.another",
        "io.dictamesh.entities.everything",
    ]


def test_two_schemas_for_one_type_or_none_at_all_are_refused() -> None:
    changed = EVERY_TYPE.model_copy(update={"description": "something else"})
    with pytest.raises(ConfigurationError, match="two different schemas"):
        entity_records([EVERY_TYPE, changed])
    with pytest.raises(ConfigurationError, match="at least one"):
        entity_records([])


def test_an_entity_type_named_like_an_envelope_record_cannot_clash() -> None:
    # entity records live in their own namespace: 'source' is not the envelope's SourceRef
    clash = EVERY_TYPE.model_copy(update={"entity_type": "source"})
    valid(change_event_value_schema(entity_records([clash])))
    valid(debezium_value_schema(entity_records([clash])))


def test_debezium_value_schema_has_debeziums_envelope_fields() -> None:
    schema = valid(debezium_value_schema(entity_records([EVERY_TYPE])))
    assert schema["name"] == "Envelope"
    assert [f["name"] for f in schema["fields"]] == [
        "before",
        "after",
        "source",
        "op",
        "ts_ms",
        "transaction",
    ]
    assert field(schema, "before")["type"][0] == "null"
    assert field(schema, "transaction")["default"] is None
    source_fields = {f["name"] for f in field(schema, "source")["type"]["fields"]}
    # every key to_debezium puts in 'source' has a field, and no more
    assert source_fields == set(to_debezium(customer_event())["source"])
