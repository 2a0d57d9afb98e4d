"""TopicCodec: round trips of every envelope with and without CloudEvents headers,
content-type dispatch, tombstones, and typed errors on garbage."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat

from dictamesh.core.bus_config import Envelope, TopicCleanup, TopicSettings
from dictamesh.core.errors import ConfigurationError, SerializationError
from dictamesh.core.models import (
    ChangeEvent,
    EntityVersionRef,
    EventType,
    SourceRef,
    TraceContext,
)
from dictamesh.events.codecs import (
    DEBEZIUM_CONTENT_TYPE,
    TopicCodec,
    WritesTombstones,
    media_type,
)
from dictamesh.events.serde import JsonEventSerializer, Serializer

TOPIC = "customers.directus.entity_changed"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def make_event(**overrides: Any) -> ChangeEvent:
    fields: dict[str, Any] = {
        "event_type": EventType.UPDATED,
        "entity": EntityVersionRef(type="customer", id="c-1", version=3),
        "source": SourceRef(domain="customers", system="directus"),
        "changed_fields": ["email"],
        "before": {"email": "old@b.io", "tags": ["x"]},
        "after": {"email": "a@b.io", "tags": ["x", "y"], "score": 1.5},
        "tenant_id": "acme",
        "trace_context": TraceContext(trace_id=TRACE, span_id=SPAN),
    }
    fields.update(overrides)
    return ChangeEvent(**fields)


def codec(**settings: Any) -> TopicCodec:
    return TopicCodec(JsonEventSerializer(), [TopicSettings(name="customers.*", **settings)])


ENVELOPES = [Envelope.DICTAMESH, Envelope.DEBEZIUM]


def test_is_a_serializer_with_the_base_content_type() -> None:
    c = codec()
    assert isinstance(c, Serializer)
    assert isinstance(c, WritesTombstones)
    assert c.content_type == "application/json"


@pytest.mark.parametrize("envelope", ENVELOPES)
@pytest.mark.parametrize("cloudevents", [False, True])
@pytest.mark.parametrize("event_type", list(EventType))
def test_round_trip(envelope: Envelope, cloudevents: bool, event_type: EventType) -> None:
    c = codec(envelope=envelope, cloudevents=cloudevents)
    before = None if event_type is EventType.CREATED else {"email": "old@b.io"}
    after = None if event_type is EventType.DELETED else {"email": "a@b.io", "n": [1, {"x": 2}]}
    event = make_event(event_type=event_type, before=before, after=after)
    value, headers = c.encode(event)
    assert c.decode(value, headers) == event
    # a reader that knows only the base serializer's codec, or only this codec
    assert TopicCodec().decode(value, headers) == event
    assert any(k.startswith("ce_") for k in headers) is cloudevents


def test_dictamesh_envelope_is_the_base_serializers_bytes() -> None:
    event = make_event()
    assert codec().encode(event) == JsonEventSerializer().encode(event)
    # a topic no entry matches: the base serializer's output too
    other = make_event(source=SourceRef(domain="orders", system="shop"))
    assert codec(envelope=Envelope.DEBEZIUM).encode(other) == JsonEventSerializer().encode(other)


def test_debezium_value_and_content_type() -> None:
    event = make_event(event_type=EventType.DELETED, after=None)
    value, headers = codec(envelope=Envelope.DEBEZIUM).encode(event)
    assert headers["content-type"] == DEBEZIUM_CONTENT_TYPE.encode()
    assert headers["event-type"] == b"DELETED"  # the routing headers stay
    body = json.loads(value)
    assert set(body) == {"before", "after", "source", "op", "ts_ms", "transaction"}
    assert "schema" not in body
    assert "payload" not in body
    assert (body["op"], body["after"]) == ("d", None)
    assert body["before"] == {"email": "old@b.io", "tags": ["x"]}
    assert body["source"]["ts_ms"] == event.timestamp
    assert body["source"]["table"] == "customer"
    # still plain JSON to a JSON reader: the media type is application/json
    assert media_type(headers["content-type"])[0] == "application/json"


def test_cloudevent_headers_read_by_the_sdk() -> None:
    event = make_event()
    value, headers = codec(envelope=Envelope.DEBEZIUM, cloudevents=True).encode(event)
    ce = from_binary(KafkaMessage(headers=headers, key=event.key, value=value), JSONFormat())
    assert ce.get_id() == str(event.event_id)
    assert ce.get_source() == "/dictamesh/customers/directus"
    assert ce.get_type() == "io.dictamesh.customer.updated"
    assert ce.get_specversion() == "1.0"
    time = ce.get_time()
    assert time is not None
    assert int(time.timestamp() * 1000) == event.timestamp
    assert ce.get_datacontenttype() == DEBEZIUM_CONTENT_TYPE
    assert ce.get_extension("tenantid") == "acme"
    assert ce.get_extension("traceparent") == headers["traceparent"].decode()
    data = ce.get_data()
    assert isinstance(data, dict)
    assert data["op"] == "u"


def test_cloudevents_on_the_dictamesh_envelope() -> None:
    event = make_event(tenant_id=None, trace_context=None)
    value, headers = codec(cloudevents=True).encode(event)
    assert headers["ce_id"] == str(event.event_id).encode()
    assert "ce_tenantid" not in headers
    assert "ce_traceparent" not in headers
    assert "traceparent" not in headers
    ce = from_binary(KafkaMessage(headers=headers, key=None, value=value), JSONFormat())
    assert ce.get_datacontenttype() == "application/json"
    data = ce.get_data()
    assert isinstance(data, dict)
    assert data["event_id"] == str(event.event_id)


@pytest.mark.parametrize(
    ("settings", "event_type", "expected"),
    [
        ({"envelope": Envelope.DEBEZIUM, "cleanup_policy": TopicCleanup.COMPACT}, "DELETED", True),
        ({"envelope": Envelope.DEBEZIUM, "cleanup_policy": TopicCleanup.COMPACT}, "UPDATED", False),
        ({"envelope": Envelope.DEBEZIUM}, "DELETED", False),  # not compacted: no default
        ({"cleanup_policy": TopicCleanup.COMPACT}, "DELETED", False),
        ({"tombstones": True}, "DELETED", True),
        (
            {
                "envelope": Envelope.DEBEZIUM,
                "cleanup_policy": TopicCleanup.COMPACT,
                "tombstones": False,
            },
            "DELETED",
            False,
        ),
    ],
)
def test_tombstone_after(settings: dict[str, Any], event_type: str, expected: bool) -> None:
    kind = EventType(event_type)
    event = make_event(event_type=kind, after=None if kind is EventType.DELETED else {"a": 1})
    assert codec(**settings).tombstone_after(event) is expected


def test_no_settings_no_tombstones() -> None:
    event = make_event(event_type=EventType.DELETED, after=None)
    assert TopicCodec().tombstone_after(event) is False


def test_tombstone_is_no_event() -> None:
    with pytest.raises(SerializationError, match="tombstone"):
        codec().decode(b"", {"content-type": DEBEZIUM_CONTENT_TYPE.encode()})
    with pytest.raises(SerializationError, match="tombstone"):
        codec().decode(b"", None)


def test_content_type_dispatch_and_sniffing() -> None:
    event = make_event()
    deb_value, _ = codec(envelope=Envelope.DEBEZIUM).encode(event)
    dm_value, _ = codec().encode(event)
    reader = TopicCodec()
    # the header decides, whatever the topic settings of the reader say
    assert reader.decode(deb_value, {"content-type": b"Application/JSON; Envelope=Debezium"}) == (
        event
    )
    assert reader.decode(dm_value, {"content-type": b"application/json"}) == event
    # no content-type: the shape decides
    assert reader.decode(deb_value, {}) == event
    assert reader.decode(dm_value, None) == event
    # a Debezium value labelled as the DictaMesh envelope is not a ChangeEvent
    with pytest.raises(SerializationError):
        reader.decode(deb_value, {"content-type": b"application/json"})
    with pytest.raises(SerializationError, match="content-type"):
        reader.decode(dm_value, {"content-type": b"application/xml"})


def _debezium(event: ChangeEvent) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(codec(envelope=Envelope.DEBEZIUM).encode(event)[0])
    return body


@pytest.mark.parametrize(
    "value",
    [
        b"{",
        b"\xff\xfe",
        b"[1, 2]",
        b'"text"',
        b"null",
        b"[" * 100_000,  # deep nesting: a typed error, not a RecursionError
        json.dumps({"op": "x", "source": {}}).encode(),
        json.dumps({"op": "c", "source": "nope"}).encode(),
        # another connector's envelope: no entity id or event id, not a mesh event
        json.dumps(
            {"op": "c", "after": {"id": 1}, "source": {"db": "inventory", "table": "t"}}
        ).encode(),
    ],
)
def test_garbage_debezium_is_a_serialization_error(value: bytes) -> None:
    with pytest.raises(SerializationError):
        codec().decode(value, {"content-type": DEBEZIUM_CONTENT_TYPE.encode()})


def test_broken_source_fields_are_a_serialization_error() -> None:
    body = _debezium(make_event())
    body["source"]["event_id"] = "not-a-uuid"
    with pytest.raises(SerializationError):
        codec().decode(json.dumps(body).encode(), {"content-type": DEBEZIUM_CONTENT_TYPE.encode()})
    body = _debezium(make_event())
    body["source"]["entity_version"] = "3"
    with pytest.raises(SerializationError, match="entity_version"):
        codec().decode(json.dumps(body).encode(), None)


def test_snapshot_read_op_is_a_create() -> None:
    body = _debezium(make_event(event_type=EventType.CREATED, before=None))
    body["op"] = "r"
    got = codec().decode(json.dumps(body).encode(), None)
    assert got.event_type is EventType.CREATED


def test_media_type() -> None:
    assert media_type(b'application/json; envelope="Debezium"; charset=utf-8') == (
        "application/json",
        {"envelope": "debezium", "charset": "utf-8"},
    )
    assert media_type("text/plain") == ("text/plain", {})


class _OpaqueSerializer:
    """A non-JSON base serializer without encode_debezium (a binary format)."""

    content_type = "application/x-opaque"

    def encode(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        return b"\x01" + event.model_dump_json().encode(), {"content-type": b"application/x-opaque"}

    def decode(self, value: bytes, headers: Mapping[str, bytes] | None = None) -> ChangeEvent:
        return ChangeEvent.model_validate_json(value[1:])

    async def resolve(self, value: bytes) -> None:
        return None


class _TypedSerializer(_OpaqueSerializer):
    """A base that writes the Debezium envelope itself (as the typed Avro one does)."""

    def encode_debezium(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        return b"\x02" + json.dumps(_debezium(event)).encode(), {
            "content-type": b"application/x-opaque-debezium"
        }


def test_debezium_needs_a_base_that_can_write_it() -> None:
    topics = [TopicSettings(name="customers.*", envelope=Envelope.DEBEZIUM)]
    with pytest.raises(ConfigurationError, match=r"customers\.\*.*encode_debezium"):
        TopicCodec(_OpaqueSerializer(), topics)
    # fine as long as no topic asks for it
    TopicCodec(_OpaqueSerializer(), [TopicSettings(name="x.*", cloudevents=True)])


def test_a_typed_base_writes_debezium_and_decodes_its_own() -> None:
    c = TopicCodec(
        _TypedSerializer(),
        [TopicSettings(name="customers.*", envelope=Envelope.DEBEZIUM, cloudevents=True)],
    )
    event = make_event()
    value, headers = c.encode(event)
    assert value[:1] == b"\x02"
    assert headers["content-type"] == b"application/x-opaque-debezium"
    assert headers["ce_type"] == b"io.dictamesh.customer.updated"
    # the DictaMesh envelope of another topic goes through the base as it is
    other = make_event(source=SourceRef(domain="orders", system="shop"))
    value, headers = c.encode(other)
    assert c.decode(value, headers) == other


async def test_resolve_skips_json() -> None:
    calls: list[bytes] = []

    class Recording(_OpaqueSerializer):
        async def resolve(self, value: bytes) -> None:
            calls.append(value)

    c = TopicCodec(Recording())
    await c.resolve(b'{"op": "c"}')
    await c.resolve(b"\x00\x00\x00\x00\x01")
    assert calls == [b"\x00\x00\x00\x00\x01"]


def test_many_topics_do_not_grow_the_cache_unbounded() -> None:
    c = codec(cloudevents=True)
    for i in range(10_050):
        c.settings_for(f"t{i}.s.entity_changed")
    assert len(c._settings) <= 10_000
    assert c.settings_for(TOPIC) is not None


def test_event_id_survives_every_envelope() -> None:
    ids = set()
    for envelope in ENVELOPES:
        event = make_event(event_id=uuid.uuid4())
        value, headers = codec(envelope=envelope).encode(event)
        ids.add(codec().decode(value, headers).event_id == event.event_id)
    assert ids == {True}
