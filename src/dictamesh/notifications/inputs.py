"""What callers name notifications by, checked the same on every edge (REST, GraphQL, CLI):
ids are UUIDs, statuses come from :class:`NotificationStatus`, listings are bounded. Each
check raises :class:`~dictamesh.core.errors.ValidationError` (a 400 / ``BAD_USER_INPUT`` /
exit 2) naming the bad value, before any database call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from dictamesh.core.errors import ValidationError
from dictamesh.notifications.store import NotificationStatus

__all__ = [
    "MAX_LIST_LIMIT",
    "MAX_MARK_IDS",
    "as_utc",
    "check_limit",
    "check_mark_ids",
    "check_notification_id",
    "parse_statuses",
]

#: the most messages one listing returns (REST ``limit``, GraphQL ``first``, CLI ``--limit``)
MAX_LIST_LIMIT = 200
#: the most ids one "mark read" call takes
MAX_MARK_IDS = 500


def as_utc(moment: datetime | None) -> datetime | None:
    """A ``before`` cursor without a zone is UTC (rows are stamped in UTC)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _shown(value: str) -> str:
    return repr(value[:40] + ("…" if len(value) > 40 else ""))


def check_notification_id(value: object, what: str = "notification id") -> str:
    """``value`` as a canonical UUID string (notifications and inbox messages are keyed by
    UUIDs), else a :class:`ValidationError` naming ``what``."""
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise ValidationError(f"{what} {_shown(str(value))} is not a UUID", field=what)


def check_limit(value: int, name: str = "limit", *, maximum: int = MAX_LIST_LIMIT) -> int:
    """``value`` when within ``1..maximum``, else a :class:`ValidationError` naming ``name``."""
    if not 1 <= value <= maximum:
        raise ValidationError(f"{name} must be between 1 and {maximum}", field=name)
    return value


def parse_statuses(value: str) -> list[NotificationStatus]:
    """Statuses by their values, comma-separated (``failed,dead``; case-insensitive)."""
    statuses: list[NotificationStatus] = []
    for part in value.split(","):
        try:
            status = NotificationStatus(part.strip().lower())
        except ValueError:
            known = ", ".join(s.value for s in NotificationStatus)
            raise ValidationError(
                f"unknown notification status {_shown(part.strip())}; one of {known}",
                field="status",
            ) from None
        if status not in statuses:
            statuses.append(status)
    return statuses


def check_mark_ids(ids: object) -> list[str]:
    """A list of at most :data:`MAX_MARK_IDS` inbox message ids, each a UUID (canonical,
    duplicates dropped), else a :class:`ValidationError` naming the bad one (``ids[3]``)."""
    if not isinstance(ids, list):
        raise ValidationError("ids must be a list of message ids", field="ids")
    if len(ids) > MAX_MARK_IDS:
        raise ValidationError(f"at most {MAX_MARK_IDS} ids at once", field="ids")
    checked: list[str] = []
    for index, value in enumerate(ids):
        canonical = check_notification_id(value, f"ids[{index}]")
        if canonical not in checked:
            checked.append(canonical)
    return checked
