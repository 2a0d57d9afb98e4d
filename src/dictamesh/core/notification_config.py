"""Notification configuration: rules, channels, recipients (pure models, no I/O).

These are the ``notifications:`` section of ``mesh.yaml`` (``docs/notifications.md``). The
models check shapes; what needs the notifications package (templates compile, predicates
parse, channel kinds exist) is checked when a node builds its notifier, still at load, and
reported with the YAML line (``dictamesh.notifications.runtime``).

Example (``mesh.yaml``)::

    notifications:
      channels:
        ops_mail: {kind: email, host: smtp.example.com, port: 587, security: starttls,
                   username: mesh, password: ${SMTP_PASSWORD}, sender: mesh@example.com}
      recipients:
        users: {alice: {email: alice@example.com, timezone: Europe/Berlin}}
        groups: {ops: [alice]}
      rules:
        - name: customer-email-changed
          when: {topics: ["customers.*.entity_changed"], event_types: [updated],
                 changed_fields: [email]}
          to: [group:ops]
          channels: [ops_mail]
          template: entity_changed
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from dictamesh.core.retention import parse_age

__all__ = [
    "MESH_EVENTS",
    "ChannelConfig",
    "NotificationRule",
    "OptOut",
    "Priority",
    "QuietHours",
    "RecipientDirectory",
    "RecipientPreferences",
    "RuleWhen",
    "UserConfig",
]

_NAME = r"^[a-z][a-z0-9_-]{0,62}$"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}

#: the mesh's own events a rule may name in ``when.mesh_events``: the topic (a glob) each
#: arrives on and the body fields it must have. ``sla_breached`` / ``sla_recovered``
#: (``docs/sla.md``) and ``dlq_growing`` come from monitors (``docs/notifications.md``).
MESH_EVENTS: dict[str, tuple[str, dict[str, str]]] = {
    "breaker_opened": ("system.adapters.breaker_changed", {"new_state": "open"}),
    "breaker_closed": ("system.adapters.breaker_changed", {"new_state": "closed"}),
    "dlq_growing": ("system.bus.dlq_growing", {}),
    "sla_breached": ("system.sla.breached", {}),
    "sla_recovered": ("system.sla.recovered", {}),
    "saga_failed": ("system.saga.*.failed", {}),
    "saga_compensated": ("system.saga.*.compensated", {}),
    "outbox_growing": ("system.notifications.outbox_growing", {}),
    "quality_failed": ("system.quality.failed", {}),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _age(value: Any) -> timedelta | None:
    return None if value is None else parse_age(value)


class QuietHours(_Model):
    """``start`` to ``end`` (``HH:MM``, may span midnight) in ``timezone``: only ``critical``
    notifications are sent then; the others wait for ``end``."""

    start: str
    end: str
    timezone: str = "UTC"

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("expected a time of day like '22:00'")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class UserConfig(_Model):
    """A person notifications can reach: addresses per channel kind, language, hours."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    #: a device token or push address for the ``push`` provider
    push: str | None = Field(default=None, max_length=512)
    locale: str | None = Field(default=None, pattern=r"^[a-z]{2}(_[A-Z]{2})?$")
    #: roles the governance policy masks for (what this person may read in clear)
    roles: list[str] = Field(default_factory=list)
    quiet_hours: QuietHours | None = None
    min_priority: Priority = Priority.LOW


class OptOut(_Model):
    channels: list[str] = Field(default_factory=list, max_length=100)
    rules: list[str] = Field(default_factory=list, max_length=1000)


class RecipientPreferences(_Model):
    """What a recipient changes for themselves (REST ``/api/v1/notifications/preferences``):
    opt-outs per channel and rule, quiet hours, the lowest priority they want. ``critical``
    messages ignore quiet hours and the minimum priority, never an explicit opt-out of a
    rule."""

    opt_out: OptOut = Field(default_factory=OptOut)
    quiet_hours: QuietHours | None = None
    min_priority: Priority = Priority.LOW


