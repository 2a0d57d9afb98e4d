"""Which events a rule matches, and who it reaches with which preferences."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dictamesh.core.models import ChangeEvent, EntityVersionRef, EventType, SourceRef
from dictamesh.core.notification_config import (
    NotificationRule,
    Priority,
    QuietHours,
    RecipientDirectory,
    RecipientPreferences,
)
from dictamesh.notifications.recipients import Directory, decide, quiet_until
from dictamesh.notifications.rules import EventView, RuleSet


def _predicate(expression: str) -> Any:
    # a tiny stand-in compiler for these tests: "after.<field> == '<value>'"
    field, _, value = expression.removeprefix("after.").partition(" == ")
    value = value.strip("'")

    def check(context: Mapping[str, Any]) -> bool:
        return bool(context["after"].get(field) == value)

    return check


def _rules(*raw: dict[str, Any]) -> RuleSet:
    rules = [NotificationRule.model_validate({"channels": ["mail"], **r}) for r in raw]
    return RuleSet.compile(rules, _predicate)


def _change(
    event_type: EventType, *, changed: list[str], after: dict[str, Any] | None
) -> EventView:
    event = ChangeEvent(
        event_type=event_type,
        entity=EntityVersionRef(type="customer", id="c1", version=2),
        source=SourceRef(domain="customers", system="directus"),
        changed_fields=changed,
        before={"email": "old@x.io", "country": "DE"},
        after=after,
    )
    return EventView.of_change(event, "customers.directus.entity_changed")


def test_topic_glob_event_type_and_changed_fields() -> None:
    rules = _rules(
        {
            "name": "email",
            "when": {
                "topics": ["customers.*.entity_changed"],
                "event_types": ["updated"],
                "changed_fields": ["email"],
            },
        },
        {"name": "deletes", "when": {"entity_types": ["cust*"], "event_types": ["DELETED"]}},
        {"name": "products", "when": {"topics": ["products.*"]}},
    )
    update = _change(
        EventType.UPDATED, changed=["email"], after={"email": "n@x.io", "country": "DE"}
    )
    assert [m.rule.name for m in rules.match(update)] == ["email"]
    other = _change(EventType.UPDATED, changed=["name"], after={"name": "N"})
    assert rules.match(other) == []
    delete = _change(EventType.DELETED, changed=[], after=None)
    assert [m.rule.name for m in rules.match(delete)] == ["deletes"]
    assert delete.changed_fields == {"email", "country"}  # a delete changes all it had


def test_predicate_and_its_errors() -> None:
    rules = _rules(
        {"name": "de", "when": {"topics": ["customers.*.*"], "predicate": "after.country == 'DE'"}}
    )
    de = _change(EventType.UPDATED, changed=["email"], after={"country": "DE"})
    fr = _change(EventType.UPDATED, changed=["email"], after={"country": "FR"})
    assert len(rules.match(de)) == 1
    assert rules.match(fr) == []

    def broken(_: str) -> Any:
        def fail(context: Mapping[str, Any]) -> bool:
            raise ZeroDivisionError

        return fail

    failing = RuleSet.compile(
        [
            NotificationRule.model_validate(
                {"name": "x", "channels": ["m"], "when": {"topics": ["*"], "predicate": "1/0"}}
            )
        ],
        broken,
    )
    assert failing.match(de) == []
    assert failing.predicate_errors == 1


def test_mesh_events_match_on_topic_and_body() -> None:
    rules = _rules(
        {"name": "breaker", "when": {"mesh_events": ["breaker_opened", "breaker_closed"]}},
        {"name": "sagas", "when": {"mesh_events": ["saga_failed"]}},
    )
    opened = EventView.of_mesh_event(
        {
            "event_type": "breaker_changed",
            "adapter": "products_rest",
            "new_state": "open",
            "occurred_at": "2026-12-07T10:00:00+00:00",
        },
        "system.adapters.breaker_changed",
        fallback_id="x",
    )
    [match] = rules.match(opened)
    assert (match.rule.name, match.mesh_event) == ("breaker", "breaker_opened")
    half = EventView.of_mesh_event(
        {"new_state": "half_open"}, "system.adapters.breaker_changed", fallback_id="y"
    )
    assert rules.match(half) == []
    failed = EventView.of_mesh_event(
        {"event_type": "failed", "saga_id": "s1", "tenant_id": "acme"},
        "system.saga.create_invoice.failed",
        fallback_id="z",
    )
    [saga] = rules.match(failed)
    assert saga.mesh_event == "saga_failed"
    assert failed.tenant_id == "acme"


def test_recipients_expand_groups_admins_and_literals() -> None:
    directory = Directory(
        RecipientDirectory.model_validate(
            {
                "users": {
                    "alice": {"email": "a@x.io", "phone": "+4911"},
                    "bob": {"email": "b@x.io"},
                },
                "groups": {"ops": ["alice", "bob"]},
                "tenant_admins": {"acme": ["bob"]},
            }
        )
    )
    assert directory.expand(["group:ops", "alice", "tenant_admins", "email:c@x.io"], "acme") == [
        "alice",
        "bob",
        "email:c@x.io",
    ]
    assert directory.address("alice", "phone") == "+4911"
    assert directory.address("bob", "phone") is None
    assert directory.address("email:c@x.io", "email") == "c@x.io"
    assert directory.address("email:c@x.io", "user") is None
    assert directory.address("bob", "user") == "bob"


def test_quiet_hours_span_midnight_in_the_users_zone() -> None:
    quiet = QuietHours(start="22:00", end="07:00", timezone="Europe/Berlin")
    # 22:30 in Berlin (UTC+1 in December) is 21:30 UTC: quiet until 07:00 Berlin = 06:00 UTC
    until = quiet_until(quiet, datetime(2026, 12, 7, 21, 30, tzinfo=UTC))
    assert until == datetime(2026, 12, 8, 6, 0, tzinfo=UTC)
    assert quiet_until(quiet, datetime(2026, 12, 7, 5, 0, tzinfo=UTC)) == datetime(
        2026, 12, 7, 6, 0, tzinfo=UTC
    )
    assert quiet_until(quiet, datetime(2026, 12, 7, 12, 0, tzinfo=UTC)) is None


def test_preferences_hold_normal_pass_critical() -> None:
    night = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
    prefs = RecipientPreferences.model_validate(
        {
            "quiet_hours": {"start": "22:00", "end": "07:00"},
            "min_priority": "normal",
            "opt_out": {"channels": ["sms"], "rules": ["noisy"]},
        }
    )
    held = decide("r", ["mail", "sms"], Priority.NORMAL, prefs, night)
    assert held.channels == ["mail"]
    assert held.due_at == datetime(2026, 12, 8, 7, 0, tzinfo=UTC)
    assert decide("r", ["mail"], Priority.CRITICAL, prefs, night).due_at is None
    assert decide("r", ["mail"], Priority.LOW, prefs, night).suppressed
    assert (
        decide(
            "r",
            ["mail"],
            Priority.CRITICAL,
            prefs.model_copy(update={"min_priority": Priority.CRITICAL}),
            night,
        ).suppressed
        is None
    )
    assert decide("noisy", ["mail"], Priority.CRITICAL, prefs, night).suppressed
    assert decide("r", ["sms"], Priority.HIGH, prefs, night).suppressed
