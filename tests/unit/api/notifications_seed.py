"""Outbox messages and inbox items on a SQLite catalog, for the tests of the notification
routes, GraphQL fields and CLI: real stores, rows made the way a node makes them."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.core.notification_config import Priority
from dictamesh.notifications.message import OutgoingMessage
from dictamesh.notifications.service import NotificationService
from dictamesh.notifications.store import (
    Attempt,
    NewNotification,
    NotificationStatus,
    NotificationStore,
)

OWNER = "test-node/seed"


class Wakes:
    """A delivery worker's wake-up, counted."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@contextlib.asynccontextmanager
async def notification_service(
    catalog_url: str, wake: Wakes | None = None
) -> AsyncIterator[NotificationService]:
    database = await CatalogDatabase.open(catalog_url, migrate=False)
    try:
        yield NotificationService.over(database, wake)
    finally:
        await database.aclose()


def new(
    *,
    tenant: str = "acme",
    recipient: str = "alice",
    rule: str = "customer-changed",
    channels: tuple[str, ...] = ("ops_mail", "ops_hook"),
) -> NewNotification:
    return NewNotification(
        tenant_id=tenant,
        kind="message",
        rule=rule,
        dedupe_key=uuid.uuid4().hex,
        recipient=recipient,
        channels=list(channels),
        priority=Priority.HIGH,
        status=NotificationStatus.PENDING,
        subject="Customer 1 changed",
        text="email changed",
        event={"entity_id": "1"},
    )


async def seed(
    store: NotificationStore,
    outcome: str | None = None,
    *,
    tenant: str = "acme",
    recipient: str = "alice",
    rule: str = "customer-changed",
) -> str:
    """One message, delivered once with ``outcome`` (sent, failed, dead), or left pending."""
    item = new(tenant=tenant, recipient=recipient, rule=rule)
    assert await store.enqueue([item]) == [item.id]
    if outcome is None:
        return item.id
    records = await store.claim_records(OWNER, lease_seconds=60, limit=100)
    claimed = [r.claimed() for r in records if r.id == item.id]
    assert claimed, "the seeded message was not claimable"
    await store.finish(
        claimed[0],
        OWNER,
        Attempt(
            channel=claimed[0].channel,
            outcome=outcome,
            node="test-node",
            duration_ms=12.5,
            error=None if outcome == "sent" else "SMTP 550 mailbox unavailable",
            status_code=None if outcome == "sent" else 550,
            provider_message_id="q-1" if outcome == "sent" else None,
            # a failed one is retried later: not claimed again by the next seed
            next_attempt_at=store.database.now() + timedelta(hours=1)
            if outcome == "failed"
            else None,
        ),
    )
    await store.release(OWNER)
    return item.id


async def deliver_in_app(
    service: NotificationService, user: str, *, tenant: str = "acme", subject: str = "Hello"
) -> str:
    """What the in-app channel does: one message in ``user``'s inbox; its inbox id."""
    message = OutgoingMessage(
        id=str(uuid.uuid4()),
        rule="customer-changed",
        channel="in_app",
        recipient=user,
        address=user,
        priority=Priority.NORMAL,
        subject=subject,
        text=f"{subject}, {user}",
        html=None,
        tenant_id=tenant,
        created_at=datetime.now(UTC),
    )
    return await service.inbox.add_to_inbox(message)