class RecipientDirectory(_Model):
    """Who ``to:`` may name: ``alice`` (a user), ``group:ops``, ``tenant_admins``
    (the admins of the event's tenant), ``email:x@y`` / ``phone:+49…`` (literal)."""

    users: dict[str, UserConfig] = Field(default_factory=dict)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    #: tenant → its admins (user names); ``default`` for events without a tenant
    tenant_admins: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _members_known(self) -> RecipientDirectory:
        for where, members in [
            *((f"groups.{g}", m) for g, m in self.groups.items()),
            *((f"tenant_admins.{t}", m) for t, m in self.tenant_admins.items()),
        ]:
            unknown = sorted(set(members) - set(self.users))
            if unknown:
                raise ValueError(f"{where}: unknown user(s) {', '.join(unknown)}")
        return self


class ChannelConfig(_Model):
    """One configured channel. ``kind`` names a channel plugin (group
    ``dictamesh.notification_channels``: email, webhook, slack, pagerduty, in_app, sms, push);
    the plugin checks which of the fields it needs when the node starts."""

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    #: webhook / slack / pagerduty / sms / push: where to POST
    url: str | None = Field(default=None, pattern=r"^https?://")
    #: email: SMTP server
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    #: email: ``starttls`` (upgrade after connecting), ``tls`` (implicit TLS), ``none``
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    #: email: the From address; sms: the sending number
    sender: str | None = None
    #: webhook: the HMAC-SHA256 signing secret
    secret: SecretStr | None = None
    #: pagerduty: the integration's routing key
    routing_key: SecretStr | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    #: sends per second to this channel (a token bucket), ``burst`` at once
    rate_per_second: float = Field(default=10.0, gt=0)
    burst: int = Field(default=20, ge=1)
    #: sends to this channel in flight at once, per node (the rest of a claimed batch waits)
    max_in_flight: int = Field(default=8, ge=1, le=1000)
    #: extra settings a third-party channel plugin reads
    options: dict[str, Any] = Field(default_factory=dict)


class RuleWhen(_Model):
    """Which events match: every given condition must hold (globs use ``*`` and ``?``)."""

    topics: list[str] = Field(default_factory=list, max_length=100)
    entity_types: list[str] = Field(default_factory=list, max_length=100)
    #: change events: ``created``, ``updated``, ``deleted``; mesh events: their own names
    event_types: list[str] = Field(default_factory=list, max_length=100)
    #: an update matches only when one of these fields changed
    changed_fields: list[str] = Field(default_factory=list, max_length=100)
    #: a Jinja2 expression over the event (``after.country == 'DE'``), true to match
    predicate: str | None = Field(default=None, max_length=2000)
    mesh_events: list[str] = Field(default_factory=list, max_length=len(MESH_EVENTS))

    @field_validator("mesh_events")
    @classmethod
    def _known_mesh_events(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in MESH_EVENTS]
        if unknown:
            raise ValueError(
                f"unknown mesh event(s) {', '.join(unknown)}; known: {', '.join(MESH_EVENTS)}"
            )
        return value

    @model_validator(mode="after")
    def _something(self) -> RuleWhen:
        if not (self.topics or self.mesh_events or self.entity_types):
            raise ValueError("needs topics, entity_types or mesh_events")
        return self


class NotificationRule(_Model):
    name: str = Field(pattern=_NAME)
    when: RuleWhen
    #: recipients; none: the channel's own target (a webhook, a Slack channel, PagerDuty)
    to: list[str] = Field(default_factory=list, max_length=1000)
    #: channel names in fallback order: the next is tried after ``fallback_after`` failures
    channels: list[str] = Field(min_length=1, max_length=10)
    template: str = Field(default="event", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    priority: Priority = Priority.NORMAL
    #: at most one notification per recipient and entity in each such window
    dedupe: timedelta | None = None
    #: collect matches into one message per recipient and window
    digest: timedelta | None = None

    _ages = field_validator("dedupe", "digest", mode="before")(classmethod(lambda cls, v: _age(v)))

    @field_validator("to")
    @classmethod
    def _recipient_forms(cls, value: list[str]) -> list[str]:
        for item in value:
            kind, _, rest = item.partition(":")
            if rest and kind not in ("group", "email", "phone", "user", "push"):
                raise ValueError(f"recipient {item!r}: unknown prefix {kind!r}")
            if not item.strip():
                raise ValueError("empty recipient")
        return value
