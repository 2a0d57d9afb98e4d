"""Compatibility reasons name the field they are about (``field 'customer.zip'``): a
breaking change of a typed event's schema stops its adapter with an error a user can act on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dictamesh.catalog._avro_compat import avro_compatibility_reasons
from dictamesh.catalog.records import Compatibility

BACKWARD, FORWARD, FULL = Compatibility.BACKWARD, Compatibility.FORWARD, Compatibility.FULL


def order(*extra: dict[str, Any], age: Any = "int", zip_: Any = "string") -> str:
    address = {"type": "record", "name": "Address", "fields": [{"name": "zip", "type": zip_}]}
    customer = {
        "type": "record",
        "name": "Customer",
        "fields": [{"name": "age", "type": age}, {"name": "address", "type": address}],
    }
    fields = [
        {"name": "id", "type": "string"},
        {"name": "customer", "type": customer},
        *extra,
    ]
    return json.dumps({"type": "record", "name": "Order", "namespace": "shop", "fields": fields})


def reasons(new: str, old: str, level: Compatibility = BACKWARD) -> list[str]:
    return avro_compatibility_reasons(new, [old], level)


def test_adding_a_required_field_names_it() -> None:
    (reason,) = reasons(order({"name": "country", "type": "string"}), order())
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in reason
    assert "The field 'country' at path '/fields/2' in the new schema has no default" in reason
    # an optional field (nullable with a default) passes
    optional = {"name": "country", "type": ["null", "string"], "default": None}
    assert reasons(order(optional), order(), FULL) == []


def test_changing_a_field_type_names_it() -> None:
    (reason,) = reasons(order(age="string"), order())
    assert "TYPE_MISMATCH" in reason
    assert "of field 'customer.age' in the new schema" in reason
    assert "reader type: STRING not compatible with writer type: INT" in reason
    # narrowing is refused in the direction that reads the wider type
    (reason,) = reasons(order(age="long"), order(), FORWARD)
    assert "of field 'customer.age' in the old schema" in reason


def test_removing_a_required_field_names_it_for_old_readers() -> None:
    old = order({"name": "note", "type": "string"})
    (reason,) = reasons(order(), old, FORWARD)
    assert "The field 'note' at path '/fields/2' in the old schema" in reason
    assert "is missing in the new schema" in reason


@pytest.mark.parametrize(
    ("old_zip", "new_zip", "error_type", "fragment"),
    [
        ("string", "int", "TYPE_MISMATCH", "of field 'customer.address.zip'"),
        ("string", ["null", "int"], "MISSING_UNION_BRANCH", "union field 'customer.address.zip'"),
        (
            {"type": "enum", "name": "Z", "symbols": ["A", "B"]},
            {"type": "enum", "name": "Z", "symbols": ["A"]},
            "MISSING_ENUM_SYMBOLS",
            "'[B]' of field 'customer.address.zip'",
        ),
        (
            {"type": "fixed", "name": "Z", "size": 4},
            {"type": "fixed", "name": "Z", "size": 8},
            "FIXED_SIZE_MISMATCH",
            "FIXED type of field 'customer.address.zip'",
        ),
        (
            {"type": "fixed", "name": "Z", "size": 4},
            {"type": "fixed", "name": "Y", "size": 4},
            "NAME_MISMATCH",
            "schema of field 'customer.address.zip' has changed",
        ),
        (
            {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
            {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 4},
            "TYPE_MISMATCH",
            "DECIMAL(10,4) not compatible with writer type: DECIMAL(10,2)",
        ),
    ],
)
def test_every_kind_of_reason_names_the_nested_field(
    old_zip: Any, new_zip: Any, error_type: str, fragment: str
) -> None:
    (reason,) = reasons(order(zip_=new_zip), order(zip_=old_zip))
    assert f"errorType:'{error_type}'" in reason
    assert fragment in reason
    assert "customer.address.zip" in reason


def test_containers_show_in_the_field_path() -> None:
    def with_lines(qty: str) -> str:
        line = {"type": "record", "name": "Line", "fields": [{"name": "qty", "type": qty}]}
        lines = {"name": "lines", "type": {"type": "array", "items": line}}
        tags = {"name": "tags", "type": {"type": "map", "values": qty}}
        return order(lines, tags)

    found = reasons(with_lines("int"), with_lines("long"))
    assert len(found) == 2
    assert "of field 'lines[].qty'" in found[0]
    assert "of field 'tags{}'" in found[1]


def test_a_schema_that_is_not_a_record_keeps_confluents_words() -> None:
    (reason,) = reasons('"int"', '"string"')
    assert reason == (
        "{errorType:'TYPE_MISMATCH', description:'The type (path '/') of a field in the new"
        " schema does not match with the old schema', additionalInfo:'reader type: INT not"
        " compatible with writer type: STRING'}"
    )
