"""The in-app inbox and recipients' notification preferences (catalog database).

The in-app channel stores each message once per notification (``add_to_inbox`` is
idempotent: a resend after a crash finds the row). Users read their own inbox only: every
query takes the recipient, and marking read returns just the ids that were theirs.

Example::

    inbox = InboxStore(database)
    await inbox.add_to_inbox(message)                     # the in-app channel
    items = await inbox.inbox("alice", unread_only=True)
    await inbox.mark_read("alice", [items[0].id])
    await inbox.set_preferences("alice", {"quiet_hours": {...}})
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import RowMapping

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.tables import insert_for
from dictamesh.notifications.message import OutgoingMessage
from dictamesh.notifications.store import iso
from dictamesh.notifications.tables import INBOX, PREFERENCES

__all__ = ["InboxItem", "InboxStore"]


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: str
    notification_id: str
    recipient: str
    rule: str
    priority: str
    subject: str
    text: str
    html: str | None
    created_at: datetime
    read_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "notification_id": self.notification_id,
            "rule": self.rule,
            "priority": self.priority,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "created_at": iso(self.created_at),
            "read": self.read_at is not None,
            "read_at": iso(self.read_at),
        }


def _inbox_item(row: RowMapping) -> InboxItem:
    return InboxItem(
        id=row["id"],
        notification_id=row["notification_id"],
        recipient=row["recipient"],
        rule=row["rule"],
        priority=row["priority"],
        subject=row["subject"],
        text=row["body_text"],
        html=row["body_html"],
        created_at=row["created_at"],
        read_at=row["read_at"],
    )


class InboxStore:
    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database

    async def add_to_inbox(self, message: OutgoingMessage) -> str:
        """Store an in-app message for ``message.address`` (a user); once per notification."""
        inbox_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"dictamesh-inbox:{message.id}"))
        async with self.database.write(message.tenant_id) as conn:
            await conn.execute(
                insert_for(conn.dialect.name, INBOX)
                .values(
                    id=inbox_id,
                    tenant_id=message.tenant_id,
                    notification_id=message.id,
                    recipient=message.address or message.recipient,
                    rule=message.rule,
                    priority=message.priority.value,
                    subject=message.subject,
                    body_text=message.text,
                    body_html=message.html,
                    created_at=self.database.now(),
                )
                .on_conflict_do_nothing()
            )
        return inbox_id

    async def inbox(
        self,
        recipient: str,
        *,
        tenant: str | None = None,
        unread_only: bool = False,
        limit: int = 50,
        before: datetime | None = None,
    ) -> list[InboxItem]:
        query = select(INBOX).where(
            INBOX.c.recipient == recipient, INBOX.c.tenant_id == self.database.tenant(tenant)
        )
        if unread_only:
            query = query.where(INBOX.c.read_at.is_(None))
        if before is not None:
            query = query.where(INBOX.c.created_at < before)
        query = query.order_by(INBOX.c.created_at.desc(), INBOX.c.id).limit(limit)
        async with self.database.read(tenant) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_inbox_item(r) for r in rows]

    async def unread_count(self, recipient: str, *, tenant: str | None = None) -> int:
        query = select(func.count()).where(
            and_(
                INBOX.c.recipient == recipient,
                INBOX.c.tenant_id == self.database.tenant(tenant),
                INBOX.c.read_at.is_(None),
            )
        )
        async with self.database.read(tenant) as conn:
            return int((await conn.execute(query)).scalar() or 0)

    async def mark_read(
        self, recipient: str, ids: Sequence[str], *, tenant: str | None = None
    ) -> list[str]:
        """Mark ``recipient``'s messages ``ids`` read; returns the ids that are theirs (a
        caller can never mark another user's message)."""
        if not ids:
            return []
        statement = (
            update(INBOX)
            .where(
                INBOX.c.recipient == recipient,
                INBOX.c.tenant_id == self.database.tenant(tenant),
                INBOX.c.id.in_(list(ids)),
            )
            .values(read_at=func.coalesce(INBOX.c.read_at, self.database.now()))
            .returning(INBOX.c.id)
        )
        async with self.database.write(tenant) as conn:
            return [r[0] for r in (await conn.execute(statement)).all()]

    # --- preferences ----------------------------------------------------------------------

    async def preferences(
        self, recipient: str, *, tenant: str | None = None
    ) -> dict[str, Any] | None:
        query = select(PREFERENCES.c.preferences).where(
            PREFERENCES.c.recipient == recipient,
            PREFERENCES.c.tenant_id == self.database.tenant(tenant),
        )
        async with self.database.read(tenant) as conn:
            value = (await conn.execute(query)).scalar()
        return dict(value) if isinstance(value, dict) else None

    async def all_preferences(
        self, recipients: Sequence[str], *, tenant: str
    ) -> dict[str, dict[str, Any]]:
        if not recipients:
            return {}
        query = select(PREFERENCES.c.recipient, PREFERENCES.c.preferences).where(
            PREFERENCES.c.recipient.in_(list(recipients)), PREFERENCES.c.tenant_id == tenant
        )
        async with self.database.read(tenant) as conn:
            return {r[0]: dict(r[1]) for r in (await conn.execute(query)).all()}

    async def set_preferences(
        self, recipient: str, preferences: dict[str, Any], *, tenant: str | None = None
    ) -> None:
        tenant_id = self.database.tenant(tenant)
        now = self.database.now()
        async with self.database.write(tenant) as conn:
            statement = insert_for(conn.dialect.name, PREFERENCES).values(
                tenant_id=tenant_id, recipient=recipient, preferences=preferences, updated_at=now
            )
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["tenant_id", "recipient"],
                    set_={"preferences": preferences, "updated_at": now},
                )
            )
