"""Per-topic envelopes: the :class:`~dictamesh.events.serde.Serializer` a node publishes and
consumes with, applying ``bus.topics`` (``docs/events.md``, "Envelopes").

:class:`TopicCodec` wraps a base serializer (JSON by default, the typed Avro one with
``bus.serialization: avro``). ``encode(event)`` looks up the event's topic settings
(:func:`~dictamesh.core.bus_config.topic_settings_for` on ``event.topic``) and writes

* the **DictaMesh** envelope: whatever the base serializer writes (``content-type:
  application/json`` for JSON);
* the **Debezium** envelope: for a JSON base, :func:`~dictamesh.events.envelopes.to_debezium`
  as plain JSON (no Kafka Connect ``schema``/``payload`` wrapper) with ``content-type:
  application/json; envelope=debezium`` (:data:`DEBEZIUM_CONTENT_TYPE`: still JSON for any
  JSON reader, and telling our decoder which shape to expect); for another base, its
  ``encode_debezium(event)`` (:class:`EncodesDebezium`), which labels its own content type;
* plus, with ``cloudevents: true``, the CloudEvents 1.0 Kafka binary-mode ``ce_*`` headers
  (``content-type`` is the CloudEvent's ``datacontenttype``).

``decode(value, headers)`` reads any of them by the ``content-type`` header, whatever the
topic's settings say now (a topic may hold records written before a change of envelope).
A value with no ``content-type`` that looks like a Debezium envelope (a JSON object with
``op`` and ``source`` and no ``event_id``) is read as one. Deleting on a topic whose settings
``writes_tombstones`` is followed by a tombstone (:meth:`TopicCodec.tombstone_after`, which
:class:`~dictamesh.events.publisher.EventPublisher` asks).

Example::

    codec = TopicCodec(JsonEventSerializer(), settings.bus.topics)
    value, headers = codec.encode(event)      # Debezium + ce_* on a topic configured so
    same = codec.decode(value, headers)       # whichever envelope the record carries
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol, runtime_checkable

import pydantic_core

from dictamesh.core.bus_config import Envelope, TopicSettings, topic_settings_for
from dictamesh.core.errors import ConfigurationError, SerializationError
from dictamesh.core.models import ChangeEvent, EventType
from dictamesh.events.envelopes import cloudevent_headers, from_debezium, to_debezium
from dictamesh.events.serde import (
    HEADER_CONTENT_TYPE,
    HEADER_TRACEPARENT,
    JSON_CONTENT_TYPE,
    JsonEventSerializer,
    Serializer,
    event_headers,
)

__all__ = [
    "DEBEZIUM_CONTENT_TYPE",
    "EncodesDebezium",
    "TopicCodec",
    "WritesTombstones",
    "media_type",
]

DEBEZIUM_CONTENT_TYPE: Final = "application/json; envelope=debezium"
_MAX_CACHED_TOPICS: Final = 10_000
_JSON: Final = JSON_CONTENT_TYPE.encode()


@runtime_checkable
class EncodesDebezium(Protocol):
    """A base serializer that writes the Debezium envelope in its own format (typed Avro)."""

    def encode_debezium(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]: ...


@runtime_checkable
class WritesTombstones(Protocol):
    """A serializer that says when a tombstone follows an event (a delete on a compacted
    topic); the publisher writes it with the event's key."""

    def tombstone_after(self, event: ChangeEvent) -> bool: ...


def media_type(content_type: bytes | str) -> tuple[str, dict[str, str]]:
    """``'application/json; envelope=debezium'`` → ``('application/json', {'envelope':
    'debezium'})``: lowercased type, parameters by lowercased name (quotes removed)."""
    text = content_type.decode("latin-1") if isinstance(content_type, bytes) else content_type
    kind, *params = text.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        name, sep, value = param.partition("=")
        if sep:
            parsed[name.strip().lower()] = value.strip().strip('"').lower()
    return kind.strip().lower(), parsed


def _is_debezium_json(content_type: bytes) -> bool:
    kind, params = media_type(content_type)
    return kind == JSON_CONTENT_TYPE and params.get("envelope") == Envelope.DEBEZIUM.value


def _looks_debezium(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and "op" in value
        and "source" in value
        and ("event_id" not in value)
    )


