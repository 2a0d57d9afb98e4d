"""From events to outbox rows: masking per recipient before rendering, policy denials,
preferences, dedupe windows, old events, redelivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.core.models import (
    ChangeEvent,
    Classification,
    EntitySchema,
    EntityVersionRef,
    EventType,
    FieldSpec,
    FieldType,
    SourceRef,
)
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.governance.enforce import Governance
from dictamesh.governance.policy import PolicyEngine
from dictamesh.notifications.inbox_store import InboxStore
from dictamesh.notifications.notifier import Notifier
from dictamesh.notifications.rules import EventView, RuleSet
from dictamesh.notifications.store import NotificationStatus, NotificationStore
from dictamesh.notifications.templates import TemplateSet

SCHEMA = EntitySchema(
    entity_type="customer",
    domain="customers",
    fields=[
        FieldSpec(name="email", type=FieldType.STRING, classification=Classification.PII_EMAIL),
        FieldSpec(name="phone", type=FieldType.STRING, classification=Classification.PII_PHONE),
        FieldSpec(name="country", type=FieldType.STRING),
    ],
)
POLICY = {
    "version": 1,
    "default_mask": "partial",
    "rules": [
        {"id": "support-reads", "effect": "allow", "actions": ["read", "read_unmasked"],
         "principal": {"roles": ["support"]}, "resource": {"entity_types": ["customer"]}},
        {"id": "others-masked", "effect": "allow", "actions": ["read"],
         "resource": {"tags": ["pii_*"]}, "mask": "partial"},
        {"id": "interns-denied", "effect": "deny", "actions": ["read"],
         "principal": {"roles": ["intern"]}, "resource": {"entity_types": ["customer"]}},
    ],
}  # fmt: skip


def view(
    i: int = 1, *, event_type: EventType = EventType.UPDATED, at: datetime | None = None
) -> EventView:
    event = ChangeEvent(
        event_type=event_type,
        entity=EntityVersionRef(type="customer", id=f"c{i}", version=2),
        source=SourceRef(domain="customers", system="directus"),
        changed_fields=["email"],
        before={"email": "old@example.com", "phone": "+49 151 1234 5678", "country": "DE"},
        after={"email": "new@example.com", "phone": "+49 151 1234 5678", "country": "DE"},
        **({"timestamp": int(at.timestamp() * 1000)} if at else {}),
    )
    return EventView.of_change(event, "customers.directus.entity_changed")


def notifier(database: CatalogDatabase, notifications: dict[str, Any]) -> Notifier:
    settings = DictaMeshSettings.from_mapping({"notifications": notifications}).notifications
    templates = TemplateSet.build(settings)
    return Notifier(
        settings,
        store=NotificationStore(database),
        inbox=InboxStore(database),
        templates=templates,
        rules=RuleSet.compile(settings.rules, templates.compile_predicate),
        address_fields={"inbox": "user", "hook": None},
        governance=Governance(PolicyEngine.from_mapping(POLICY)),
        schemas=lambda: {"customer": SCHEMA},
    )


CONFIG: dict[str, Any] = {
    "channels": {"inbox": {"kind": "in_app"}},
    "templates": {
        "contact": {
            "en": {"subject": "{{ entity_id }}", "text": "{{ after.email }} {{ after.phone }}"}
        }
    },
    "recipients": {
        "users": {"sue": {"roles": ["support"]}, "bob": {}, "ian": {"roles": ["intern"]}},
    },
    "rules": [
        {"name": "contact", "when": {"topics": ["customers.*.*"]}, "to": ["sue", "bob", "ian"],
         "channels": ["inbox"], "template": "contact"}
    ],
}  # fmt: skip


async def test_each_recipient_gets_what_they_may_read(database: CatalogDatabase) -> None:
    made = await notifier(database, CONFIG).handle([view()])
    assert len(made) == 3
    rows = {r.recipient: r for r in await NotificationStore(database).search()}
    assert rows["sue"].text == "new@example.com +49 151 1234 5678"  # support: in clear
    assert "+49 151 1234 5678" not in rows["bob"].text  # masked before rendering
    assert "5678" in rows["bob"].text
    assert "new@example.com" not in rows["bob"].text
    assert rows["ian"].status is NotificationStatus.SUPPRESSED  # the policy denies interns
    assert rows["ian"].text == ""
    assert rows["ian"].last_error == "the policy denies the recipient this entity"


async def test_a_redelivered_event_enqueues_nothing(database: CatalogDatabase) -> None:
    first = notifier(database, CONFIG)
    event = view()
    assert len(await first.handle([event])) == 3
    assert await first.handle([event]) == []
    assert await notifier(database, CONFIG).handle([event]) == []  # another node


async def test_stored_preferences_and_old_events(database: CatalogDatabase) -> None:
    inbox = InboxStore(database)
    await inbox.set_preferences("sue", {"opt_out": {"rules": ["contact"]}})
    await inbox.set_preferences("bob", {"min_priority": "high"})
    made = notifier(database, CONFIG)
    await made.handle([view()])
    rows = {r.recipient: r for r in await NotificationStore(database).search()}
    assert rows["sue"].status is NotificationStatus.SUPPRESSED
    assert rows["sue"].last_error == "opted out of rule contact"
    assert rows["bob"].status is NotificationStatus.SUPPRESSED
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    assert await made.handle([view(2, at=long_ago)]) == []
    assert made.too_old == 1


async def test_a_dedupe_window_keeps_one_per_entity_and_recipient(
    database: CatalogDatabase,
) -> None:
    config = {**CONFIG, "rules": [{**CONFIG["rules"][0], "to": ["sue"], "dedupe": "10m"}]}
    made = notifier(database, config)
    assert len(await made.handle([view(1)])) == 1
    assert await made.handle([view(1)]) == []  # another change of c1 (a new event id)
    assert len(await made.handle([view(2)])) == 1  # another entity: its own window
