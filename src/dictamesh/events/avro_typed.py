"""Typed Avro events: each topic's values written with a schema generated from its entity
schemas, so Kafka Connect sinks, ksqlDB and Confluent's deserializers see real fields.

:class:`TypedAvroEventSerializer` is an :class:`~dictamesh.events.avro.AvroEventSerializer`
(same Confluent framing and content type, same registry caches) whose topics are registered
up front with :meth:`~TypedAvroEventSerializer.register_topic`: the topic's value schema (the
DictaMesh ``ChangeEvent`` envelope, or Debezium's ``Envelope``, with ``before``/``after``
typed by :mod:`dictamesh.events.avro_schema`) goes under ``<topic>-value`` and the
registry's compatibility rule decides whether it may replace the registered one. A refusal
is a :class:`ConfigurationError` naming the subject and the fields that changed.

* :meth:`~TypedAvroEventSerializer.encode` writes the DictaMesh envelope,
  :meth:`~TypedAvroEventSerializer.encode_debezium` the Debezium one; values are checked
  against the entity schema (:func:`dictamesh.events.avro_values.to_avro`): what the record
  cannot hold raises :class:`SerializationError` naming the field;
* :meth:`~TypedAvroEventSerializer.decode` reads any registered writer schema — the generic
  ``ChangeEvent`` (attributes as JSON text), a typed one of any version, a Debezium-typed
  one — back to a :class:`ChangeEvent` whose attributes are what the JSON encoding carries.

Example::

    serializer = TypedAvroEventSerializer(registry)
    await serializer.register_topic("customers.crm.entity_changed", [customer_schema])
    value, headers = serializer.encode(event)            # no I/O: the id is cached
    same = serializer.decode(value, headers)
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pydantic

from dictamesh.core.bus_config import AvroTimestamps, Envelope
from dictamesh.core.errors import (
    ConfigurationError,
    NotFoundError,
    SchemaCompatibilityError,
    SerializationError,
)
from dictamesh.core.models import ChangeEvent, EntitySchema
from dictamesh.events.avro import AvroEventSerializer, envelope_record, event_from_record
from dictamesh.events.avro_schema import (
    ENTITY_NAMESPACE,
    EntityRecord,
    change_event_value_schema,
    debezium_value_schema,
    entity_records,
)
from dictamesh.events.avro_values import Decoder, decoder, to_avro
from dictamesh.events.envelopes import from_debezium, to_debezium
from dictamesh.events.schema_registry import SchemaRegistryClient
from dictamesh.events.wire import frame

__all__ = ["TypedAvroEventSerializer", "schema_changes"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _TopicSchema:
    schema_id: int
    parsed: Any
    records: dict[str, EntityRecord]


class TypedAvroEventSerializer(AvroEventSerializer):
    """Avro values typed per entity type, one registered value schema per topic.

    ``timestamps``: how ``datetime`` fields are written (``bus.avro_timestamps``)."""

    def __init__(
        self,
        registry: SchemaRegistryClient,
        *,
        timestamps: AvroTimestamps = AvroTimestamps.MILLIS,
    ) -> None:
        super().__init__(registry)
        self.timestamps = AvroTimestamps(timestamps)
        self._topics: dict[tuple[str, Envelope], _TopicSchema] = {}
        #: schema id → how its before/after/source values become JSON-like (planned once)
        self._decoders: dict[int, dict[str, Decoder]] = {}

    # -- registration ----------------------------------------------------------------------

    def value_schema(
        self, schemas: Iterable[EntitySchema], envelope: Envelope = Envelope.DICTAMESH
    ) -> dict[str, Any]:
        """The value schema a topic carrying ``schemas`` gets (not registered)."""
        return _value_schema(entity_records(schemas, timestamps=self.timestamps), envelope)

    async def register_topic(
        self,
        topic: str,
        schemas: Iterable[EntitySchema],
        envelope: Envelope = Envelope.DICTAMESH,
    ) -> int:
        """Register ``topic``'s value schema under ``<topic>-value``; its schema id.

        Raises :class:`ConfigurationError` (naming the subject and the changed fields) when
        the registry's compatibility rule refuses it."""
        envelope = Envelope(envelope)
        records = entity_records(schemas, timestamps=self.timestamps)
        value_schema = _value_schema(records, envelope)
        text = json.dumps(value_schema, separators=(",", ":"))
        subject = self.subject_for(topic)
        try:
            schema_id = await self.registry.register(subject, text, "AVRO")
        except SchemaCompatibilityError as exc:
            raise await self._refused(subject, value_schema, exc) from exc
        parsed = self._fastavro.parse_schema(value_schema)
        self._topics[(topic, envelope)] = _TopicSchema(
            schema_id, parsed, {r.entity_type: r for r in records}
        )
        self._ids_by_subject[subject] = schema_id
        self._parsed_by_id.setdefault(schema_id, parsed)
        return schema_id

    async def _refused(
        self, subject: str, new: Mapping[str, Any], exc: SchemaCompatibilityError
    ) -> ConfigurationError:
        changes: list[str] = []
        try:
            _id, version, latest = await self.registry.get_latest(subject)
            changes = schema_changes(json.loads(latest), new)
        except (NotFoundError, ValueError):
            version = None
        # The registry's reasons point into unions ('/fields/6/type'); the changes name fields.
        what = f"; changes from version {version}: {'; '.join(changes)}" if changes else ""
        return ConfigurationError(
            f"schema registry refused the new value schema of subject {subject!r}"
            f"{what} ({exc.message})",
            subject=subject,
            changes=changes,
        )

    def schema_id_for_topic(self, topic: str, envelope: Envelope = Envelope.DICTAMESH) -> int:
        return self._topic(topic, envelope).schema_id

    async def schema_id_for(self, topic: str) -> int:
        """The id ``topic``'s DictaMesh-envelope values are written with (registered)."""
        return self._topic(topic, Envelope.DICTAMESH).schema_id

    def _topic(self, topic: str, envelope: Envelope) -> _TopicSchema:
        found = self._topics.get((topic, envelope))
        if found is not None:
            return found
        other = next((e for (t, e) in self._topics if t == topic), None)
        if other is not None:
            raise SerializationError(
                f"topic {topic!r} carries the {other.value} envelope, not {envelope.value}",
                topic=topic,
            )
        raise SerializationError(
            f"no typed Avro schema registered for topic {topic!r}: await"
            " serializer.register_topic(topic, entity_schemas) first",
            topic=topic,
        )

    # -- encoding --------------------------------------------------------------------------

    def _typed(self, schemas: _TopicSchema, event: ChangeEvent, where: str, value: Any) -> Any:
        if value is None:
            return None
        record = schemas.records.get(event.entity.type)
        if record is None:
            raise SerializationError(
                f"entity type {event.entity.type!r} has no record in the value schema of"
                f" topic {event.topic!r} (it carries {sorted(schemas.records)})",
                entity_type=event.entity.type,
            )
        # a (name, datum) pair picks the union branch: records of two types may look alike
        return (record.full_name, to_avro(record, value, where=where))

    def _frame(self, schemas: _TopicSchema, datum: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        try:
            self._fastavro.schemaless_writer(buf, schemas.parsed, datum)
        except (ValueError, TypeError) as exc:
            raise SerializationError(f"event does not fit the Avro schema: {exc}") from exc
        return frame(schemas.schema_id, buf.getvalue())

    def encode(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        """The DictaMesh envelope, typed with the topic's registered schema."""
        schemas = self._topic(event.topic, Envelope.DICTAMESH)
        datum = envelope_record(event)
        datum["before"] = self._typed(schemas, event, "before", event.before)
        datum["after"] = self._typed(schemas, event, "after", event.after)
        return self._frame(schemas, datum), self.headers(event)

    def encode_debezium(
        self, event: ChangeEvent, *, ts_ms: int | None = None
    ) -> tuple[bytes, dict[str, bytes]]:
        """Debezium's envelope (:func:`~dictamesh.events.envelopes.to_debezium`), typed."""
        schemas = self._topic(event.topic, Envelope.DEBEZIUM)
        datum = to_debezium(event, ts_ms=ts_ms)
        datum["before"] = self._typed(schemas, event, "before", datum["before"])
        datum["after"] = self._typed(schemas, event, "after", datum["after"])
        return self._frame(schemas, datum), self.headers(event)

    async def encode_async(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        return self.encode(event)

    # -- decoding --------------------------------------------------------------------------

    def _read(self, schema_id: int, writer: Any, payload: bytes) -> ChangeEvent:
        # Always the writer's own schema: from_avro follows it, whatever version it is.
        record = self._read_record(
            schema_id,
            writer,
            None,
            payload,
            return_record_name=True,
            return_record_name_override=True,
        )
        decoders = self._decoders.get(schema_id)
        if decoders is None:
            decoders = self._decoders[schema_id] = _field_decoders(writer)
        try:
            if "op" in record and "source" in record:
                return from_debezium(
                    {
                        **record,
                        "source": decoders["source"](record["source"]),
                        "before": decoders["before"](record.get("before")),
                        "after": decoders["after"](record.get("after")),
                    }
                )
            if isinstance(record.get("before"), str) or isinstance(record.get("after"), str):
                return event_from_record(record)  # the generic schema: attributes as JSON
            data = {
                **record,
                "timestamp": _millis(record.get("timestamp")),
                "before": decoders["before"](record.get("before")),
                "after": decoders["after"](record.get("after")),
            }
            return ChangeEvent.model_validate(data)
        except pydantic.ValidationError as exc:
            raise SerializationError(
                f"Avro record (schema id {schema_id}) is not a valid ChangeEvent:"
                f" {exc.errors(include_url=False)[:3]}",
                schema_id=schema_id,
            ) from exc
        except (KeyError, TypeError, AttributeError) as exc:
            raise SerializationError(
                f"Avro record (schema id {schema_id}) is not a mesh event: {exc!r}",
                schema_id=schema_id,
            ) from exc


def _field_decoders(writer: Any) -> dict[str, Decoder]:
    named = writer.get("__named_schemas", {})
    types = {f["name"]: f["type"] for f in writer.get("fields", ())}
    return {name: decoder(types.get(name, "null"), named) for name in ("before", "after", "source")}


def _value_schema(records: list[EntityRecord], envelope: Envelope) -> dict[str, Any]:
    if envelope is Envelope.DEBEZIUM:
        return debezium_value_schema(records)
    return change_event_value_schema(records)


def _millis(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (moment - _EPOCH) // timedelta(milliseconds=1)
    return value


# -- what changed between two value schemas -------------------------------------------------


def _records(schema: Any, found: dict[str, Mapping[str, Any]], namespace: str = "") -> None:
    """Every record defined in ``schema``, by full name."""
    if isinstance(schema, list):
        for branch in schema:
            _records(branch, found, namespace)
    elif isinstance(schema, Mapping):
        kind = schema.get("type")
        if kind == "record":
            name = str(schema.get("name", ""))
            space = str(schema.get("namespace", namespace))
            full = name if "." in name else f"{space}.{name}".lstrip(".")
            found[full] = schema
            for entry in schema.get("fields", ()):
                _records(entry.get("type"), found, space)
        elif kind in ("array", "map"):
            _records(schema.get("items", schema.get("values")), found, namespace)
        elif isinstance(kind, list | Mapping):
            _records(kind, found, namespace)


def _canonical(node: Any) -> str:
    return json.dumps(node, sort_keys=True, separators=(",", ":"))


def schema_changes(old: Any, new: Any) -> list[str]:
    """What changed from value schema ``old`` to ``new``, field by field, as a reader of the
    registry's refusal needs it: ``customer.age: added without a default (required)``,
    ``customer.email: type "string" → "long"``, ``entity type gone: customer``."""
    before: dict[str, Mapping[str, Any]] = {}
    after: dict[str, Mapping[str, Any]] = {}
    _records(old, before)
    _records(new, after)
    changes: list[str] = []
    for full, old_record in before.items():
        new_record = after.get(full)
        label = full.removeprefix(f"{ENTITY_NAMESPACE}.")
        if new_record is None:
            changes.append(f"record removed: {full}")
            continue
        old_fields = {f["name"]: f for f in old_record.get("fields", ())}
        new_fields = {f["name"]: f for f in new_record.get("fields", ())}
        for name, entry in new_fields.items():
            was = old_fields.get(name)
            if was is None:
                if "default" not in entry:
                    changes.append(f"{label}.{name}: added without a default (required)")
            elif _canonical(_shallow(was["type"])) != _canonical(_shallow(entry["type"])):
                changes.append(
                    f"{label}.{name}: type {_canonical(_shallow(was['type']))}"
                    f" → {_canonical(_shallow(entry['type']))}"
                )
        for name in old_fields.keys() - new_fields.keys():
            if "default" not in old_fields[name]:
                changes.append(f"{label}.{name}: required field removed")
    return changes


def _shallow(node: Any) -> Any:
    """A type with nested records replaced by their names (compared on their own)."""
    if isinstance(node, list):
        return [_shallow(branch) for branch in node]
    if isinstance(node, Mapping):
        if node.get("type") in ("record", "enum", "fixed"):
            return node.get("name")
        return {k: _shallow(v) for k, v in node.items() if k != "doc"}
    return node
