"""The notification outbox in the catalog database (tables: :mod:`.tables`).

Enqueueing is idempotent: a message's ``dedupe_key`` (rule, event, recipient) is unique per
tenant, so a redelivered bus event inserts nothing; a rule's dedupe window is a second unique
key (``window_key``). Delivery claims rows of the queue with a lease (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL), and every result is written only while the claimant still holds the
lease (:class:`LeaseLost` otherwise), so a node that stalled past its lease cannot overwrite
what the node that took over did.

Example::

    store = NotificationStore(database)
    created = await store.enqueue([new_message])           # ids actually inserted
    for claimed in await store.claim("node-1/ab12", lease_seconds=60, limit=50):
        record = await store.get(claimed.id, tenant=claimed.tenant_id)
        ...
        await store.finish(claimed, "node-1/ab12", attempt)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.tables import insert_for
from dictamesh.core.errors import DictaMeshError, NotFoundError
from dictamesh.core.notification_config import Priority
from dictamesh.notifications.message import OutgoingMessage
from dictamesh.notifications.tables import ATTEMPTS, NOTIFICATIONS, QUEUE

__all__ = [
    "Attempt",
    "AttemptRecord",
    "Claimed",
    "LeaseLost",
    "NewNotification",
    "NotificationNotFound",
    "NotificationRecord",
    "NotificationStateError",
    "NotificationStatus",
    "NotificationStore",
    "iso",
]


class NotificationStatus(StrEnum):
    PENDING = "pending"
    #: claimed by a worker, being sent
    SENDING = "sending"
    SENT = "sent"
    #: the last try failed; another is scheduled (``next_attempt_at``)
    FAILED = "failed"
    #: gave up after ``max_attempts`` or a permanent failure on the last channel
    DEAD = "dead"
    #: not sent: the recipient opted out or set a higher minimum priority
    SUPPRESSED = "suppressed"
    #: a digest still collecting events until its window closes
    COLLECTING = "collecting"
    #: an event held in a digest (sent as part of it)
    DIGESTED = "digested"


#: statuses an operator may retry
RETRYABLE = (NotificationStatus.DEAD, NotificationStatus.FAILED)


class NotificationNotFound(NotFoundError):
    pass


class NotificationStateError(DictaMeshError):
    """The message is not in a state that allows this (retrying a sent one)."""

    code = "NOTIFICATION_STATE"
    http_status = 409


class LeaseLost(DictaMeshError):
    """The worker no longer holds the message: another node took it over."""


@dataclass(frozen=True, slots=True)
class NewNotification:
    tenant_id: str
    kind: str  # message | digest | item
    rule: str
    dedupe_key: str
    recipient: str
    channels: list[str]
    priority: Priority
    status: NotificationStatus
    subject: str = ""
    text: str = ""
    html: str | None = None
    locale: str | None = None
    event: dict[str, Any] | None = None
    event_id: str | None = None
    topic: str | None = None
    group_key: str | None = None
    resolve: bool = False
    window_key: str | None = None
    digest_key: str | None = None
    occurred_at: datetime | None = None
    #: when to send (quiet hours, a digest's window end); ``None``: now
    due_at: datetime | None = None
    last_error: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: str
    tenant_id: str
    kind: str
    rule: str
    dedupe_key: str
    digest_key: str | None
    recipient: str
    channels: list[str]
    channel_index: int
    priority: Priority
    status: NotificationStatus
    locale: str | None
    subject: str
    text: str
    html: str | None
    event: dict[str, Any] | None
    event_id: str | None
    topic: str | None
    group_key: str | None
    resolve: bool
    count: int
    attempts: int
    channel_failures: int
    next_attempt_at: datetime | None
    last_error: str | None
    provider_message_id: str | None
    occurred_at: datetime | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None

    @property
    def channel(self) -> str:
        return self.channels[min(self.channel_index, len(self.channels) - 1)]

    def message(self, *, address: str | None) -> OutgoingMessage:
        return OutgoingMessage(
            id=self.id,
            rule=self.rule,
            channel=self.channel,
            recipient=self.recipient,
            address=address,
            priority=self.priority,
            subject=self.subject,
            text=self.text,
            html=self.html,
            tenant_id=self.tenant_id,
            created_at=self.created_at,
            event=self.event or {},
            group_key=self.group_key,
            resolve=self.resolve,
            count=self.count,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "kind": self.kind,
            "rule": self.rule,
            "recipient": self.recipient,
            "channel": self.channel,
            "channels": self.channels,
            "priority": self.priority.value,
            "status": self.status.value,
            "subject": self.subject,
            "count": self.count,
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at),
            "last_error": self.last_error,
            "provider_message_id": self.provider_message_id,
            "event_id": self.event_id,
            "topic": self.topic,
            "occurred_at": iso(self.occurred_at),
            "created_at": iso(self.created_at),
            "sent_at": iso(self.sent_at),
        }


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    tenant_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try's result, written by :meth:`NotificationStore.finish`."""

    channel: str
    #: sent | failed | fallback | dead
    outcome: str
    node: str
    duration_ms: float
    error: str | None = None
    status_code: int | None = None
    provider_message_id: str | None = None
    #: failed/fallback: when to try again
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    attempt: int
    channel: str
    outcome: str
    error: str | None
    status_code: int | None
    provider_message_id: str | None
    node: str | None
    duration_ms: float | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "channel": self.channel,
            "outcome": self.outcome,
            "error": self.error,
            "status_code": self.status_code,
            "provider_message_id": self.provider_message_id,
            "node": self.node,
            "duration_ms": self.duration_ms,
            "at": iso(self.at),
        }


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _record(row: RowMapping) -> NotificationRecord:
    return NotificationRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        kind=row["kind"],
        rule=row["rule"],
        dedupe_key=row["dedupe_key"],
        digest_key=row["digest_key"],
        recipient=row["recipient"],
        channels=list(row["channels"]),
        channel_index=row["channel_index"],
        priority=Priority(row["priority"]),
        status=NotificationStatus(row["status"]),
        locale=row["locale"],
        subject=row["subject"],
        text=row["body_text"],
        html=row["body_html"],
        event=row["event"],
        event_id=row["event_id"],
        topic=row["topic"],
        group_key=row["group_key"],
        resolve=bool(row["resolve"]),
        count=row["count"],
        attempts=row["attempts"],
        channel_failures=row["channel_failures"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        provider_message_id=row["provider_message_id"],
        occurred_at=row["occurred_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        sent_at=row["sent_at"],
    )


#: statuses whose messages wait in the queue
_QUEUED = (
    NotificationStatus.PENDING,
    NotificationStatus.FAILED,
    NotificationStatus.COLLECTING,
)


class NotificationStore:
    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database

    # --- enqueueing -----------------------------------------------------------------------

    async def enqueue(self, items: Sequence[NewNotification]) -> list[str]:
        """Insert ``items`` (each tenant's in one transaction); returns the ids inserted.
        An item whose ``dedupe_key`` or ``window_key`` is already taken is skipped; a
        digest item's digest is created with it, once, due when its window closes."""
        by_tenant: dict[str, list[NewNotification]] = {}
        for item in items:
            by_tenant.setdefault(item.tenant_id, []).append(item)
        created: list[str] = []
        for tenant, batch in by_tenant.items():
            async with self.database.write(tenant) as conn:
                for item in batch:
                    if await self._insert(conn, item):
                        created.append(item.id)
        return created

    async def _insert(self, conn: AsyncConnection, item: NewNotification) -> bool:
        now = self.database.now()
        values = {
            "id": item.id,
            "tenant_id": item.tenant_id,
            "kind": item.kind,
            "rule": item.rule,
            "dedupe_key": item.dedupe_key,
            "window_key": item.window_key,
            "digest_key": item.digest_key,
            "recipient": item.recipient,
            "channels": item.channels,
            "channel_index": 0,
            "priority": item.priority.value,
            "status": item.status.value,
            "locale": item.locale,
            "subject": item.subject,
            "body_text": item.text,
            "body_html": item.html,
            "event": item.event,
            "event_id": item.event_id,
            "topic": item.topic,
            "group_key": item.group_key,
            "resolve": item.resolve,
            "count": 1,
            "attempts": 0,
            "channel_failures": 0,
            "next_attempt_at": item.due_at or now,
            "last_error": item.last_error,
            "occurred_at": item.occurred_at,
            "created_at": now,
            "updated_at": now,
        }
        statement = (
            insert_for(conn.dialect.name, NOTIFICATIONS)
            .values(values)
            .on_conflict_do_nothing()
            .returning(NOTIFICATIONS.c.id)
        )
        if (await conn.execute(statement)).first() is None:
            return False
        if item.status in _QUEUED and item.kind != "item":
            await conn.execute(
                insert_for(conn.dialect.name, QUEUE)
                .values(
                    notification_id=item.id,
                    tenant_id=item.tenant_id,
                    channel=item.channels[0],
                    due_at=item.due_at or now,
                )
                .on_conflict_do_nothing()
            )
        return True

    # --- claiming and finishing -----------------------------------------------------------

    async def claim(self, owner: str, *, lease_seconds: float, limit: int) -> list[Claimed]:
        """Lease up to ``limit`` due messages nobody holds (or whose lease expired); nodes
        claiming at once never get the same message."""
        if limit <= 0:
            return []
        now = self.database.now()
        due = (
            select(QUEUE.c.notification_id)
            .where(
                QUEUE.c.due_at <= now,
                or_(QUEUE.c.lease_owner.is_(None), QUEUE.c.lease_expires_at < now),
            )
            .order_by(QUEUE.c.due_at)
            .limit(limit)
        )
        if self.database.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(QUEUE)
            .where(QUEUE.c.notification_id.in_(due.scalar_subquery()))
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
            .returning(QUEUE.c.notification_id, QUEUE.c.tenant_id, QUEUE.c.channel)
        )
        async with self.database.write() as conn:
            rows = (await conn.execute(statement)).all()
        return [Claimed(*r) for r in rows]

    async def next_due(self) -> datetime | None:
        """When the earliest queued message is due (the worker sleeps until then)."""
        async with self.database.read() as conn:
            value = (await conn.execute(select(func.min(QUEUE.c.due_at)))).scalar()
        return value if isinstance(value, datetime) else None

    async def release(self, owner: str) -> int:
        """Give back ``owner``'s leases so other nodes may claim them at once."""
        statement = (
            update(QUEUE)
            .where(QUEUE.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
        async with self.database.write() as conn:
            return (await conn.execute(statement)).rowcount or 0

    async def release_previous(self, node: str, owner: str) -> int:
        """Free the leases a previous process of ``node`` held (owner ``<node>/<other>``)."""
        statement = (
            update(QUEUE)
            .where(QUEUE.c.lease_owner.like(f"{node}/%"), QUEUE.c.lease_owner != owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
        async with self.database.write() as conn:
            return (await conn.execute(statement)).rowcount or 0

    async def get(self, notification_id: str, *, tenant: str | None = None) -> NotificationRecord:
        # explicit tenant filters: SQLite has no row-level security
        mine = NOTIFICATIONS.c.tenant_id == self.database.tenant(tenant)
        async with self.database.read(tenant) as conn:
            row = (
                (
                    await conn.execute(
                        select(NOTIFICATIONS).where(NOTIFICATIONS.c.id == notification_id, mine)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotificationNotFound(f"notification {notification_id!r} not found")
        return _record(row)

    async def start(self, claimed: Claimed, owner: str) -> NotificationRecord:
        """Mark a claimed message as being sent (fenced) and return it."""
        async with self.database.write(claimed.tenant_id) as conn:
            await self._fence(conn, claimed.id, owner)
            await conn.execute(
                update(NOTIFICATIONS)
                .where(NOTIFICATIONS.c.id == claimed.id)
                .values(status=NotificationStatus.SENDING.value, updated_at=self.database.now())
            )
            row = (
                (await conn.execute(select(NOTIFICATIONS).where(NOTIFICATIONS.c.id == claimed.id)))
                .mappings()
                .first()
            )
        if row is None:
            raise NotificationNotFound(f"notification {claimed.id!r} not found")
        return _record(row)

    async def _fence(self, conn: AsyncConnection, notification_id: str, owner: str) -> None:
        held = (
            await conn.execute(
                select(QUEUE.c.notification_id).where(
                    QUEUE.c.notification_id == notification_id, QUEUE.c.lease_owner == owner
                )
            )
        ).first()
        if held is None:
            raise LeaseLost(f"notification {notification_id} is no longer held by {owner}")

    async def finish(
        self,
        claimed: Claimed,
        owner: str,
        attempt: Attempt,
        *,
        channel_index: int | None = None,
        next_channel: str | None = None,
    ) -> None:
        """Write one try's result: the attempt row, the message's new state, and the queue
        (deleted when sent or dead, rescheduled and unleased otherwise) — fenced."""
        now = self.database.now()
        async with self.database.write(claimed.tenant_id) as conn:
            await self._fence(conn, claimed.id, owner)
            row = (
                await conn.execute(
                    select(NOTIFICATIONS.c.attempts, NOTIFICATIONS.c.channel_failures).where(
                        NOTIFICATIONS.c.id == claimed.id
                    )
                )
            ).first()
            attempts = (row[0] if row else 0) + 1
            changes: dict[str, Any] = {"attempts": attempts, "updated_at": now}
            if attempt.outcome == "sent":
                changes.update(
                    status=NotificationStatus.SENT.value,
                    sent_at=now,
                    provider_message_id=attempt.provider_message_id,
                    next_attempt_at=None,
                    last_error=None,
                )
            elif attempt.outcome == "dead":
                changes.update(
                    status=NotificationStatus.DEAD.value,
                    last_error=attempt.error,
                    next_attempt_at=None,
                )
            else:
                changes.update(
                    status=NotificationStatus.FAILED.value,
                    last_error=attempt.error,
                    next_attempt_at=attempt.next_attempt_at,
                    channel_failures=0
                    if attempt.outcome == "fallback"
                    else (row[1] if row else 0) + 1,
                )
            if channel_index is not None:
                changes["channel_index"] = channel_index
            await conn.execute(
                update(NOTIFICATIONS).where(NOTIFICATIONS.c.id == claimed.id).values(changes)
            )
            await conn.execute(
                insert_for(conn.dialect.name, ATTEMPTS).values(
                    tenant_id=claimed.tenant_id,
                    notification_id=claimed.id,
                    attempt=attempts,
                    channel=attempt.channel,
                    outcome=attempt.outcome,
                    error=attempt.error,
                    status_code=attempt.status_code,
                    provider_message_id=attempt.provider_message_id,
                    node=attempt.node,
                    duration_ms=round(attempt.duration_ms, 3),
                    at=now,
                )
            )
            if attempt.outcome in ("sent", "dead"):
                await conn.execute(delete(QUEUE).where(QUEUE.c.notification_id == claimed.id))
            else:
                await conn.execute(
                    update(QUEUE)
                    .where(QUEUE.c.notification_id == claimed.id)
                    .values(
                        due_at=attempt.next_attempt_at or now,
                        lease_owner=None,
                        lease_expires_at=None,
                        channel=next_channel or attempt.channel,
                    )
                )

    async def postpone(self, claimed: Claimed, owner: str, until: datetime) -> None:
        """Hand a claimed message back unsent, due at ``until`` (rate limit, quiet hours):
        no attempt is used up."""
        async with self.database.write(claimed.tenant_id) as conn:
            await self._fence(conn, claimed.id, owner)
            await conn.execute(
                update(NOTIFICATIONS)
                .where(
                    NOTIFICATIONS.c.id == claimed.id,
                    NOTIFICATIONS.c.status == NotificationStatus.SENDING.value,
                )
                .values(status=NotificationStatus.PENDING.value, next_attempt_at=until)
            )
            await conn.execute(
                update(QUEUE)
                .where(QUEUE.c.notification_id == claimed.id)
                .values(due_at=until, lease_owner=None, lease_expires_at=None)
            )

    # --- digests --------------------------------------------------------------------------

    async def close_digest(
        self,
        claimed: Claimed,
        owner: str,
        *,
        render: Any,
    ) -> NotificationRecord | None:
        """Collect a due digest's items, render it with ``render(record, items) ->
        (subject, text, html)`` and make it a pending message (fenced, one transaction).
        ``None`` when it holds no items (nothing to send: it is dropped)."""
        now = self.database.now()
        async with self.database.write(claimed.tenant_id) as conn:
            await self._fence(conn, claimed.id, owner)
            digest_row = (
                (await conn.execute(select(NOTIFICATIONS).where(NOTIFICATIONS.c.id == claimed.id)))
                .mappings()
                .first()
            )
            if digest_row is None:
                await conn.execute(delete(QUEUE).where(QUEUE.c.notification_id == claimed.id))
                return None
            digest = _record(digest_row)
            items = (
                await conn.execute(
                    select(NOTIFICATIONS.c.id, NOTIFICATIONS.c.event)
                    .where(
                        NOTIFICATIONS.c.digest_key == digest.dedupe_key,
                        NOTIFICATIONS.c.kind == "item",
                        NOTIFICATIONS.c.status == NotificationStatus.COLLECTING.value,
                    )
                    .order_by(NOTIFICATIONS.c.created_at, NOTIFICATIONS.c.id)
                )
            ).all()
            if not items:
                await conn.execute(delete(QUEUE).where(QUEUE.c.notification_id == claimed.id))
                await conn.execute(
                    update(NOTIFICATIONS)
                    .where(NOTIFICATIONS.c.id == claimed.id)
                    .values(status=NotificationStatus.SENT.value, count=0, updated_at=now)
                )
                return None
            subject, text, html = render(digest, [dict(i[1] or {}) for i in items])
            await conn.execute(
                update(NOTIFICATIONS)
                .where(
                    NOTIFICATIONS.c.digest_key == digest.dedupe_key, NOTIFICATIONS.c.kind == "item"
                )
                .values(status=NotificationStatus.DIGESTED.value, updated_at=now)
            )
            await conn.execute(
                update(NOTIFICATIONS)
                .where(NOTIFICATIONS.c.id == claimed.id)
                .values(
                    status=NotificationStatus.SENDING.value,
                    subject=subject,
                    body_text=text,
                    body_html=html,
                    count=len(items),
                    event={"items": len(items)},
                    updated_at=now,
                )
            )
            row = (
                (await conn.execute(select(NOTIFICATIONS).where(NOTIFICATIONS.c.id == claimed.id)))
                .mappings()
                .first()
            )
        return _record(row) if row is not None else None

    # --- reading --------------------------------------------------------------------------

    async def search(
        self,
        *,
        tenant: str | None = None,
        status: Sequence[NotificationStatus] | None = None,
        rule: str | None = None,
        recipient: str | None = None,
        limit: int = 50,
        before: datetime | None = None,
    ) -> list[NotificationRecord]:
        """Newest first; ``before`` pages on ``created_at``. Digest items are left out."""
        query = select(NOTIFICATIONS).where(
            NOTIFICATIONS.c.kind != "item",
            NOTIFICATIONS.c.tenant_id == self.database.tenant(tenant),
        )
        if status:
            query = query.where(NOTIFICATIONS.c.status.in_([s.value for s in status]))
        if rule:
            query = query.where(NOTIFICATIONS.c.rule == rule)
        if recipient:
            query = query.where(NOTIFICATIONS.c.recipient == recipient)
        if before is not None:
            query = query.where(NOTIFICATIONS.c.created_at < before)
        query = query.order_by(NOTIFICATIONS.c.created_at.desc(), NOTIFICATIONS.c.id).limit(limit)
        async with self.database.read(tenant) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_record(r) for r in rows]

    async def attempts(
        self, notification_id: str, *, tenant: str | None = None
    ) -> list[AttemptRecord]:
        query = (
            select(ATTEMPTS)
            .where(
                ATTEMPTS.c.notification_id == notification_id,
                ATTEMPTS.c.tenant_id == self.database.tenant(tenant),
            )
            .order_by(ATTEMPTS.c.id)
        )
        async with self.database.read(tenant) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            AttemptRecord(
                attempt=r["attempt"],
                channel=r["channel"],
                outcome=r["outcome"],
                error=r["error"],
                status_code=r["status_code"],
                provider_message_id=r["provider_message_id"],
                node=r["node"],
                duration_ms=r["duration_ms"],
                at=r["at"],
            )
            for r in rows
        ]

    async def retry(self, notification_id: str, *, tenant: str | None = None) -> NotificationRecord:
        """Put a dead or failed message back at the head of the queue, on its first channel,
        with fresh attempts (the attempts so far stay in the log)."""
        now = self.database.now()
        async with self.database.write(tenant) as conn:
            row = (
                (
                    await conn.execute(
                        select(NOTIFICATIONS).where(
                            NOTIFICATIONS.c.id == notification_id,
                            NOTIFICATIONS.c.tenant_id == self.database.tenant(tenant),
                        )
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                raise NotificationNotFound(f"notification {notification_id!r} not found")
            record = _record(row)
            if record.status not in RETRYABLE:
                raise NotificationStateError(
                    f"notification {notification_id} is {record.status.value}: only dead or"
                    " failed ones are retried"
                )
            await conn.execute(
                update(NOTIFICATIONS)
                .where(NOTIFICATIONS.c.id == notification_id)
                .values(
                    status=NotificationStatus.PENDING.value,
                    attempts=0,
                    channel_failures=0,
                    channel_index=0,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
            await conn.execute(
                insert_for(conn.dialect.name, QUEUE)
                .values(
                    notification_id=notification_id,
                    tenant_id=record.tenant_id,
                    channel=record.channels[0],
                    due_at=now,
                )
                .on_conflict_do_nothing()
            )
            await conn.execute(
                update(QUEUE)
                .where(QUEUE.c.notification_id == notification_id)
                .values(due_at=now, lease_owner=None, lease_expires_at=None)
            )
        return await self.get(notification_id, tenant=tenant)

    async def depth(self) -> int:
        """Messages waiting to be delivered, all tenants (the outbox depth)."""
        async with self.database.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(QUEUE))).scalar() or 0)

    async def oldest_due(self) -> datetime | None:
        async with self.database.read() as conn:
            value = (
                await conn.execute(
                    select(func.min(QUEUE.c.due_at)).where(QUEUE.c.lease_owner.is_(None))
                )
            ).scalar()
        return value if isinstance(value, datetime) else None
