"""Who a rule's ``to:`` reaches, at which address per channel, and what they asked for.

``to:`` entries expand to recipients: ``alice`` / ``user:alice`` (a user of
``notifications.recipients.users``), ``group:ops`` (its users), ``tenant_admins`` (the admins
of the event's tenant), ``email:x@y``, ``phone:+49…``, ``push:<token>`` (literal addresses). A
rule without ``to:`` has one recipient, ``channel:<name>``: the channel's own target.

Preferences: a user's stored preferences (REST) win over the ones in ``mesh.yaml``. Opting
out of a rule or of every channel of it suppresses the message; a priority under the user's
minimum suppresses it unless it is ``critical``; in quiet hours a message waits for their
end unless it is ``critical``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dictamesh.core.notification_config import (
    Priority,
    QuietHours,
    RecipientDirectory,
    RecipientPreferences,
    UserConfig,
)

__all__ = ["Decision", "Directory", "decide", "quiet_until"]

_LITERAL = ("email", "phone", "push")


@dataclass(frozen=True, slots=True)
class Directory:
    recipients: RecipientDirectory

    def expand(self, to: Iterable[str], tenant: str) -> list[str]:
        """Recipient names for a rule's ``to:`` on an event of ``tenant``, each once."""
        out: dict[str, None] = {}
        for entry in to:
            kind, _, rest = entry.partition(":")
            if entry == "tenant_admins":
                admins = self.recipients.tenant_admins.get(tenant, [])
                out.update(dict.fromkeys(admins))
            elif kind == "group" and rest:
                out.update(dict.fromkeys(self.recipients.groups.get(rest, [])))
            elif kind == "user" and rest:
                out[rest] = None
            else:
                out[entry] = None
        return list(out)

    def user(self, recipient: str) -> UserConfig | None:
        return self.recipients.users.get(recipient)

    def address(self, recipient: str, field: str | None) -> str | None:
        """The address ``recipient`` has for a channel needing ``field`` (``None``: the
        channel posts to its own target, so any recipient will do)."""
        if field is None:
            return recipient
        kind, _, rest = recipient.partition(":")
        if kind in _LITERAL and rest:
            return rest if kind == field else None
        if kind == "channel":
            return None
        user = self.user(recipient)
        if user is None:
            return None
        if field == "user":
            return recipient
        value = getattr(user, field, None)
        return value if isinstance(value, str) and value else None

    def preferences(self, recipient: str, stored: Mapping[str, Any] | None) -> RecipientPreferences:
        if stored is not None:
            return RecipientPreferences.model_validate(stored)
        user = self.user(recipient)
        if user is None:
            return RecipientPreferences()
        return RecipientPreferences(quiet_hours=user.quiet_hours, min_priority=user.min_priority)


@dataclass(frozen=True, slots=True)
class Decision:
    #: channels left after opt-outs, in fallback order (empty: suppressed)
    channels: list[str]
    #: why nothing is sent (``None``: send)
    suppressed: str | None = None
    #: quiet hours: send at this time instead of now
    due_at: datetime | None = None


def quiet_until(quiet: QuietHours, now: datetime) -> datetime | None:
    """The end of the quiet period ``now`` falls in, or ``None`` if it falls in none."""
    zone = ZoneInfo(quiet.timezone)
    local = now.astimezone(zone)
    start = time.fromisoformat(quiet.start)
    end = time.fromisoformat(quiet.end)
    clock = local.time().replace(tzinfo=None)
    if start == end:
        return None
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:  # spans midnight: 22:00-07:00
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(now.tzinfo)


def decide(
    rule: str,
    channels: list[str],
    priority: Priority,
    preferences: RecipientPreferences,
    now: datetime,
) -> Decision:
    if rule in preferences.opt_out.rules:
        return Decision([], suppressed=f"opted out of rule {rule}")
    kept = [c for c in channels if c not in preferences.opt_out.channels]
    if not kept:
        return Decision([], suppressed="opted out of every channel of the rule")
    critical = priority is Priority.CRITICAL
    if not critical and priority.rank < preferences.min_priority.rank:
        return Decision(
            [], suppressed=f"priority {priority.value} < minimum {preferences.min_priority.value}"
        )
    due = None
    if not critical and preferences.quiet_hours is not None:
        due = quiet_until(preferences.quiet_hours, now)
    return Decision(kept, due_at=due)
