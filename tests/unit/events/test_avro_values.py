"""from_avro / decoder on writer schemas DictaMesh does not generate itself (another
producer's): multi-branch unions, maps, recursive records, bytes and logical types."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

import fastavro

from dictamesh.events.avro_values import decoder, from_avro

NODE = {
    "type": "record",
    "name": "ns.Node",
    "fields": [
        {"name": "label", "type": ["null", "string", "long"]},
        {"name": "seen", "type": {"type": "map", "values": {"type": "int", "logicalType": "date"}}},
        {"name": "raw", "type": "bytes"},
        {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        {"name": "next", "type": ["null", "ns.Node"], "default": None},
    ],
}


def round_trip(schema: dict[str, Any], datum: dict[str, Any]) -> tuple[Any, Any]:
    parsed = fastavro.parse_schema(schema)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, datum)
    decoded = fastavro.schemaless_reader(
        io.BytesIO(buf.getvalue()),
        parsed,
        None,
        return_record_name=True,
        return_record_name_override=True,
    )
    return parsed, decoded


def test_foreign_shapes_decode_to_json_like_values() -> None:
    datum = {
        "label": 7,
        "seen": {"a": date(2024, 1, 2)},
        "raw": b"hi",
        "at": datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=UTC),
        "next": {"label": "tail", "seen": {}, "raw": b"", "at": None, "next": None},
    }
    parsed, decoded = round_trip(NODE, datum)
    named = parsed["__named_schemas"]
    expected = {
        "label": 7,
        "seen": {"a": "2024-01-02"},
        "raw": "hi",
        "at": "2024-01-01T00:00:00.000005Z",
        "next": {"label": "tail", "seen": {}, "raw": "", "at": None, "next": None},
    }
    assert decoder(parsed, named)(decoded) == expected
    assert from_avro(decoded, parsed, named) == expected


def test_plain_fields_pass_through_untouched() -> None:
    schema = {"type": "record", "name": "P", "fields": [{"name": "s", "type": "string"}]}
    parsed, decoded = round_trip(schema, {"s": "x"})
    assert decoder("string", {})("x") == "x"
    assert decoder(parsed, parsed["__named_schemas"])(decoded) == {"s": "x"}
