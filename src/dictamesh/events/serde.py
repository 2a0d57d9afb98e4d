"""Turning :class:`ChangeEvent` into bus bytes and back.

A :class:`Serializer` produces the record value plus headers that let consumers route and
filter without decoding the body (``event-type``, ``entity-type``, ``tenant-id``) and carry
the W3C ``traceparent`` for distributed tracing: the active OpenTelemetry span's when there
is one (see :mod:`dictamesh.observability.tracing`), else the event's ``trace_context``.
:class:`JsonEventSerializer` is the default; other formats (e.g. Avro in the Confluent wire
format) implement the same Protocol.

Example::

    serde = JsonEventSerializer()
    value, headers = serde.encode(event)
    await bus.publish(event.topic, value, key=event.key, headers=headers)
    ...
    event = serde.decode(msg.value, msg.headers)   # SerializationError on garbage
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import pydantic

from dictamesh.core.errors import SerializationError
from dictamesh.core.models import ChangeEvent, TraceContext
from dictamesh.observability.tracing import current_traceparent, trace_ids, traceparent_text

__all__ = [
    "HEADER_CONTENT_TYPE",
    "HEADER_ENTITY_TYPE",
    "HEADER_EVENT_TYPE",
    "HEADER_SCHEMA_VERSION",
    "HEADER_TENANT_ID",
    "HEADER_TRACEPARENT",
    "JSON_CONTENT_TYPE",
    "JsonEventSerializer",
    "Serializer",
    "event_headers",
    "format_traceparent",
    "parse_traceparent",
]

HEADER_CONTENT_TYPE = "content-type"
HEADER_SCHEMA_VERSION = "schema-version"
HEADER_EVENT_TYPE = "event-type"
HEADER_ENTITY_TYPE = "entity-type"
HEADER_TENANT_ID = "tenant-id"
HEADER_TRACEPARENT = "traceparent"

JSON_CONTENT_TYPE = "application/json"

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@runtime_checkable
class Serializer(Protocol):
    """Encodes a :class:`ChangeEvent` to a record value + headers, and back.

    ``encode``/``decode`` are synchronous on purpose (they sit on the hot path); a format
    that needs remote lookups (a schema registry) resolves and caches them beforehand.
    ``decode`` raises :class:`~dictamesh.core.errors.SerializationError` for anything it
    cannot turn into a valid event, never a library-specific exception.
    """

    @property
    def content_type(self) -> str: ...

    def encode(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]: ...

    def decode(self, value: bytes, headers: Mapping[str, bytes] | None = None) -> ChangeEvent: ...

    async def resolve(self, value: bytes) -> object:
        """Fetch what a later ``decode(value)`` needs (a writer schema); self-contained
        formats do nothing. Consumers await it before the synchronous ``decode``."""
        ...


def event_headers(event: ChangeEvent, content_type: str) -> dict[str, bytes]:
    """The format-independent headers every serializer should attach."""
    headers = {
        HEADER_CONTENT_TYPE: content_type.encode(),
        HEADER_SCHEMA_VERSION: str(event.schema_version).encode(),
        HEADER_EVENT_TYPE: event.event_type.value.encode(),
        HEADER_ENTITY_TYPE: event.entity.type.encode(),
    }
    if event.tenant_id is not None:
        headers[HEADER_TENANT_ID] = event.tenant_id.encode()
    # The active span (the publisher's producer span) is the consumer's parent; without
    # one, the context the event carries from the adapter that detected it.
    traceparent = current_traceparent()
    if traceparent is None and event.trace_context is not None:
        traceparent = format_traceparent(event.trace_context)
    if traceparent is not None:
        headers[HEADER_TRACEPARENT] = traceparent.encode()
    return headers


def format_traceparent(trace: TraceContext, *, sampled: bool = True) -> str | None:
    """W3C ``traceparent`` (``00-<trace>-<span>-<flags>``), or None if the ids are not valid.

    The ids are free strings in :class:`TraceContext`; ones that are not 32/16 lowercase hex
    digits (or are all zeros, which W3C forbids) produce no header rather than a bad one.
    """
    ids = trace_ids(trace)
    if ids is None:
        return None
    return f"00-{ids[0]}-{ids[1]}-{'01' if sampled else '00'}"


def parse_traceparent(value: bytes | str | None) -> TraceContext | None:
    """Read a ``traceparent`` header back into a :class:`TraceContext` (None if invalid)."""
    text = traceparent_text(value)
    m = _TRACEPARENT.match(text) if text is not None else None
    if m is None:
        return None
    version, trace_id, span_id, _flags, rest = m.groups()
    # Version ff is invalid; version 00 allows nothing after the flags.
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return TraceContext(trace_id=trace_id, span_id=span_id)


def _describe(exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


class JsonEventSerializer:
    """Compact JSON of the event model (``ChangeEvent.model_dump_json``), UTF-8."""

    __slots__ = ()

    @property
    def content_type(self) -> str:
        return JSON_CONTENT_TYPE

    def encode(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        return event.model_dump_json().encode(), event_headers(event, JSON_CONTENT_TYPE)

    async def resolve(self, value: bytes) -> None:
        """JSON values are self-contained: nothing to fetch."""

    def decode(self, value: bytes, headers: Mapping[str, bytes] | None = None) -> ChangeEvent:
        if headers:
            ctype = headers.get(HEADER_CONTENT_TYPE)
            if ctype is not None and ctype.split(b";")[0].strip() != JSON_CONTENT_TYPE.encode():
                raise SerializationError(
                    f"cannot decode content-type {ctype.decode(errors='replace')!r} as JSON",
                    content_type=ctype.decode(errors="replace"),
                )
        if not isinstance(value, bytes | bytearray | memoryview):
            raise SerializationError(
                f"event value must be bytes, got {type(value).__name__}",
                value_type=type(value).__name__,
            )
        if not value:
            raise SerializationError("empty record value is not a JSON event (tombstone?)")
        try:
            return ChangeEvent.model_validate_json(value)
        except pydantic.ValidationError as exc:
            json_broken = any(e["type"] in ("json_invalid", "json_type") for e in exc.errors())
            what = "not valid JSON" if json_broken else "not a valid ChangeEvent"
            raise SerializationError(
                f"record value is {what}: {_describe(exc)}", size=len(value)
            ) from exc
