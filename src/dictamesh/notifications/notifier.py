"""From events to outbox rows: match rules, expand recipients, apply preferences, mask,
render, enqueue — idempotently.

Governance comes **before** rendering: each recipient's copy of a change event has its
``before``/``after`` masked for that recipient (a user's ``roles``; literal addresses and
channel targets get no roles, the most masked view), so a template can only print what the
recipient may read; a recipient the policy denies the entity is not notified.

Every row's ``dedupe_key`` is a hash of (rule, event id, recipient): the bus delivers at
least once, the outbox enqueues once. A rule's ``dedupe`` window adds a second key per
(rule, recipient, subject of the event, window) — at most one message per window. A rule's
``digest`` stores each match as an item of the digest for (rule, recipient, window), due when
the window closes (see :mod:`dictamesh.notifications.worker`).

Example::

    notifier = Notifier(settings.notifications, store=store, inbox=inbox, templates=templates,
                        rules=rules, address_fields={"ops_mail": "email"})
    created = await notifier.handle([EventView.of_change(event, topic)])
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from dictamesh.core.errors import PermissionDenied
from dictamesh.core.models import EntitySchema
from dictamesh.core.notification_config import NotificationRule
from dictamesh.core.principal import Principal
from dictamesh.core.settings import NotificationSettings
from dictamesh.governance.enforce import CHANNEL_NOTIFICATION, Governance
from dictamesh.notifications.errors import TemplateRenderError
from dictamesh.notifications.inbox_store import InboxStore
from dictamesh.notifications.metrics import NotificationMetrics
from dictamesh.notifications.recipients import Directory, decide
from dictamesh.notifications.rules import EventView, RuleMatch, RuleSet
from dictamesh.notifications.store import NewNotification, NotificationStatus, NotificationStore
from dictamesh.notifications.templates import Rendered, TemplateSet

__all__ = ["DIGEST_GRACE", "Notifier", "digest_template", "key_of"]

log = logging.getLogger("dictamesh.notifications")

#: a digest is closed this long after its window ends, so an event matched at the very end of
#: the window (its transaction still committing) is in it
DIGEST_GRACE = timedelta(seconds=2)
_FALLBACK_TEMPLATE = "event"


def key_of(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def digest_template(templates: TemplateSet, rule: NotificationRule) -> str:
    """A rule's digest template: ``<template>_digest`` when there is one, else ``digest``."""
    own = f"{rule.template}_digest"
    return own if templates.has(own) else "digest"


