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
    for record in await store.claim_records("node-1/ab12", lease_seconds=60, limit=50):
        ...                                                  # send it
        await store.finish(record.claimed(), "node-1/ab12", attempt)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, case, delete, func, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.tables import insert_for
from dictamesh.core.errors import DictaMeshError, NotFoundError
from dictamesh.core.group_commit import GroupCommit
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


#: how long a delivery result waits for others to share its transaction
FINISH_LINGER_SECONDS = 0.005


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

    def claimed(self) -> Claimed:
        """The handle results are written with (this record as claimed: its counters)."""
        return Claimed(
            self.id,
            self.tenant_id,
            self.channel,
            (self.attempts, self.channel_failures, self.channel_index),
        )

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
    #: (attempts, channel failures, channel index) as claimed: the lease keeps them current,
    #: so finishing need not read them again
    counters: tuple[int, int, int] = (0, 0, 0)


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


@dataclass(frozen=True, slots=True)
class _Finish:
    claimed: Claimed
    owner: str
    attempt: Attempt
    channel_index: int | None
    next_channel: str | None


def _finished_changes(
    item: _Finish, attempts: int, failures: int, index: int, now: datetime
) -> dict[str, Any]:
    """The bind values of :data:`_FINISH` for one result (every column, so one statement
    serves every outcome)."""
    attempt = item.attempt
    values: dict[str, Any] = {
        "b_id": item.claimed.id,
        "b_attempts": attempts,
        "b_updated_at": now,
        "b_channel_index": index if item.channel_index is None else item.channel_index,
        "b_channel_failures": failures,
        "b_sent_at": None,
        "b_provider_message_id": None,
        "b_next_attempt_at": None,
        "b_last_error": attempt.error,
    }
    if attempt.outcome == "sent":
        values.update(
            b_status=NotificationStatus.SENT.value,
            b_sent_at=now,
            b_provider_message_id=attempt.provider_message_id,
            b_last_error=None,
        )
    elif attempt.outcome == "dead":
        values.update(b_status=NotificationStatus.DEAD.value)
    else:
        values.update(
            b_status=NotificationStatus.FAILED.value,
            b_next_attempt_at=attempt.next_attempt_at,
            b_channel_failures=0 if attempt.outcome == "fallback" else failures + 1,
        )
    return values


_FINISH = (
    update(NOTIFICATIONS)
    .where(NOTIFICATIONS.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        updated_at=bindparam("b_updated_at"),
        channel_index=bindparam("b_channel_index"),
        channel_failures=bindparam("b_channel_failures"),
        sent_at=bindparam("b_sent_at"),
        provider_message_id=bindparam("b_provider_message_id"),
        next_attempt_at=bindparam("b_next_attempt_at"),
        last_error=bindparam("b_last_error"),
    )
)
_RESCHEDULE = (
    update(QUEUE)
    .where(QUEUE.c.notification_id == bindparam("b_id"))
    .values(
        due_at=bindparam("b_due"),
        channel=bindparam("b_channel"),
        lease_owner=None,
        lease_expires_at=None,
    )
)


def _attempt_row(item: _Finish, number: int, now: datetime) -> dict[str, Any]:
    attempt = item.attempt
    return {
        "tenant_id": item.claimed.tenant_id,
        "notification_id": item.claimed.id,
        "attempt": number,
        "channel": attempt.channel,
        "outcome": attempt.outcome,
        "error": attempt.error,
        "status_code": attempt.status_code,
        "provider_message_id": attempt.provider_message_id,
        "node": attempt.node,
        "duration_ms": round(attempt.duration_ms, 3),
        "at": now,
    }