class TopicCodec:
    """Encodes each event in its topic's envelope (``bus.topics``); decodes any envelope.

    :param base: the serializer of the DictaMesh envelope (default JSON).
    :param topics: ``bus.topics`` entries (first glob match on ``event.topic`` wins).
    :raises ConfigurationError: a topic asks for the Debezium envelope and ``base`` is
        neither JSON nor able to ``encode_debezium``.
    """

    def __init__(
        self, base: Serializer | None = None, topics: Sequence[TopicSettings] = ()
    ) -> None:
        self.base: Serializer = base if base is not None else JsonEventSerializer()
        self.topics = tuple(topics)
        self._json_base = self.base.content_type == JSON_CONTENT_TYPE
        if not self._json_base and not isinstance(self.base, EncodesDebezium):
            debezium = [t.name for t in self.topics if t.envelope is Envelope.DEBEZIUM]
            if debezium:
                raise ConfigurationError(
                    f"bus.topics {debezium} ask for the Debezium envelope, which the"
                    f" {self.base.content_type!r} serializer ({type(self.base).__name__})"
                    " cannot write: it has no encode_debezium(event)",
                    setting="bus.topics",
                )
        self._settings: dict[str, TopicSettings | None] = {}

    def __repr__(self) -> str:
        return f"TopicCodec({self.base!r}, {len(self.topics)} topic setting(s))"

    @property
    def content_type(self) -> str:
        """The base serializer's (the DictaMesh envelope's) content type."""
        return self.base.content_type

    def settings_for(self, topic: str) -> TopicSettings | None:
        """The ``bus.topics`` entry of ``topic`` (without a tenant prefix), if any."""
        try:
            return self._settings[topic]
        except KeyError:
            pass
        found = topic_settings_for(self.topics, topic)
        if len(self._settings) >= _MAX_CACHED_TOPICS:
            self._settings.clear()
        self._settings[topic] = found
        return found

    def encode(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        settings = self.settings_for(event.topic) if self.topics else None
        if settings is None:
            return self.base.encode(event)
        if settings.envelope is Envelope.DEBEZIUM:
            value, headers = self.encode_debezium(event)
        else:
            value, headers = self.base.encode(event)
        if settings.cloudevents:
            headers.update(cloudevent_headers(event, traceparent=headers.get(HEADER_TRACEPARENT)))
        return value, headers

    def encode_debezium(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        """``event`` in the Debezium envelope, whatever its topic's settings say (the
        router's ``envelope`` step)."""
        if self._json_base:
            value = pydantic_core.to_json(to_debezium(event))
            return value, event_headers(event, DEBEZIUM_CONTENT_TYPE)
        assert isinstance(self.base, EncodesDebezium)  # checked in __init__
        return self.base.encode_debezium(event)

    def tombstone_after(self, event: ChangeEvent) -> bool:
        """True when ``event`` is a delete on a topic whose settings ``writes_tombstones``."""
        if event.event_type is not EventType.DELETED or not self.topics:
            return False
        settings = self.settings_for(event.topic)
        return settings is not None and settings.writes_tombstones

    async def resolve(self, value: bytes) -> object:
        if value[:1] == b"{":
            return None  # JSON is self-contained (an Avro-framed value starts with 0x00)
        return await self.base.resolve(value)

    def decode(self, value: bytes, headers: Mapping[str, bytes] | None = None) -> ChangeEvent:
        if isinstance(value, bytes | bytearray | memoryview) and not value:
            raise SerializationError("a tombstone (null value) carries no event")
        ctype = headers.get(HEADER_CONTENT_TYPE) if headers else None
        if ctype is not None:
            if ctype != _JSON and _is_debezium_json(ctype):  # the usual case parses nothing
                return from_debezium(_json_object(value))
            return self.base.decode(value, headers)
        if isinstance(value, bytes | bytearray) and value[:1] == b"{":
            parsed = _json_object(value)
            if _looks_debezium(parsed):
                return from_debezium(parsed)
        return self.base.decode(value, headers)


def _json_object(value: bytes | bytearray | memoryview) -> Any:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise SerializationError(
            f"event value must be bytes, got {type(value).__name__}",
            value_type=type(value).__name__,
        )
    try:
        return pydantic_core.from_json(bytes(value))
    except ValueError as exc:
        raise SerializationError(f"record value is not valid JSON: {exc}", size=len(value)) from exc
