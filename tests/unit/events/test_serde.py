"""JsonEventSerializer: round trip, headers, traceparent, and typed errors on bad input."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dictamesh.core.errors import SerializationError
from dictamesh.core.models import (
    ChangeEvent,
    EntityVersionRef,
    EventType,
    SourceRef,
    TraceContext,
)
from dictamesh.events.serde import (
    JsonEventSerializer,
    Serializer,
    format_traceparent,
    parse_traceparent,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def make_event(**overrides: Any) -> ChangeEvent:
    fields: dict[str, Any] = {
        "event_type": EventType.UPDATED,
        "entity": EntityVersionRef(type="customer", id="c-1", version=3),
        "source": SourceRef(domain="customers", system="directus"),
        "changed_fields": ["email"],
        "before": {"email": "old@b.io"},
        "after": {"email": "a@b.io"},
    }
    fields.update(overrides)
    return ChangeEvent(**fields)


def test_is_a_serializer() -> None:
    assert isinstance(JsonEventSerializer(), Serializer)
    assert JsonEventSerializer().content_type == "application/json"


def test_encode_is_compact_json_and_headers() -> None:
    event = make_event(tenant_id="acme", trace_context=TraceContext(trace_id=TRACE, span_id=SPAN))
    value, headers = JsonEventSerializer().encode(event)
    assert b" " not in value.replace(b'" "', b"")  # compact: no spaces between tokens
    assert json.loads(value)["entity"] == {"type": "customer", "id": "c-1", "version": 3}
    assert headers == {
        "content-type": b"application/json",
        "schema-version": b"1",
        "event-type": b"UPDATED",
        "entity-type": b"customer",
        "tenant-id": b"acme",
        "traceparent": f"00-{TRACE}-{SPAN}-01".encode(),
    }


def test_optional_headers_absent_when_unset() -> None:
    _, headers = JsonEventSerializer().encode(make_event())
    assert "tenant-id" not in headers
    assert "traceparent" not in headers


def test_roundtrip_simple() -> None:
    serde = JsonEventSerializer()
    event = make_event(trace_context=TraceContext(trace_id=TRACE, span_id=SPAN))
    value, headers = serde.encode(event)
    assert serde.decode(value, headers) == event
    assert serde.decode(value) == event  # headers are optional


def test_traceparent_helpers() -> None:
    tc = TraceContext(trace_id=TRACE.upper(), span_id=SPAN)
    header = format_traceparent(tc)
    assert header == f"00-{TRACE}-{SPAN}-01"
    assert format_traceparent(tc, sampled=False) == f"00-{TRACE}-{SPAN}-00"
    assert parse_traceparent(header) == TraceContext(trace_id=TRACE, span_id=SPAN)
    assert parse_traceparent(header.encode()) == TraceContext(trace_id=TRACE, span_id=SPAN)
    # future versions may append fields; version 00 may not
    assert parse_traceparent(f"01-{TRACE}-{SPAN}-01-extra") is not None
    for bad in (
        None,
        b"\xff",
        "garbage",
        f"00-{TRACE}-{SPAN}-01-extra",
        f"ff-{TRACE}-{SPAN}-01",
        f"00-{'0' * 32}-{SPAN}-01",
        f"00-{TRACE}-{'0' * 16}-01",
        f"00-{TRACE[:-1]}-{SPAN}-01",
    ):
        assert parse_traceparent(bad) is None, bad


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [("not-hex", SPAN), (TRACE, "short"), ("0" * 32, SPAN), (TRACE, "0" * 16)],
)
def test_invalid_trace_ids_produce_no_header(trace_id: str, span_id: str) -> None:
    event = make_event(trace_context=TraceContext(trace_id=trace_id, span_id=span_id))
    value, headers = JsonEventSerializer().encode(event)
    assert "traceparent" not in headers
    assert JsonEventSerializer().decode(value, headers) == event  # body still carries it


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (b"\x00\xff\xfe garbage", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"[1, 2]", "not a valid ChangeEvent"),
        (b'{"event_type": "UPDATED"}', "not a valid ChangeEvent"),
        (b"", "empty"),
    ],
)
def test_decode_errors_are_serialization_errors(value: bytes, fragment: str) -> None:
    with pytest.raises(SerializationError, match=fragment) as info:
        JsonEventSerializer().decode(value)
    assert info.value.code == "SERIALIZATION_ERROR"
    assert info.value.http_status == 400


def test_decode_invalid_field_value_names_the_field() -> None:
    value, headers = JsonEventSerializer().encode(make_event())
    doc = json.loads(value)
    doc["event_type"] = "EXPLODED"
    with pytest.raises(SerializationError, match="event_type"):
        JsonEventSerializer().decode(json.dumps(doc).encode(), headers)


def test_decode_refuses_other_content_types() -> None:
    value, _ = JsonEventSerializer().encode(make_event())
    with pytest.raises(SerializationError, match="avro"):
        JsonEventSerializer().decode(value, {"content-type": b"application/vnd.avro"})
    # parameters after ';' are fine
    JsonEventSerializer().decode(value, {"content-type": b"application/json; charset=utf-8"})


def test_decode_refuses_non_bytes() -> None:
    with pytest.raises(SerializationError, match="bytes"):
        JsonEventSerializer().decode("{}")  # type: ignore[arg-type]


_json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_name = st.from_regex(r"^[a-z][a-z0-9_]{0,10}$", fullmatch=True)
_entity_id = st.from_regex(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,20}$", fullmatch=True)
_hex = st.text(alphabet="0123456789abcdef", min_size=1, max_size=40)

events = st.builds(
    ChangeEvent,
    event_id=st.uuids(),
    event_type=st.sampled_from(EventType),
    timestamp=st.integers(min_value=0, max_value=2**53),
    entity=st.builds(EntityVersionRef, type=_name, id=_entity_id, version=st.integers(0, 2**31)),
    source=st.builds(SourceRef, domain=_name, system=_name),
    changed_fields=st.lists(st.text(max_size=10), max_size=5),
    before=st.none() | st.dictionaries(st.text(max_size=10), _json, max_size=5),
    after=st.none() | st.dictionaries(st.text(max_size=10), _json, max_size=5),
    tenant_id=st.none() | st.text(alphabet=st.characters(codec="ascii"), max_size=12),
    trace_context=st.none() | st.builds(TraceContext, trace_id=_hex, span_id=_hex),
    schema_version=st.integers(1, 100),
)


@given(events)
def test_roundtrip_property(event: ChangeEvent) -> None:
    serde = JsonEventSerializer()
    value, headers = serde.encode(event)
    decoded = serde.decode(value, headers)
    assert decoded == event
    assert isinstance(decoded.event_id, uuid.UUID)
    assert headers["event-type"] == event.event_type.value.encode()
    tc = event.trace_context
    if "traceparent" in headers:
        assert tc is not None
        assert parse_traceparent(headers["traceparent"]) == TraceContext(
            trace_id=tc.trace_id.lower(), span_id=tc.span_id.lower()
        )


@given(st.binary(max_size=200))
def test_decode_never_leaks_foreign_errors(data: bytes) -> None:
    with contextlib.suppress(SerializationError):
        JsonEventSerializer().decode(data)
