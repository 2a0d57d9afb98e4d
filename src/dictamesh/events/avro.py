"""Avro encoding of :class:`~dictamesh.core.models.ChangeEvent`, framed for a schema registry.

Values are written in the Confluent wire format (see :mod:`dictamesh.events.wire`): magic
byte, 4-byte schema id, then Avro's schemaless binary encoding. The writer schema is
registered under ``<topic>-value`` (Confluent's TopicNameStrategy, the default) so
Confluent's own deserializers, Kafka Connect, ksqlDB etc. can read the topics.

Two schemas, two serializers:

* :class:`AvroEventSerializer` (this module) writes one **generic** ``ChangeEvent`` record
  for every topic, with ``before``/``after`` as JSON *strings* (``["null", "string"]``):
  stable, schemaless per entity type, but a Connect sink or ksqlDB sees text, not fields;
* :class:`~dictamesh.events.avro_typed.TypedAvroEventSerializer` (what a node uses with
  ``bus.serialization: avro``) writes **typed** records generated per topic from its entity
  schemas (:mod:`dictamesh.events.avro_schema`), in DictaMesh's envelope or Debezium's, and
  decodes either kind (see ``docs/events.md``, "Typed events (Avro)").

Example::

    registry = InMemorySchemaRegistry()          # or HttpSchemaRegistryClient(url)
    serializer = AvroEventSerializer(registry)
    await serializer.prepare([event.topic])      # registers; then encode() never does I/O
    value, headers = serializer.encode(event)
    same = await serializer.decode_async(value, headers)

Registry round trips happen only on the first use of a subject or schema id (both are
cached forever: schema ids are immutable). The synchronous :meth:`~AvroEventSerializer.
encode`/:meth:`~AvroEventSerializer.decode` of the ``Serializer`` protocol work from these
caches; the ``*_async`` variants fill them on demand. A reader meeting a value written with
a schema id it has not seen (another producer, an older or newer schema version) must
``await serializer.resolve(value)`` (or use ``decode_async``) before the sync ``decode``,
which otherwise raises :class:`SerializationError`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pydantic
import pydantic_core

from dictamesh.core.errors import (
    DictaMeshError,
    MissingDependencyError,
    NotFoundError,
    SerializationError,
)
from dictamesh.core.models import ChangeEvent
from dictamesh.events.schema_registry import SchemaRegistryClient, canonical_schema
from dictamesh.events.serde import HEADER_CONTENT_TYPE, event_headers
from dictamesh.events.wire import frame, unframe

__all__ = [
    "AVRO_CONTENT_TYPE",
    "CHANGE_EVENT_AVRO_SCHEMA",
    "CHANGE_EVENT_RECORD_NAME",
    "AvroEventSerializer",
    "RecordNameStrategy",
    "SubjectNameStrategy",
    "TopicNameStrategy",
    "TopicRecordNameStrategy",
    "change_event_schema_str",
    "envelope_record",
    "event_from_record",
    "event_to_record",
]

AVRO_CONTENT_TYPE: Final = "application/vnd.dictamesh.avro"
CHANGE_EVENT_RECORD_NAME: Final = "io.dictamesh.events.ChangeEvent"

_NULLABLE_STRING: Final = ["null", "string"]

CHANGE_EVENT_AVRO_SCHEMA: Final[dict[str, Any]] = {
    "type": "record",
    "name": "ChangeEvent",
    "namespace": "io.dictamesh.events",
    "doc": "A change to one entity of a DictaMesh data product.",
    "fields": [
        {"name": "event_id", "type": {"type": "string", "logicalType": "uuid"}},
        {
            "name": "event_type",
            "type": {
                "type": "enum",
                "name": "EventType",
                "symbols": ["CREATED", "UPDATED", "DELETED"],
            },
        },
        {
            "name": "timestamp",
            "type": {"type": "long", "logicalType": "timestamp-millis"},
            "doc": "when the change happened, milliseconds since the Unix epoch (UTC)",
        },
        {
            "name": "entity",
            "type": {
                "type": "record",
                "name": "EntityVersionRef",
                "fields": [
                    {"name": "type", "type": "string"},
                    {"name": "id", "type": "string"},
                    {"name": "version", "type": "long"},
                ],
            },
        },
        {
            "name": "source",
            "type": {
                "type": "record",
                "name": "SourceRef",
                "fields": [
                    {"name": "domain", "type": "string"},
                    {"name": "system", "type": "string"},
                ],
            },
        },
        {"name": "changed_fields", "type": {"type": "array", "items": "string"}, "default": []},
        {
            "name": "before",
            "type": _NULLABLE_STRING,
            "default": None,
            "doc": "attributes before the change as a JSON object (schemaless per entity type)",
        },
        {
            "name": "after",
            "type": _NULLABLE_STRING,
            "default": None,
            "doc": "attributes after the change as a JSON object (null on DELETED)",
        },
        {"name": "tenant_id", "type": _NULLABLE_STRING, "default": None},
        {
            "name": "trace_context",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "TraceContext",
                    "fields": [
                        {"name": "trace_id", "type": "string"},
                        {"name": "span_id", "type": "string"},
                    ],
                },
            ],
            "default": None,
        },
        {"name": "schema_version", "type": "int", "default": 1},
    ],
}
"""The Avro schema of :class:`ChangeEvent` (the version this code writes and reads)."""


def change_event_schema_str() -> str:
    """The schema as the compact JSON text that is registered."""
    return json.dumps(CHANGE_EVENT_AVRO_SCHEMA, separators=(",", ":"))


SubjectNameStrategy = Callable[[str, str], str]
"""``(topic, record full name) -> subject``, as in Confluent's serializers."""


