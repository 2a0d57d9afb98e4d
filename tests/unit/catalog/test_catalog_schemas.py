"""Schema compatibility: the change-by-level matrix, transitivity, and self-compatibility."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dictamesh.catalog.records import Compatibility
from dictamesh.catalog.schemas import backward_reasons, check_compatibility, forward_reasons
from dictamesh.core.models import EntitySchema, FieldSpec, FieldType

ITEM = EntitySchema(
    entity_type="line",
    domain="billing",
    fields=[FieldSpec(name="sku", type=FieldType.STRING, required=True)],
)
BASE = EntitySchema(
    entity_type="invoice",
    domain="billing",
    fields=[
        FieldSpec(name="number", type=FieldType.STRING, required=True),
        FieldSpec(name="note", type=FieldType.STRING),
    ],
    nested={"lines": ITEM},
)

Change = Callable[[EntitySchema], EntitySchema]


def with_fields(schema: EntitySchema, fields: list[FieldSpec]) -> EntitySchema:
    return schema.model_copy(update={"fields": fields, "version": schema.version + 1})


def replace(name: str, **changes: object) -> Change:
    return lambda s: with_fields(
        s, [f.model_copy(update=changes) if f.name == name else f for f in s.fields]
    )


def add(field: FieldSpec) -> Change:
    return lambda s: with_fields(s, [*s.fields, field])


def drop(name: str) -> Change:
    return lambda s: with_fields(s, [f for f in s.fields if f.name != name])


def nested(change: Change) -> Change:
    return lambda s: s.model_copy(update={"nested": {"lines": change(s.nested["lines"])}})


OK, NO = True, False
# change → (BACKWARD ok, FORWARD ok); FULL ok iff both
MATRIX: dict[str, tuple[Change, bool, bool]] = {
    "add optional field": (add(FieldSpec(name="memo", type=FieldType.STRING)), OK, OK),
    "add required field": (
        add(FieldSpec(name="currency", type=FieldType.STRING, required=True)),
        NO,
        OK,
    ),
    "delete optional field": (drop("note"), OK, OK),
    "delete required field": (drop("number"), OK, NO),
    "change type": (replace("note", type=FieldType.INTEGER), NO, NO),
    "change to a list": (replace("note", many=True), NO, NO),
    "optional becomes required": (replace("note", required=True), NO, OK),
    "required becomes optional": (replace("number", required=False), OK, NO),
    "doc and governance only": (
        replace("note", description="free text", classification="pii_name"),
        OK,
        OK,
    ),
    "nested: add required field": (
        nested(add(FieldSpec(name="qty", type=FieldType.INTEGER, required=True))),
        NO,
        OK,
    ),
    "nested: change type": (nested(replace("sku", type=FieldType.INTEGER)), NO, NO),
    "drop nested list": (lambda s: s.model_copy(update={"nested": {}}), OK, OK),
}


@pytest.mark.parametrize("name", list(MATRIX))
@pytest.mark.parametrize(
    "level",
    [Compatibility.BACKWARD, Compatibility.FORWARD, Compatibility.FULL, Compatibility.NONE],
)
def test_compatibility_matrix(name: str, level: Compatibility) -> None:
    change, backward_ok, forward_ok = MATRIX[name]
    expected = {
        Compatibility.BACKWARD: backward_ok,
        Compatibility.FORWARD: forward_ok,
        Compatibility.FULL: backward_ok and forward_ok,
        Compatibility.NONE: True,
    }[level]
    reasons = check_compatibility(change(BASE), [BASE], level)
    assert (reasons == []) is expected, reasons
    assert all(isinstance(r, str) and r for r in reasons)


def test_reasons_name_the_field_and_version() -> None:
    new = add(FieldSpec(name="currency", type=FieldType.STRING, required=True))(BASE)
    assert backward_reasons(BASE, new) == [
        "BACKWARD: new required field 'currency' is missing from data written with version 1"
    ]
    assert forward_reasons(BASE, drop("number")(BASE)) == [
        "FORWARD: required field 'number' of version 1 was removed; version 1 readers need it"
    ]
    typed = nested(replace("sku", type=FieldType.INTEGER))(BASE)
    assert backward_reasons(BASE, typed) == [
        "BACKWARD: field 'lines.sku' changed type from string to integer (version 1)"
    ]
    renamed = BASE.model_copy(update={"entity_type": "bill"})
    assert "entity type changed from 'invoice' to 'bill'" in backward_reasons(BASE, renamed)[0]


def test_transitive_levels_check_every_earlier_version() -> None:
    v1 = BASE
    v2 = drop("note")(v1)  # fine both ways
    v3 = add(FieldSpec(name="note", type=FieldType.INTEGER))(v2)  # fine against v2 only
    assert check_compatibility(v3, [v1, v2], Compatibility.BACKWARD) == []
    assert check_compatibility(v3, [v1, v2], Compatibility.FULL) == []
    for level in (Compatibility.BACKWARD_TRANSITIVE, Compatibility.FULL_TRANSITIVE):
        reasons = check_compatibility(v3, [v1, v2], level)
        assert reasons
        assert all("'note'" in r for r in reasons)
    assert check_compatibility(v3, [v1, v2], Compatibility.FORWARD_TRANSITIVE)
    assert check_compatibility(v3, [], Compatibility.FULL_TRANSITIVE) == []


def test_level_properties() -> None:
    assert Compatibility.FULL_TRANSITIVE.backward
    assert Compatibility.FULL_TRANSITIVE.forward
    assert Compatibility.FORWARD.forward
    assert not Compatibility.FORWARD.backward
    assert Compatibility.BACKWARD_TRANSITIVE.transitive
    assert not Compatibility.FULL.transitive
    assert not Compatibility.NONE.backward
    assert not Compatibility.NONE.forward


NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
FIELDS = st.builds(
    FieldSpec,
    name=NAMES,
    type=st.sampled_from(FieldType),
    required=st.booleans(),
    many=st.booleans(),
)


@st.composite
def schemas(draw: st.DrawFn, depth: int = 1) -> EntitySchema:
    fields = draw(st.lists(FIELDS, max_size=6, unique_by=lambda f: f.name))
    nested = {}
    if depth > 0:
        nested = draw(st.dictionaries(NAMES, schemas(depth=depth - 1), max_size=2))
    return EntitySchema(
        entity_type=draw(NAMES),
        domain=draw(NAMES),
        version=draw(st.integers(1, 5)),
        fields=fields,
        nested=nested,
    )


@settings(max_examples=60, deadline=None)
@given(schema=schemas())
def test_a_schema_is_compatible_with_itself_under_every_level(schema: EntitySchema) -> None:
    copy = EntitySchema.model_validate_json(schema.model_dump_json())
    for level in Compatibility:
        assert check_compatibility(copy, [schema], level) == []
        assert check_compatibility(copy, [schema, schema], level) == []


@settings(max_examples=40, deadline=None)
@given(schema=schemas(), extra=FIELDS)
def test_adding_an_optional_field_is_fully_compatible(
    schema: EntitySchema, extra: FieldSpec
) -> None:
    taken = {f.name for f in schema.fields} | set(schema.nested)
    if extra.name in taken:
        return
    grown = add(extra.model_copy(update={"required": False}))(schema)
    assert check_compatibility(grown, [schema], Compatibility.FULL_TRANSITIVE) == []
