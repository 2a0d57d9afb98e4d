"""``catalog/schema_diff.py``: Avro subjects judged by the registry's checker under each
level, with the field-by-field rows; entity schemas by the catalog's rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dictamesh.catalog.records import Compatibility
from dictamesh.catalog.schema_diff import avro_subject_changes, entity_schema_changes
from dictamesh.core.errors import ValidationError
from dictamesh.core.models import EntitySchema, FieldSpec
from dictamesh.core.schema_changes import Severity
from dictamesh.events.avro_schema import change_event_value_schema, entity_records

SUBJECT = "customers.crm.entity_changed-value"


def record(*fields: dict[str, Any], name: str = "Customer") -> str:
    return json.dumps({"type": "record", "name": name, "namespace": "ex", "fields": [*fields]})


ID = {"name": "id", "type": "string"}
NAME = {"name": "name", "type": "string"}
EMAIL = {"name": "email", "type": ["null", "string"], "default": None}


def rows(old: str | None, new: str | None, level: str = "BACKWARD") -> list[tuple[str, str]]:
    return [
        (c.severity.value, c.code)
        for c in avro_subject_changes(SUBJECT, old, new, Compatibility(level))
    ]


def test_required_field_added_is_breaking_backward() -> None:
    changes = avro_subject_changes(SUBJECT, record(ID), record(ID, NAME), Compatibility.BACKWARD)
    assert [(c.severity, c.code) for c in changes] == [(Severity.BREAKING, "REQUIRED_FIELD_ADDED")]
    assert "ex.Customer.name" in changes[0].message
    assert "not BACKWARD compatible" in changes[0].message
    assert changes[0].area == "avro"
    assert changes[0].subject == SUBJECT


def test_optional_field_added_is_safe_under_every_level() -> None:
    for level in Compatibility:
        assert rows(record(ID), record(ID, EMAIL), level) == [("safe", "FIELD_ADDED")]


def test_a_required_field_removed_breaks_forward_not_backward() -> None:
    assert rows(record(ID, NAME), record(ID)) == [("safe", "REQUIRED_FIELD_REMOVED")]
    assert rows(record(ID, NAME), record(ID), "FORWARD") == [("breaking", "REQUIRED_FIELD_REMOVED")]
    assert rows(record(ID, NAME), record(ID), "NONE") == [("safe", "REQUIRED_FIELD_REMOVED")]


def test_type_changes_follow_avro_promotions() -> None:
    as_int = record(ID, {"name": "age", "type": "int"})
    as_long = record(ID, {"name": "age", "type": "long"})
    as_text = record(ID, {"name": "age", "type": "string"})
    assert rows(as_int, as_long) == [("safe", "FIELD_TYPE_CHANGED")]  # long reads int
    assert rows(as_int, as_long, "FORWARD") == [("breaking", "FIELD_TYPE_CHANGED")]
    assert rows(as_int, as_text) == [("breaking", "FIELD_TYPE_CHANGED")]


def test_an_incompatible_subject_keeps_its_safe_parts_safe() -> None:
    assert rows(record(ID), record(ID, NAME, EMAIL)) == [
        ("breaking", "REQUIRED_FIELD_ADDED"),
        ("safe", "FIELD_ADDED"),
    ]


def test_enum_symbols() -> None:
    def tier(*symbols: str) -> str:
        return record(
            ID, {"name": "tier", "type": {"type": "enum", "name": "Tier", "symbols": list(symbols)}}
        )

    assert rows(tier("GOLD", "SILVER"), tier("GOLD")) == [("breaking", "ENUM_SYMBOL_REMOVED")]
    assert rows(tier("GOLD"), tier("GOLD", "SILVER")) == [("safe", "ENUM_SYMBOL_ADDED")]
    assert rows(tier("GOLD"), tier("GOLD", "SILVER"), "FORWARD") == [
        ("breaking", "ENUM_SYMBOL_ADDED")
    ]


def test_a_renamed_record_is_breaking_unless_aliased() -> None:
    assert rows(record(ID), record(ID, name="Client")) == [
        ("breaking", "TYPE_ADDED"),
        ("breaking", "TYPE_REMOVED"),
    ]
    assert {s for s, _ in rows(record(ID), record(ID, name="Client"), "NONE")} == {"safe"}
    aliased = json.loads(record(ID, name="Client"))
    aliased["aliases"] = ["Customer"]
    assert {s for s, _ in rows(record(ID), json.dumps(aliased))} == {"safe"}


def test_a_renamed_field_with_an_alias_is_compatible() -> None:
    renamed = {"name": "full_name", "type": "string", "aliases": ["name"]}
    assert rows(record(ID, NAME), record(ID, renamed)) == [
        ("safe", "REQUIRED_FIELD_ADDED"),
        ("safe", "REQUIRED_FIELD_REMOVED"),
    ]


def test_a_change_the_rows_do_not_show_is_reported_in_the_checkers_words() -> None:
    # a fixed decimal's precision is no row of its own; the checker refuses the change
    def price(precision: int) -> str:
        fixed = {
            "type": "fixed",
            "name": "Money",
            "size": 8,
            "logicalType": "decimal",
            "precision": precision,
            "scale": 2,
        }
        return record(ID, {"name": "price", "type": fixed})

    changes = avro_subject_changes(SUBJECT, price(10), price(12), Compatibility.BACKWARD)
    assert [(c.severity, c.code) for c in changes] == [(Severity.BREAKING, "TYPE_MISMATCH")]
    assert "price" in changes[0].message


def test_subjects_added_removed_and_unchanged() -> None:
    assert rows(None, record(ID)) == [("safe", "SUBJECT_ADDED")]
    assert rows(record(ID), None) == [("dangerous", "SUBJECT_REMOVED")]
    assert rows(record(ID), record(ID)) == []
    assert rows(None, None) == []
    documented = json.loads(record(ID))
    documented["doc"] = "now with a doc"
    assert rows(record(ID), json.dumps(documented)) == []


@pytest.mark.parametrize("bad", ['{"type": "record"}', "not json", '{"type": "nope"}'])
def test_invalid_avro_is_a_validation_error(bad: str) -> None:
    with pytest.raises(ValidationError, match=SUBJECT):
        avro_subject_changes(SUBJECT, bad, record(ID), Compatibility.BACKWARD)


def customer(*fields: FieldSpec) -> EntitySchema:
    return EntitySchema(
        entity_type="customer",
        domain="customers",
        fields=[FieldSpec(name="id", type="string", required=True), *fields],
    )


def test_typed_envelopes_of_entity_schemas() -> None:
    def envelope(schema: EntitySchema) -> str:
        return json.dumps(change_event_value_schema(entity_records([schema])))

    old = envelope(customer())
    required = envelope(customer(FieldSpec(name="age", type="integer", required=True)))
    optional = envelope(customer(FieldSpec(name="age", type="integer")))
    assert rows(old, required) == [("breaking", "REQUIRED_FIELD_ADDED")]
    assert rows(old, optional) == [("safe", "FIELD_ADDED")]


def test_entity_schema_changes() -> None:
    old = customer(FieldSpec(name="name", type="string"))
    new = customer(
        FieldSpec(name="name", type="integer"),
        FieldSpec(name="age", type="integer", required=True),
        FieldSpec(name="note", type="string"),
    )
    changes = entity_schema_changes("customer", old, new, Compatibility.BACKWARD)
    codes = [(c.severity, c.code) for c in changes]
    assert codes.count((Severity.BREAKING, "ENTITY_BACKWARD")) == 2
    assert (Severity.SAFE, "FIELD_ADDED") in codes
    assert any("'age'" in c.message for c in changes if c.severity is Severity.BREAKING)
    assert [c.message for c in changes if c.severity is Severity.SAFE] == ["customer.note added"]
    assert entity_schema_changes("customer", old, old, Compatibility.FULL) == []
    assert [c.code for c in entity_schema_changes("customer", old, None, "BACKWARD")] == [
        "ENTITY_TYPE_REMOVED"
    ]
    assert [c.severity for c in entity_schema_changes("customer", None, old, "BACKWARD")] == [
        Severity.SAFE
    ]