def TopicNameStrategy(topic: str, record_name: str) -> str:
    """``<topic>-value``: one schema lineage per topic (Confluent's default)."""
    return f"{topic}-value"


def RecordNameStrategy(topic: str, record_name: str) -> str:
    """``<record full name>``: one lineage per record type, shared across topics."""
    return record_name


def TopicRecordNameStrategy(topic: str, record_name: str) -> str:
    """``<topic>-<record full name>``."""
    return f"{topic}-{record_name}"


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _json_text(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    # pydantic's encoder handles the datetimes/decimals/UUIDs adapters put in attributes,
    # exactly like the JSON serializer does.
    return pydantic_core.to_json(value).decode()


def event_to_record(event: ChangeEvent) -> dict[str, Any]:
    """The Avro datum (a plain dict) for ``event``."""
    record = envelope_record(event)
    record["before"] = _json_text(event.before)
    record["after"] = _json_text(event.after)
    return record


def envelope_record(event: ChangeEvent) -> dict[str, Any]:
    """The datum of every ChangeEvent field but ``before``/``after`` (typed serializers
    write those their own way)."""
    return {
        "event_id": str(event.event_id),
        "event_type": event.event_type.value,
        "timestamp": event.timestamp,
        "entity": {
            "type": event.entity.type,
            "id": event.entity.id,
            "version": event.entity.version,
        },
        "source": {"domain": event.source.domain, "system": event.source.system},
        "changed_fields": list(event.changed_fields),
        "tenant_id": event.tenant_id,
        "trace_context": (
            None
            if event.trace_context is None
            else {
                "trace_id": event.trace_context.trace_id,
                "span_id": event.trace_context.span_id,
            }
        ),
        "schema_version": event.schema_version,
    }


def _millis(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - _EPOCH) // timedelta(milliseconds=1)
    return value


def _json_object(value: Any, name: str) -> Any:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"Avro field {name!r} is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise SerializationError(f"Avro field {name!r} must hold a JSON object")
    return parsed


def event_from_record(record: Mapping[str, Any]) -> ChangeEvent:
    """Build a :class:`ChangeEvent` from a decoded Avro datum (logical types already applied
    or not: ``timestamp`` may be a datetime or an int, ``event_id`` a UUID or a string)."""
    try:
        data = dict(record)
        data["timestamp"] = _millis(data.get("timestamp"))
        data["before"] = _json_object(data.get("before"), "before")
        data["after"] = _json_object(data.get("after"), "after")
        return ChangeEvent.model_validate(data)
    except pydantic.ValidationError as exc:
        raise SerializationError(
            f"Avro record is not a valid ChangeEvent: {exc.error_count()} error(s):"
            f" {exc.errors(include_url=False)[:3]}"
        ) from exc


def _fastavro() -> Any:
    try:
        import fastavro
    except ImportError as exc:  # pragma: no cover - fastavro is a declared extra
        raise MissingDependencyError("fastavro", "avro") from exc
    return fastavro


class AvroEventSerializer:
    """Avro + Confluent-framed ChangeEvents, with schemas in a schema registry.

    * encoding registers the schema under ``subject_strategy(event.topic, record name)``
      (``<topic>-value`` by default) unless ``auto_register=False``, in which case the
      subject's latest registered version must be this schema (or ``use_latest=True`` to
      write with whatever the latest version is, as Confluent's ``use.latest.version``);
    * decoding reads the writer schema by the id in the frame and resolves it against this
      code's schema (Avro schema resolution), so evolved writers stay readable.

    On Kafka a value carries its schema id; the ``content-type`` header is informative.
    """

    content_type: str = AVRO_CONTENT_TYPE

    def __init__(
        self,
        registry: SchemaRegistryClient,
        subject_strategy: SubjectNameStrategy = TopicNameStrategy,
        *,
        auto_register: bool = True,
        schema: Mapping[str, Any] | None = None,
    ) -> None:
        fastavro = _fastavro()
        self._fastavro = fastavro
        self.registry = registry
        self.subject_strategy = subject_strategy
        self.auto_register = auto_register
        self._schema_dict = dict(schema or CHANGE_EVENT_AVRO_SCHEMA)
        self.schema_str = json.dumps(self._schema_dict, separators=(",", ":"))
        self._record_name = _full_name(self._schema_dict)
        self._parsed = fastavro.parse_schema(self._schema_dict)
        self._ids_by_subject: dict[str, int] = {}
        self._parsed_by_id: dict[int, Any] = {}
        self._own_ids: set[int] = set()

    # -- registry --------------------------------------------------------------------------

    def subject_for(self, topic: str) -> str:
        return self.subject_strategy(topic, self._record_name)

    async def schema_id_for(self, topic: str) -> int:
        """The id this serializer writes ``topic``'s values with (registering if needed)."""
        subject = self.subject_for(topic)
        schema_id = self._ids_by_subject.get(subject)
        if schema_id is not None:
            return schema_id
        if self.auto_register:
            schema_id = await self.registry.register(subject, self.schema_str, "AVRO")
        else:
            try:
                schema_id, _version, latest = await self.registry.get_latest(subject)
            except NotFoundError as exc:
                raise SerializationError(
                    f"no schema registered under subject {subject!r} and auto_register is off",
                    subject=subject,
                ) from exc
            if canonical_schema(latest) != canonical_schema(self.schema_str):
                raise SerializationError(
                    f"subject {subject!r} latest schema (id {schema_id}) is not the"
                    " ChangeEvent schema this code writes, and auto_register is off",
                    subject=subject,
                    schema_id=schema_id,
                )
        self._ids_by_subject[subject] = schema_id
        self._own_ids.add(schema_id)
        self._parsed_by_id.setdefault(schema_id, self._parsed)
        return schema_id

    async def prepare(self, topics: Iterable[str]) -> dict[str, int]:
        """Register/look up the schema of every topic now, so :meth:`encode` does no I/O."""
        return {topic: await self.schema_id_for(topic) for topic in topics}

    async def _writer_schema(self, schema_id: int) -> Any:
        parsed = self._parsed_by_id.get(schema_id)
        if parsed is not None:
            return parsed
        try:
            schema_str = await self.registry.get_by_id(schema_id)
        except NotFoundError as exc:
            raise SerializationError(
                f"schema id {schema_id} is unknown to the schema registry", schema_id=schema_id
            ) from exc
        parsed = self._parse(schema_str, schema_id)
        self._parsed_by_id[schema_id] = parsed
        return parsed

    def _parse(self, schema_str: str, schema_id: int) -> Any:
        try:
            return self._fastavro.parse_schema(json.loads(schema_str))
        except Exception as exc:  # fastavro raises several unrelated types on bad schemas
            raise SerializationError(
                f"schema id {schema_id} is not a valid Avro schema: {exc}", schema_id=schema_id
            ) from exc

    # -- encoding --------------------------------------------------------------------------

    def headers(self, event: ChangeEvent) -> dict[str, bytes]:
        return event_headers(event, self.content_type)

    def _write(self, schema_id: int, event: ChangeEvent) -> bytes:
        buf = io.BytesIO()
        try:
            self._fastavro.schemaless_writer(buf, self._parsed, event_to_record(event))
        except (ValueError, TypeError) as exc:
            raise SerializationError(f"event does not fit the Avro schema: {exc}") from exc
        return frame(schema_id, buf.getvalue())

    def encode(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        """Encode with the cached schema id of ``event.topic`` (see :meth:`prepare`)."""
        subject = self.subject_for(event.topic)
        schema_id = self._ids_by_subject.get(subject)
        if schema_id is None:
            raise SerializationError(
                f"schema id for subject {subject!r} not known yet: await"
                " serializer.prepare([topic]) or use encode_async()",
                subject=subject,
            )
        return self._write(schema_id, event), self.headers(event)

    async def encode_async(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        schema_id = await self.schema_id_for(event.topic)
        return self._write(schema_id, event), self.headers(event)

    # -- decoding --------------------------------------------------------------------------

    def _read(self, schema_id: int, writer: Any, payload: bytes) -> ChangeEvent:
        reader = None if schema_id in self._own_ids else self._parsed
        return event_from_record(self._read_record(schema_id, writer, reader, payload))

    def _read_record(
        self, schema_id: int, writer: Any, reader: Any, payload: bytes, **options: Any
    ) -> dict[str, Any]:
        """The Avro datum of ``payload``; SerializationError on anything but one record."""
        buf = io.BytesIO(payload)
        try:
            record = self._fastavro.schemaless_reader(buf, writer, reader, **options)
        except DictaMeshError:
            raise
        except Exception as exc:  # truncated/garbage payloads raise EOFError, ValueError...
            raise SerializationError(
                f"Avro payload does not decode with schema id {schema_id}: {exc!r}",
                schema_id=schema_id,
            ) from exc
        if buf.tell() != len(payload):
            raise SerializationError(
                f"Avro payload has {len(payload) - buf.tell()} trailing bytes",
                schema_id=schema_id,
            )
        if not isinstance(record, dict):
            raise SerializationError("Avro payload is not a record", schema_id=schema_id)
        return record

    def _check_headers(self, headers: Mapping[str, bytes] | None) -> None:
        # Values from foreign Confluent producers carry no content-type: the frame decides.
        ctype = (headers or {}).get(HEADER_CONTENT_TYPE)
        if ctype is not None and ctype.split(b";")[0].strip() != self.content_type.encode():
            raise SerializationError(
                f"cannot decode content-type {ctype.decode(errors='replace')!r} as Avro",
                content_type=ctype.decode(errors="replace"),
            )

    async def resolve(self, value: bytes) -> int:
        """Fetch and cache the writer schema of a framed value, so :meth:`decode` can read it."""
        schema_id, _payload = unframe(value)
        await self._writer_schema(schema_id)
        return schema_id

    def decode(self, value: bytes, headers: Mapping[str, bytes] | None = None) -> ChangeEvent:
        """Decode a framed value whose writer schema is cached (this serializer's own, or
        one fetched by :meth:`resolve`/:meth:`decode_async`)."""
        self._check_headers(headers)
        schema_id, payload = unframe(value)
        writer = self._parsed_by_id.get(schema_id)
        if writer is None:
            raise SerializationError(
                f"writer schema id {schema_id} not cached: await serializer.resolve(value)"
                " or use decode_async()",
                schema_id=schema_id,
            )
        return self._read(schema_id, writer, payload)

    async def decode_async(
        self, value: bytes, headers: Mapping[str, bytes] | None = None
    ) -> ChangeEvent:
        self._check_headers(headers)
        schema_id, payload = unframe(value)
        writer = await self._writer_schema(schema_id)
        return self._read(schema_id, writer, payload)


def _full_name(schema: Mapping[str, Any]) -> str:
    name = str(schema.get("name", ""))
    namespace = schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"