def _row(item: NewNotification, now: datetime) -> dict[str, Any]:
    return {
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


#: statuses whose messages wait in the queue
_QUEUED = (
    NotificationStatus.PENDING,
    NotificationStatus.FAILED,
    NotificationStatus.COLLECTING,
)


class NotificationStore:
    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database
        # results linger 5 ms: one transaction carries a burst's results, not one each
        self._finishes = GroupCommit(self._commit_finishes, linger=FINISH_LINGER_SECONDS)

    async def aclose(self) -> None:
        """Let the results being committed finish (before the database closes)."""
        await self._finishes.aclose()

    # --- enqueueing -----------------------------------------------------------------------

    async def enqueue(self, items: Sequence[NewNotification]) -> list[str]:
        """Insert ``items`` (each tenant's in one transaction, in one statement); returns
        the ids inserted. An item whose ``dedupe_key`` or ``window_key`` is already taken is
        skipped; a digest is created once, by the first item of its window, due when the
        window closes."""
        by_tenant: dict[str, dict[str, NewNotification]] = {}
        for item in items:  # a digest comes with each of its items: once is enough
            by_tenant.setdefault(item.tenant_id, {}).setdefault(item.id, item)
        created: list[str] = []
        now = self.database.now()
        for tenant, batch in by_tenant.items():
            async with self.database.write(tenant) as conn:
                dialect = conn.dialect.name
                rows = [_row(item, now) for item in batch.values()]
                inserted = {
                    r[0]
                    for r in (
                        await conn.execute(
                            insert_for(dialect, NOTIFICATIONS)
                            .on_conflict_do_nothing()
                            .returning(NOTIFICATIONS.c.id),
                            rows,
                        )
                    ).all()
                }
                queued = [
                    {
                        "notification_id": item.id,
                        "tenant_id": item.tenant_id,
                        "channel": item.channels[0],
                        "due_at": item.due_at or now,
                    }
                    for item in batch.values()
                    if item.id in inserted and item.status in _QUEUED and item.kind != "item"
                ]
                if queued:
                    await conn.execute(insert_for(dialect, QUEUE).on_conflict_do_nothing(), queued)
            created.extend(i for i in batch if i in inserted)
        return created

    # --- claiming and finishing -----------------------------------------------------------

    def _claim_statement(self, owner: str, lease_seconds: float, limit: int) -> Any:
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
        return (
            update(QUEUE)
            .where(QUEUE.c.notification_id.in_(due.scalar_subquery()))
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
            .returning(QUEUE.c.notification_id, QUEUE.c.tenant_id, QUEUE.c.channel)
        )

    async def claim_records(
        self, owner: str, *, lease_seconds: float, limit: int
    ) -> list[NotificationRecord]:
        """Lease up to ``limit`` due messages nobody holds (or whose lease expired) and mark
        them ``sending``, in one transaction; nodes claiming at once never get the same
        message. A digest still ``collecting`` stays so: it is closed first."""
        if limit <= 0:
            return []
        records: list[NotificationRecord] = []
        async with self.database.write() as conn:
            claimed = (await conn.execute(self._claim_statement(owner, lease_seconds, limit))).all()
            by_tenant: dict[str, list[str]] = {}
            for notification_id, tenant, _ in claimed:
                by_tenant.setdefault(tenant, []).append(notification_id)
            for tenant, ids in by_tenant.items():
                await self.database.set_tenant(conn, tenant)
                # one statement: mark sending (a collecting digest stays so) and read back
                collecting = NotificationStatus.COLLECTING.value
                marked = (
                    update(NOTIFICATIONS)
                    .where(NOTIFICATIONS.c.id.in_(ids))
                    .values(
                        status=case(
                            (NOTIFICATIONS.c.status == collecting, collecting),
                            else_=NotificationStatus.SENDING.value,
                        ),
                        updated_at=self.database.now(),
                    )
                    .returning(*NOTIFICATIONS.c)
                )
                rows = (await conn.execute(marked)).mappings().all()
                records.extend(_record(r) for r in rows)
        return records

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
        (deleted when sent or dead, rescheduled and unleased otherwise) — fenced
        (:class:`LeaseLost`). Results of concurrent sends share one transaction (group
        commit): one commit per message bounded the worker on SQLite."""
        await self._finishes.submit(_Finish(claimed, owner, attempt, channel_index, next_channel))

    async def _commit_finishes(self, items: list[_Finish]) -> list[BaseException | None]:
        now = self.database.now()
        outcomes: list[BaseException | None] = [None] * len(items)
        by_tenant: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            by_tenant.setdefault(item.claimed.tenant_id, []).append(index)
        async with self.database.write() as conn:
            held = {
                (r[0], r[1])
                for r in (
                    await conn.execute(
                        select(QUEUE.c.notification_id, QUEUE.c.lease_owner).where(
                            QUEUE.c.notification_id.in_([i.claimed.id for i in items])
                        )
                    )
                ).all()
            }
            finished: list[str] = []
            for tenant, indexes in by_tenant.items():
                await self.database.set_tenant(conn, tenant)
                mine = [i for i in indexes if (items[i].claimed.id, items[i].owner) in held]
                for i in indexes:
                    if i not in mine:
                        outcomes[i] = LeaseLost(
                            f"notification {items[i].claimed.id} is no longer held by"
                            f" {items[i].owner}"
                        )
                changes: list[dict[str, Any]] = []
                attempt_rows: list[dict[str, Any]] = []
                retried: list[dict[str, Any]] = []
                for i in mine:
                    item = items[i]
                    attempts, failures, index = item.claimed.counters
                    changes.append(_finished_changes(item, attempts + 1, failures, index, now))
                    attempt_rows.append(_attempt_row(item, attempts + 1, now))
                    if item.attempt.outcome in ("sent", "dead"):
                        finished.append(item.claimed.id)
                    else:
                        retried.append(
                            {
                                "b_id": item.claimed.id,
                                "b_due": item.attempt.next_attempt_at or now,
                                "b_channel": item.next_channel or item.attempt.channel,
                            }
                        )
                # one statement each for the whole batch (executemany)
                if changes:
                    await conn.execute(_FINISH, changes)
                if retried:
                    await conn.execute(_RESCHEDULE, retried)
                if attempt_rows:  # this tenant's (row-level security checks each row)
                    await conn.execute(insert_for(conn.dialect.name, ATTEMPTS), attempt_rows)
            if finished:
                await conn.execute(delete(QUEUE).where(QUEUE.c.notification_id.in_(finished)))
        return outcomes

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
                    # in the order the events happened (a batch's rows share created_at)
                    .order_by(
                        NOTIFICATIONS.c.occurred_at,
                        NOTIFICATIONS.c.created_at,
                        NOTIFICATIONS.c.id,
                    )
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
