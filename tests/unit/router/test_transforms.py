"""Each transform step, the untouched fast path, and failures as TransformError."""

from __future__ import annotations

import json

import pytest

from dictamesh.core.models import Classification, EventType
from dictamesh.events.envelopes import from_debezium
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.governance.masking import Masker, MaskStrategy
from dictamesh.router.errors import TransformError
from dictamesh.router.transforms import HEADER_RULE

from .conftest import MASK_KEY, event, message, rules

SERDE = JsonEventSerializer()


def apply(rule: dict, ev=None):  # type: ignore[no-untyped-def]
    ev = ev or event(
        before={"email": "old@example.com", "name": "Jane", "card": "4111 1111 1111 1234"},
        after={"email": "jane@example.com", "name": "Jane D", "card": "4111 1111 1111 1234"},
        changed=["email", "name"],
    )
    compiled = rules({"name": "r", "to": "a.b.out", **rule}).rules[0]
    assert compiled.transform is not None
    return compiled.transform.apply(ev, message(ev)), ev


def test_no_edit_forwards_the_source_record_untouched() -> None:
    routed, ev = apply({})
    source = message(ev)
    assert routed.value is source.value or routed.value == source.value
    assert {k: v for k, v in routed.headers.items() if k != HEADER_RULE} == dict(source.headers)
    assert routed.headers[HEADER_RULE] == b"r"


def test_project_keeps_only_the_listed_fields() -> None:
    routed, _ = apply({"transform": [{"project": ["email"]}]})
    out = SERDE.decode(routed.value, routed.headers)
    assert out.before == {"email": "old@example.com"}
    assert out.after == {"email": "jane@example.com"}
    assert out.changed_fields == ["email"]


def test_rename_renames_fields_and_changed_fields() -> None:
    routed, _ = apply({"transform": [{"rename": {"email": "contact", "name": "full_name"}}]})
    out = SERDE.decode(routed.value, routed.headers)
    assert out.after == {
        "contact": "jane@example.com",
        "full_name": "Jane D",
        "card": "4111 1111 1111 1234",
    }
    assert out.changed_fields == ["contact", "full_name"]


def test_rename_onto_an_existing_field_fails() -> None:
    with pytest.raises(TransformError, match="'name' exists already"):
        apply({"transform": [{"rename": {"email": "name"}}]})


def test_mask_uses_the_governance_masker() -> None:
    routed, _ = apply(
        {
            "transform": [
                {
                    "mask": {
                        "email": {"strategy": "partial", "classification": "pii_email"},
                        "name": "hash",
                        "card": "last4",
                    }
                }
            ]
        }
    )
    out = SERDE.decode(routed.value, routed.headers)
    masker = Masker(MASK_KEY)
    assert out.after == {
        "email": "j***@example.com",
        "name": masker.mask("Jane D", MaskStrategy.HASH, Classification.CONFIDENTIAL),
        "card": "**** **** **** 1234",
    }
    assert out.before is not None
    assert out.before["email"] == "o***@example.com"


def test_headers_are_added() -> None:
    routed, _ = apply({"transform": [{"headers": {"x-routed-by": "mesh", "x-team": "crm"}}]})
    assert routed.headers["x-routed-by"] == b"mesh"
    assert routed.headers["x-team"] == b"crm"


def test_debezium_envelope_reads_back_as_the_event() -> None:
    routed, ev = apply({"transform": [{"project": ["email"]}, {"envelope": {"debezium": True}}]})
    value = json.loads(routed.value)
    assert value["op"] == "u"
    assert value["after"] == {"email": "jane@example.com"}
    back = from_debezium(value)
    assert back.event_id == ev.event_id
    assert back.entity == ev.entity
    assert routed.headers["content-type"] == b"application/json; envelope=debezium"


def test_debezium_delete_has_no_after() -> None:
    deleted = event(event_type=EventType.DELETED, before={"email": "a@b.c"})
    routed, _ = apply({"transform": [{"envelope": {"debezium": True}}]}, deleted)
    value = json.loads(routed.value)
    assert (value["op"], value["after"], value["before"]) == ("d", None, {"email": "a@b.c"})


def test_cloudevents_headers_keep_the_value() -> None:
    routed, ev = apply({"transform": [{"envelope": {"cloudevents": True}}]})
    assert routed.value == message(ev).value
    assert routed.headers["ce_specversion"] == b"1.0"
    assert routed.headers["ce_id"] == str(ev.event_id).encode()
    assert routed.headers["ce_type"] == b"io.dictamesh.customer.updated"
    assert routed.headers["ce_source"] == b"/dictamesh/customers/crm"


def test_steps_run_in_order() -> None:
    # renamed first, so the mask must name the new field
    routed, _ = apply(
        {"transform": [{"rename": {"email": "contact"}}, {"mask": {"contact": "redact"}}]}
    )
    out = SERDE.decode(routed.value, routed.headers)
    assert out.after is not None
    assert out.after["contact"] == "[REDACTED]"