def _digest_id(tenant: str, digest_key: str) -> str:
    """A digest's id: the same for every item of its window, on every node."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dictamesh-digest:{tenant}:{digest_key}"))


def _suppressed(base: NewNotification, why: str) -> NewNotification:
    """A row that records why nothing is sent (it is never queued)."""
    return replace(base, status=NotificationStatus.SUPPRESSED, last_error=why)


def _bucket(now: datetime, window: timedelta) -> tuple[int, datetime]:
    seconds = window.total_seconds()
    index = int(now.timestamp() // seconds)
    end = datetime.fromtimestamp((index + 1) * seconds, now.tzinfo)
    return index, end


def _group_key(view: EventView, mesh_event: str | None) -> str:
    body = view.body
    if view.entity_type:
        return f"{view.entity_type}:{view.entity_id}"
    for field, prefix in (("adapter", "breaker"), ("saga_id", "saga"), ("topic", "topic")):
        value = body.get(field)
        if isinstance(value, str) and value:
            return f"{prefix}:{value}"
    return f"{mesh_event or view.event_type}:{view.topic}"


class Notifier:
    def __init__(
        self,
        settings: NotificationSettings,
        *,
        store: NotificationStore,
        inbox: InboxStore,
        templates: TemplateSet,
        rules: RuleSet,
        address_fields: Mapping[str, str | None],
        governance: Governance | None = None,
        schemas: Callable[[], Mapping[str, EntitySchema]] = dict,
        metrics: NotificationMetrics | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.inbox = inbox
        self.templates = templates
        self.rules = rules
        self.address_fields = dict(address_fields)
        self.directory = Directory(settings.recipients)
        self.governance = governance
        self.schemas = schemas
        self.metrics = metrics
        self._clock = clock or store.database.now
        #: renders that failed and fell back to the built-in template
        self.render_errors = 0
        #: events skipped as older than ``max_event_age_seconds``
        self.too_old = 0

    async def handle(self, views: Sequence[EventView]) -> list[str]:
        """Enqueue what ``views`` call for; returns the ids of the rows created (rows
        already there — a redelivered event — are not created again)."""
        rows: list[NewNotification] = []
        oldest = self._clock() - timedelta(seconds=self.settings.max_event_age_seconds)
        for view in views:
            if view.occurred_at is not None and view.occurred_at < oldest:
                self.too_old += 1
                continue
            for match in self.rules.match(view):
                rows.extend(await self._plan(view, match))
        if not rows:
            return []
        created = await self.store.enqueue(rows)
        if self.metrics is not None:
            made = set(created)
            for row in rows:
                if row.id in made and row.kind != "digest":
                    self.metrics.enqueued.labels(row.rule, row.status.value).inc()
        return created

    # --- one rule on one event ------------------------------------------------------------

    async def _plan(self, view: EventView, match: RuleMatch) -> list[NewNotification]:
        rule = match.rule
        now = self._clock()
        if rule.to:
            recipients = self.directory.expand(rule.to, view.tenant_id)
        else:
            recipients = [f"channel:{rule.channels[0]}"]
        stored = await self.inbox.all_preferences(
            [r for r in recipients if self.directory.user(r) is not None], tenant=view.tenant_id
        )
        group_key = _group_key(view, match.mesh_event)
        rows: list[NewNotification] = []
        for recipient in recipients:
            usable = [
                c
                for c in rule.channels
                if self.directory.address(recipient, self.address_fields.get(c)) is not None
                or (recipient.startswith("channel:") and self.address_fields.get(c) is None)
            ]
            base = NewNotification(
                tenant_id=view.tenant_id,
                kind="message",
                rule=rule.name,
                dedupe_key=key_of(rule.name, view.event_id, recipient),
                recipient=recipient,
                channels=list(rule.channels),
                priority=rule.priority,
                status=NotificationStatus.PENDING,
                event_id=view.event_id,
                topic=view.topic,
                occurred_at=view.occurred_at,
                group_key=group_key,
                resolve=match.mesh_event == "breaker_closed",
            )
            if not usable:
                rows.append(_suppressed(base, "no address for any channel of the rule"))
                continue
            prefs = self.directory.preferences(recipient, stored.get(recipient))
            decision = decide(rule.name, usable, rule.priority, prefs, now)
            if decision.suppressed is not None:
                rows.append(_suppressed(replace(base, channels=usable), decision.suppressed))
                continue
            context = await self._masked_context(view, recipient)
            base = replace(base, channels=decision.channels)
            if context is None:
                rows.append(_suppressed(base, "the policy denies the recipient this entity"))
                continue
            user = self.directory.user(recipient)
            locale = (user.locale if user else None) or self.settings.default_locale
            context.update(
                rule=rule.name,
                priority=rule.priority.value,
                recipient=recipient,
                count=1,
                mesh_event=match.mesh_event,
                items=[],
            )
            window_key = None
            if rule.dedupe is not None:
                index, _ = _bucket(now, rule.dedupe)
                window_key = key_of("window", rule.name, recipient, group_key, index)
            if rule.digest is not None:
                rows.extend(self._digest_rows(rule, base, context["event"], locale, now))
                continue
            rendered = self._render(rule.template, locale, context)
            rows.append(
                replace(
                    base,
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html,
                    locale=locale,
                    event=context["event"],
                    window_key=window_key,
                    due_at=decision.due_at,
                )
            )
        return rows

    def _digest_rows(
        self,
        rule: NotificationRule,
        base: NewNotification,
        event: dict[str, Any],
        locale: str,
        now: datetime,
    ) -> list[NewNotification]:
        assert rule.digest is not None
        index, end = _bucket(now, rule.digest)
        digest_key = key_of("digest", rule.name, base.recipient, index)
        item = replace(
            base,
            id=str(uuid.uuid4()),
            kind="item",
            status=NotificationStatus.COLLECTING,
            event=event,
            digest_key=digest_key,
            locale=locale,
            group_key=None,
            resolve=False,
        )
        digest = replace(
            base,
            id=_digest_id(base.tenant_id, digest_key),
            kind="digest",
            status=NotificationStatus.COLLECTING,
            dedupe_key=digest_key,
            locale=locale,
            due_at=end + DIGEST_GRACE,
            event_id=None,
            occurred_at=None,
            group_key=f"digest:{rule.name}",
            resolve=False,
        )
        # the item first: the digest row is created once, by the window's first item
        return [item, digest]

    async def _masked_context(self, view: EventView, recipient: str) -> dict[str, Any] | None:
        context = view.context()
        change = view.change
        if change is None or self.governance is None:
            return context
        schema = self.schemas().get(change.entity.type)
        if schema is None:
            return context
        user = self.directory.user(recipient)
        principal = Principal(
            subject=recipient,
            roles=frozenset(user.roles if user else ()),
            tenant=view.tenant_id,
            method="api_key",
        )
        redactor = self.governance.redactor(principal, channel=CHANNEL_NOTIFICATION)
        try:
            await redactor.check_entity(schema.entity_type, schema.domain, change.entity.id)
        except PermissionDenied:
            return None
        masked = redactor.event_payload(schema, dict(view.body), entity_id=change.entity.id)
        await redactor.commit()
        context["event"] = {**masked, "topic": view.topic, "event_type": view.event_type}
        context["before"] = masked.get("before") or {}
        context["after"] = masked.get("after") or {}
        return context

    def _render(self, template: str, locale: str, context: Mapping[str, Any]) -> Rendered:
        try:
            return self.templates.render(template, locale, context)
        except TemplateRenderError as exc:
            # Config load compiled the template; this is a runtime failure on this event.
            self.render_errors += 1
            log.warning(
                "notification template %s failed (%s): using %s", template, exc, _FALLBACK_TEMPLATE
            )
            return self.templates.render(_FALLBACK_TEMPLATE, locale, context)

    def render_digest(
        self, rule: NotificationRule, locale: str | None, context: Mapping[str, Any]
    ) -> Rendered:
        return self._render(
            digest_template(self.templates, rule), locale or self.settings.default_locale, context
        )
