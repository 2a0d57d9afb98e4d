"""Avro schemas generated from :class:`~dictamesh.core.models.EntitySchema`: typed events.

One Avro record per entity type, its fields typed from the entity schema:

=============  ===================================================================
``FieldType``  Avro type
=============  ===================================================================
string         ``string``
integer        ``long``
number         ``double``
boolean        ``boolean``
datetime       ``long`` + ``timestamp-millis`` (or ``timestamp-micros``, see below)
date           ``int`` + ``date`` (days since 1970-01-01)
json           ``string`` holding JSON, marked ``connect.name: io.debezium.data.Json``
=============  ===================================================================

``many`` fields are arrays; an entity schema's ``nested`` object lists are arrays of their
own records. A field that is not ``required`` is ``["null", T]`` with default ``null``, so
adding one is a compatible change. Record and field docs are the schemas' descriptions.

Why ``timestamp-millis`` for datetimes: Kafka Connect's AvroConverter maps it (and only it,
not ``timestamp-micros``) to Connect's ``Timestamp``, which JDBC sinks write as a timestamp
column and ksqlDB reads as ``TIMESTAMP``; an ISO string would be a text column to both. The
``connect.name`` of Connect's logical types is set too, as Connect itself writes them.
``timestamp-millis`` cannot hold microseconds, and a value with sub-millisecond digits is
refused rather than rounded; sources with such timestamps use
``bus.avro_timestamps: micros`` (exact, a plain BIGINT to Connect).

A topic's value schema is a typed envelope whose ``before``/``after`` are
``["null", <entity record>, ...]`` (several entity types on one topic: a union of their
records): :func:`change_event_value_schema` (DictaMesh's ChangeEvent) or
:func:`debezium_value_schema` (Debezium's ``Envelope`` with ``source``, ``op``, ``ts_ms``,
``transaction``).

Example::

    record = entity_record(customer_schema)          # EntityRecord: Avro dict + field plan
    value_schema = change_event_value_schema([record])
    registry.register("customers.crm.entity_changed-value", json.dumps(value_schema))
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from dictamesh.core.bus_config import AvroTimestamps
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import Classification, EntitySchema, FieldSpec, FieldType
from dictamesh.events.avro import CHANGE_EVENT_AVRO_SCHEMA

__all__ = [
    "DEBEZIUM_NAMESPACE",
    "ENTITY_NAMESPACE",
    "JSON_CONNECT_NAME",
    "EntityRecord",
    "FieldPlan",
    "avro_name",
    "change_event_value_schema",
    "debezium_value_schema",
    "entity_record",
    "entity_records",
]

ENTITY_NAMESPACE: Final = "io.dictamesh.entities"
DEBEZIUM_NAMESPACE: Final = "io.dictamesh.debezium"
#: Debezium's semantic type of JSON columns: Connect sinks that know it parse the text
JSON_CONNECT_NAME: Final = "io.debezium.data.Json"

_LEGAL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ILLEGAL_CHAR = re.compile(r"[^A-Za-z0-9_]")


def avro_name(text: str) -> str:
    """``text`` as a legal Avro name: other characters become ``_``, a leading digit (or
    nothing) gets a ``_`` in front. Legal names are kept as they are."""
    if _LEGAL.match(text):
        return text
    name = _ILLEGAL_CHAR.sub("_", text)
    return name if name and not name[0].isdigit() else f"_{name}"


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """How one attribute becomes one Avro field (and back)."""

    attribute: str
    name: str
    kind: FieldType
    required: bool
    many: bool
    #: an object-list field's own record (``EntitySchema.nested``)
    nested: EntityRecord | None = None


@dataclass(frozen=True, slots=True)
class EntityRecord:
    """The Avro record of one entity type: the schema (a JSON-ready dict) and its plan."""

    entity_type: str
    full_name: str
    schema: dict[str, Any]
    fields: tuple[FieldPlan, ...]
    timestamps: AvroTimestamps
    by_attribute: dict[str, FieldPlan] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_attribute", {f.attribute: f for f in self.fields})


def _scalar(kind: FieldType, timestamps: AvroTimestamps) -> Any:
    if kind is FieldType.STRING:
        return "string"
    if kind is FieldType.INTEGER:
        return "long"
    if kind is FieldType.NUMBER:
        return "double"
    if kind is FieldType.BOOLEAN:
        return "boolean"
    if kind is FieldType.DATETIME:
        if timestamps is AvroTimestamps.MICROS:
            return {"type": "long", "logicalType": "timestamp-micros"}
        return {
            "type": "long",
            "logicalType": "timestamp-millis",
            "connect.name": "org.apache.kafka.connect.data.Timestamp",
            "connect.version": 1,
        }
    if kind is FieldType.DATE:
        return {
            "type": "int",
            "logicalType": "date",
            "connect.name": "org.apache.kafka.connect.data.Date",
            "connect.version": 1,
        }
    if kind is FieldType.JSON:
        return {"type": "string", "connect.name": JSON_CONNECT_NAME, "connect.version": 1}
    raise ConfigurationError(f"no Avro type for field type {kind!r}")  # pragma: no cover


def entity_record(
    schema: EntitySchema,
    *,
    timestamps: AvroTimestamps = AvroTimestamps.MILLIS,
    namespace: str = ENTITY_NAMESPACE,
) -> EntityRecord:
    """The Avro record of ``schema`` (named ``<namespace>.<entity_type>``).

    Raises :class:`ConfigurationError` when two attributes map to one Avro name."""
    name = avro_name(schema.entity_type)
    plans: list[FieldPlan] = []
    avro_fields: list[dict[str, Any]] = []
    owner: dict[str, str] = {}
    specs = {spec.name: spec for spec in schema.fields}
    attributes = [*specs, *(n for n in schema.nested if n not in specs)]
    for attribute in attributes:
        spec = specs.get(attribute)
        nested_schema = schema.nested.get(attribute)
        field_name = avro_name(attribute)
        if field_name in owner:
            raise ConfigurationError(
                f"entity type {schema.entity_type!r}: attributes {owner[field_name]!r} and"
                f" {attribute!r} both become the Avro field name {field_name!r}",
                entity_type=schema.entity_type,
            )
        owner[field_name] = attribute
        nested = None
        if nested_schema is not None:
            # an object list's records live in their owner's namespace: no clash with types
            nested = entity_record(
                nested_schema.model_copy(update={"entity_type": field_name}),
                timestamps=timestamps,
                namespace=f"{namespace}.{name}",
            )
            item_type: Any = nested.schema
            kind = FieldType.JSON
            many = spec.many if spec is not None else True
        else:
            assert spec is not None
            kind = FieldType(spec.type)
            item_type = _scalar(kind, timestamps)
            many = spec.many
        required = spec.required if spec is not None else False
        avro_type: Any = {"type": "array", "items": item_type} if many else item_type
        entry: dict[str, Any] = {"name": field_name}
        if required:
            entry["type"] = avro_type
        else:
            entry["type"] = ["null", avro_type]
            entry["default"] = None
        described: FieldSpec | EntitySchema | None = spec if spec is not None else nested_schema
        if described is not None and described.description:
            entry["doc"] = described.description
        if spec is not None and spec.classification is not Classification.PUBLIC:
            # governance tooling reading the registry sees which columns are personal data
            entry["dictamesh_classification"] = spec.classification.value
        avro_fields.append(entry)
        plans.append(FieldPlan(attribute, field_name, kind, required, many, nested))
    record: dict[str, Any] = {"type": "record", "name": name, "namespace": namespace}
    if schema.description:
        record["doc"] = schema.description
    record["fields"] = avro_fields
    return EntityRecord(
        entity_type=schema.entity_type,
        full_name=f"{namespace}.{name}",
        schema=record,
        fields=tuple(plans),
        timestamps=timestamps,
    )


def entity_records(
    schemas: Iterable[EntitySchema], *, timestamps: AvroTimestamps = AvroTimestamps.MILLIS
) -> list[EntityRecord]:
    """One record per entity type (sorted by type); a type given twice is refused."""
    by_type: dict[str, EntitySchema] = {}
    for schema in schemas:
        if schema.entity_type in by_type and by_type[schema.entity_type] != schema:
            raise ConfigurationError(
                f"entity type {schema.entity_type!r} has two different schemas on one topic",
                entity_type=schema.entity_type,
            )
        by_type[schema.entity_type] = schema
    if not by_type:
        raise ConfigurationError("a typed Avro value schema needs at least one entity schema")
    return [entity_record(by_type[t], timestamps=timestamps) for t in sorted(by_type)]


def _entity_union(records: Sequence[EntityRecord], *, define: bool) -> list[Any]:
    # A named type is defined once per schema (in ``before``) and referenced by name after.
    return ["null", *(copy.deepcopy(r.schema) if define else r.full_name for r in records)]


def change_event_value_schema(records: Sequence[EntityRecord]) -> dict[str, Any]:
    """DictaMesh's ChangeEvent envelope with typed ``before``/``after``: the generic
    envelope (:data:`~dictamesh.events.avro.CHANGE_EVENT_AVRO_SCHEMA`, same names, so a
    reader of one reads the other's other fields) with the entity records in place of the
    JSON strings."""
    types = ", ".join(r.entity_type for r in records)
    schema = copy.deepcopy(CHANGE_EVENT_AVRO_SCHEMA)
    schema["doc"] = f"A change to one entity ({types}) of a DictaMesh data product."
    typed = {
        "before": (
            _entity_union(records, define=True),
            "the entity before the change (null on CREATED)",
        ),
        "after": (
            _entity_union(records, define=False),
            "the entity after the change (null on DELETED)",
        ),
    }
    for spec in schema["fields"]:
        if spec["name"] in typed:
            spec["type"], spec["doc"] = typed[spec["name"]]
    _check_unique_names(schema)
    return schema


_NULLABLE_STRING: Final = {"type": ["null", "string"], "default": None}

#: every key :func:`dictamesh.events.envelopes.to_debezium` puts in ``source``
_DEBEZIUM_SOURCE: Final = {
    "type": "record",
    "name": "Source",
    "namespace": DEBEZIUM_NAMESPACE,
    "doc": "where the change came from (Debezium's source block, with DictaMesh's own fields)",
    "fields": [
        {"name": "version", "type": "string"},
        {"name": "connector", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "ts_ms", "type": "long"},
        {"name": "snapshot", "type": ["null", "string"], "default": None},
        {"name": "db", "type": "string"},
        {"name": "table", "type": "string"},
        {"name": "system", "type": "string"},
        {"name": "event_id", "type": "string"},
        {"name": "entity_id", "type": "string"},
        {"name": "entity_version", "type": "long"},
        {"name": "tenant_id", **_NULLABLE_STRING},
        {"name": "changed_fields", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "schema_version", "type": "int", "default": 1},
        {"name": "trace_id", **_NULLABLE_STRING},
        {"name": "span_id", **_NULLABLE_STRING},
    ],
}

#: Debezium's transaction block (always null here: the mesh has no source transactions)
_DEBEZIUM_TRANSACTION: Final = {
    "type": "record",
    "name": "TransactionBlock",
    "namespace": DEBEZIUM_NAMESPACE,
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "total_order", "type": "long"},
        {"name": "data_collection_order", "type": "long"},
    ],
}


def debezium_value_schema(records: Sequence[EntityRecord]) -> dict[str, Any]:
    """Debezium's change-event ``Envelope`` with typed ``before``/``after`` (``Value``)."""
    schema: dict[str, Any] = {
        "type": "record",
        "name": "Envelope",
        "namespace": DEBEZIUM_NAMESPACE,
        "connect.name": f"{DEBEZIUM_NAMESPACE}.Envelope",
        "fields": [
            {"name": "before", "type": _entity_union(records, define=True), "default": None},
            {"name": "after", "type": _entity_union(records, define=False), "default": None},
            {"name": "source", "type": copy.deepcopy(_DEBEZIUM_SOURCE)},
            {"name": "op", "type": "string", "doc": "c create, u update, d delete, r read"},
            {"name": "ts_ms", "type": ["null", "long"], "default": None},
            {
                "name": "transaction",
                "type": ["null", copy.deepcopy(_DEBEZIUM_TRANSACTION)],
                "default": None,
            },
        ],
    }
    _check_unique_names(schema)
    return schema


def _check_unique_names(schema: Mapping[str, Any]) -> None:
    """Every named type is defined once (an entity type named like an envelope part or two
    nested records under one full name would make the schema invalid)."""
    seen: set[str] = set()

    def walk(node: Any, namespace: str) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch, namespace)
            return
        if not isinstance(node, Mapping):
            return
        kind = node.get("type")
        if kind in ("record", "enum", "fixed"):
            name = str(node["name"])
            space = node.get("namespace", namespace)
            full = name if "." in name else f"{space}.{name}"
            if full in seen:
                raise ConfigurationError(
                    f"the Avro name {full!r} is defined twice in one value schema",
                    avro_name=full,
                )
            seen.add(full)
            for entry in node.get("fields", ()):
                walk(entry["type"], space)
        elif kind in ("array", "map"):
            walk(node.get("items", node.get("values")), namespace)
        elif isinstance(kind, list | dict):
            walk(kind, namespace)

    walk(dict(schema), "")
