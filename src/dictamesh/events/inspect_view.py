"""Bus records for people: any envelope decoded, headers picked out, bad bytes shown safely.

:class:`EventDecoder` reads a record whatever it carries: DictaMesh JSON, Debezium JSON, or
(typed) Avro in the Confluent frame, whose writer schema comes from a schema registry that
is only opened when the first Avro record turns up (``registry``: an async factory).
:func:`record_view` turns a record (and its decoded event, or why there is none) into a
plain dict for ``--format json`` and the table.

Example::

    decoder = EventDecoder(settings.bus.topics)
    for message in messages:
        view = record_view(message, *await decoder.try_decode(message))
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from dictamesh.core.bus_config import AvroTimestamps, TopicSettings
from dictamesh.core.errors import DictaMeshError, SerializationError
from dictamesh.core.models import ChangeEvent
from dictamesh.events.bus import Message
from dictamesh.events.codecs import TopicCodec, media_type
from dictamesh.events.schema_registry import SchemaRegistryClient
from dictamesh.events.serde import (
    HEADER_CONTENT_TYPE,
    HEADER_TENANT_ID,
    HEADER_TRACEPARENT,
    JsonEventSerializer,
    parse_traceparent,
)

__all__ = ["EventDecoder", "RegistryFactory", "header_text", "record_view", "safe_text", "summary"]

RegistryFactory = Callable[[], Awaitable[SchemaRegistryClient]]

_AVRO_KIND: Final = "application/vnd.dictamesh.avro"  # avro.AVRO_CONTENT_TYPE, any params
_CONFLUENT_MAGIC: Final = b"\x00"
#: raw bytes shown at most (a table cell, a JSON field)
_RAW_LIMIT: Final = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def safe_text(data: bytes, limit: int = _RAW_LIMIT) -> str:
    """``data`` as printable text: UTF-8 where it is, ``\\xNN`` for any other byte and for
    control characters (nothing a terminal would interpret), cut at ``limit`` bytes."""
    text = data[:limit].decode("utf-8", errors="backslashreplace")
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text + (f"... ({len(data)} bytes)" if len(data) > limit else "")


def header_text(value: bytes) -> str:
    return safe_text(value, 500)


class EventDecoder:
    """Decodes records of any envelope to :class:`ChangeEvent` (see the module docs).

    :param topics: ``bus.topics`` (the envelope a topic is written in).
    :param registry: returns the schema registry for Avro records, called once, on the
        first Avro record; None: Avro records are reported undecodable.
    :param timestamps: ``bus.avro_timestamps``.
    """

    def __init__(
        self,
        topics: Sequence[TopicSettings] = (),
        registry: RegistryFactory | None = None,
        *,
        timestamps: AvroTimestamps = AvroTimestamps.MILLIS,
    ) -> None:
        self._json = TopicCodec(JsonEventSerializer(), topics)
        self._topics = tuple(topics)
        self._registry = registry
        self._timestamps = timestamps
        self._avro: TopicCodec | None = None

    async def _avro_codec(self) -> TopicCodec:
        if self._avro is None:
            if self._registry is None:
                raise SerializationError(
                    "an Avro record: decoding it needs a schema registry (bus.schema_registry_url"
                    " or the node's catalog)"
                )
            from dictamesh.events.avro_typed import TypedAvroEventSerializer

            serializer = TypedAvroEventSerializer(
                await self._registry(), timestamps=self._timestamps
            )
            self._avro = TopicCodec(serializer, self._topics)
        return self._avro

    @staticmethod
    def is_avro(message: Message) -> bool:
        ctype = message.headers.get(HEADER_CONTENT_TYPE)
        if ctype is not None:
            return media_type(ctype)[0] == _AVRO_KIND
        return message.value[:1] == _CONFLUENT_MAGIC

    async def decode(self, message: Message) -> ChangeEvent:
        """The event ``message`` carries; :class:`SerializationError` if it holds none."""
        if message.tombstone:
            raise SerializationError("a tombstone (null value) carries no event")
        if not self.is_avro(message):
            return self._json.decode(message.value, message.headers)
        codec = await self._avro_codec()
        await codec.resolve(message.value)
        return codec.decode(message.value, message.headers)

    async def try_decode(self, message: Message) -> tuple[ChangeEvent | None, str | None]:
        """``(event, None)``, or ``(None, why not)`` for a tombstone or undecodable bytes."""
        if message.tombstone:
            return None, None
        try:
            return await self.decode(message), None
        except DictaMeshError as exc:  # bad bytes, an unknown schema id, a registry down
            return None, f"{type(exc).__name__}: {exc.message}"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _headers(headers: Mapping[str, bytes]) -> dict[str, Any]:
    trace = parse_traceparent(headers.get(HEADER_TRACEPARENT))
    tenant = headers.get(HEADER_TENANT_ID)
    ctype = headers.get(HEADER_CONTENT_TYPE)
    return {
        "trace_id": None if trace is None else trace.trace_id,
        "tenant_id": None if tenant is None else header_text(tenant),
        "content_type": None if ctype is None else header_text(ctype),
        "cloudevents": {
            k.removeprefix("ce_"): header_text(v) for k, v in headers.items() if k.startswith("ce_")
        },
        "all": {k: header_text(v) for k, v in headers.items()},
    }


def _event(event: ChangeEvent) -> dict[str, Any]:
    return {
        "event_id": str(event.event_id),
        "event_type": event.event_type.value,
        "entity_type": event.entity.type,
        "entity_id": event.entity.id,
        "version": event.entity.version,
        "changed_fields": list(event.changed_fields),
        "source": f"{event.source.domain}.{event.source.system}",
        "tenant_id": event.tenant_id,
        "after": event.after,
    }


def record_view(
    message: Message, event: ChangeEvent | None, error: str | None = None
) -> dict[str, Any]:
    """One record as plain data: position, time, key, the headers that matter (and all of
    them), then the event, or the raw value shown safely with why it did not decode."""
    view: dict[str, Any] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "timestamp": _iso(message.timestamp_ms),
        "key": message.key,
        "headers": _headers(message.headers),
    }
    if message.tombstone:
        view["tombstone"] = True
    elif event is not None:
        view["event"] = _event(event)
    else:
        view["undecodable"] = error
        view["raw"] = safe_text(message.value)
        view["size"] = len(message.value)
    return view


def summary(view: Mapping[str, Any]) -> str:
    """The value in one line: ``updated customer/c-1 v3 [email, name]``, or what it is."""
    if view.get("tombstone"):
        return "(tombstone)"
    event = view.get("event")
    if event is None:
        why = str(view.get("undecodable") or "").split(":", 1)[0]  # the error's class
        return f"(undecodable: {why}) {view.get('raw', '')[:80]}"
    changed = ", ".join(event["changed_fields"])
    return (
        f"{event['event_type']} {event['entity_type']}/{event['entity_id']}"
        f" v{event['version']}" + (f" [{changed}]" if changed else "")
    )
