"""Interop envelopes: a :class:`ChangeEvent` as Debezium and CloudEvents consumers read it.

Pure functions; which topic carries which envelope is ``bus.topics`` (``core/bus_config.py``)
and the codec that applies them (``events/codecs.py``).

**Debezium** (written from Debezium's documentation, "Change event values"): the value is
``{"before", "after", "source", "op", "ts_ms", "transaction"}``; ``op`` is ``c`` (create),
``u`` (update), ``d`` (delete) or ``r`` (read, a snapshot row); ``before``/``after`` are the
row before and after the change (``None`` where there is none). ``source`` describes where
the change came from: the fields every Debezium connector sets (``version``, ``connector``,
``name``, ``ts_ms``, ``snapshot``, ``db``, ``table``) plus DictaMesh's own (``event_id``,
``entity_id``, ``entity_version``, ``system``, ``tenant_id``, ``changed_fields``,
``schema_version``, ``trace_id``/``span_id``), so the envelope converts back without loss.
The value is JSON without Kafka Connect's ``schema``/``payload`` wrapper (the JsonConverter
with ``schemas.enable=false``).

**CloudEvents 1.0, Kafka protocol binding, binary mode**: the value stays what it was (the
event's data) and the context attributes travel as ``ce_*`` headers; ``datacontenttype`` is
the ``content-type`` header. Extension attributes: ``tenantid``, ``entitytype``,
``traceparent`` (the Distributed Tracing extension).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import pydantic

from dictamesh import __version__
from dictamesh.core.errors import SerializationError
from dictamesh.core.models import (
    ChangeEvent,
    EntityVersionRef,
    EventType,
    SourceRef,
    TraceContext,
    now_ms,
)

__all__ = [
    "CE_PREFIX",
    "CE_SPECVERSION",
    "DEBEZIUM_CONNECTOR",
    "OP_FOR_EVENT_TYPE",
    "cloudevent_attributes",
    "cloudevent_headers",
    "cloudevent_type",
    "from_debezium",
    "to_debezium",
]

DEBEZIUM_CONNECTOR: Final = "dictamesh"
OP_FOR_EVENT_TYPE: Final[Mapping[EventType, str]] = {
    EventType.CREATED: "c",
    EventType.UPDATED: "u",
    EventType.DELETED: "d",
}
# "r" is a snapshot read: for a reader of the mesh, an entity that now exists
_EVENT_TYPE_FOR_OP: Final[Mapping[str, EventType]] = {
    "c": EventType.CREATED,
    "r": EventType.CREATED,
    "u": EventType.UPDATED,
    "d": EventType.DELETED,
}

CE_PREFIX: Final = "ce_"
CE_SPECVERSION: Final = "1.0"


def to_debezium(event: ChangeEvent, *, ts_ms: int | None = None) -> dict[str, Any]:
    """The Debezium envelope of ``event``; ``ts_ms``: when it was converted (default: now)."""
    trace = event.trace_context
    source: dict[str, Any] = {
        "version": __version__,
        "connector": DEBEZIUM_CONNECTOR,
        "name": f"{event.source.domain}.{event.source.system}",
        "ts_ms": event.timestamp,
        "snapshot": "false",
        "db": event.source.domain,
        "table": event.entity.type,
        "system": event.source.system,
        "event_id": str(event.event_id),
        "entity_id": event.entity.id,
        "entity_version": event.entity.version,
        "tenant_id": event.tenant_id,
        "changed_fields": list(event.changed_fields),
        "schema_version": event.schema_version,
        "trace_id": trace.trace_id if trace else None,
        "span_id": trace.span_id if trace else None,
    }
    return {
        "before": event.before,
        "after": event.after,
        "source": source,
        "op": OP_FOR_EVENT_TYPE[event.event_type],
        "ts_ms": now_ms() if ts_ms is None else ts_ms,
        "transaction": None,
    }


def _field(mapping: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = mapping.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise SerializationError(f"Debezium envelope: {name!r} missing or not {kind}", field=name)
    return value


def from_debezium(value: Mapping[str, Any]) -> ChangeEvent:
    """The :class:`ChangeEvent` a Debezium envelope written by :func:`to_debezium` carries.

    Raises :class:`SerializationError` on anything else (another connector's envelope lacks
    the entity id and event id: it is not a mesh event)."""
    if not isinstance(value, Mapping):
        raise SerializationError("Debezium envelope must be a JSON object")
    op = value.get("op")
    if not isinstance(op, str) or op not in _EVENT_TYPE_FOR_OP:
        raise SerializationError(f"Debezium envelope: unsupported op {op!r}", op=str(op)[:8])
    source = _field(value, "source", Mapping)
    trace_id, span_id = source.get("trace_id"), source.get("span_id")
    try:
        return ChangeEvent(
            event_id=uuid.UUID(_field(source, "event_id", str)),
            event_type=_EVENT_TYPE_FOR_OP[op],
            timestamp=_field(source, "ts_ms", int),
            entity=EntityVersionRef(
                type=_field(source, "table", str),
                id=_field(source, "entity_id", str),
                version=_field(source, "entity_version", int),
            ),
            source=SourceRef(
                domain=_field(source, "db", str), system=_field(source, "system", str)
            ),
            changed_fields=list(source.get("changed_fields") or []),
            before=value.get("before"),
            after=value.get("after"),
            tenant_id=source.get("tenant_id"),
            trace_context=TraceContext(trace_id=trace_id, span_id=span_id)
            if isinstance(trace_id, str) and isinstance(span_id, str)
            else None,
            schema_version=source.get("schema_version") or 1,
        )
    except (ValueError, pydantic.ValidationError) as exc:
        raise SerializationError(f"Debezium envelope is not a mesh event: {exc}") from exc


def cloudevent_type(event: ChangeEvent) -> str:
    """``io.dictamesh.<entity type>.<created|updated|deleted>``."""
    return f"io.dictamesh.{event.entity.type}.{event.event_type.value.lower()}"


def cloudevent_attributes(event: ChangeEvent) -> dict[str, str]:
    """The CloudEvents context attributes of ``event`` (without ``datacontenttype``)."""
    attributes = {
        "specversion": CE_SPECVERSION,
        "id": str(event.event_id),
        "source": f"/dictamesh/{event.source.domain}/{event.source.system}",
        "type": cloudevent_type(event),
        "time": datetime.fromtimestamp(event.timestamp / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "subject": f"{event.entity.type}/{event.entity.id}",
        "entitytype": event.entity.type,
    }
    if event.tenant_id is not None:
        attributes["tenantid"] = event.tenant_id
    return attributes


def cloudevent_headers(event: ChangeEvent, *, traceparent: bytes | None = None) -> dict[str, bytes]:
    """``ce_*`` Kafka headers (binary mode); ``content-type`` is the serializer's already."""
    headers = {f"{CE_PREFIX}{k}": v.encode() for k, v in cloudevent_attributes(event).items()}
    if traceparent is not None:
        headers[f"{CE_PREFIX}traceparent"] = traceparent
    return headers
