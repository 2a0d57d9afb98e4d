"""The caller's in-app notifications in GraphQL: read the inbox, mark messages read, and
receive new ones as they arrive.

:class:`NotificationPart` is a :class:`~dictamesh.gateway.schema_builder.SchemaPart` over the
node's :class:`~dictamesh.notifications.service.NotificationService`; it adds::

    type Query {
      notifications(unreadOnly: Boolean = false, first: Int = 20, before: DateTime):
        NotificationInbox!
    }
    type Mutation {
      markNotificationsRead(ids: [ID!]!): [ID!]!      # the ids that were the caller's
    }
    type Subscription {
      notificationAdded: InboxNotification!           # each new message of the caller
    }

An inbox is keyed by the caller's subject (``Principal.subject``: the user name of
``notifications.recipients.users``) in the caller's tenant, so every field needs an
authenticated caller (``UNAUTHENTICATED`` otherwise) and nobody reads or marks another
user's messages: ids that are not the caller's are left out of ``markNotificationsRead``'s
answer, not reported. Bad arguments (``first`` outside 1..200, an id that is not a UUID,
more than 500 ids) are ``BAD_USER_INPUT`` before any database call.

``notificationAdded`` polls the inbox every ``poll_seconds`` (the in-app channel may have
stored the message on another node), yielding each message it has not seen, oldest first;
it looks back a minute behind the newest one seen, so a message stamped by a node with a
slightly late clock, or committed a little after a newer one, is still delivered (once).
It ends when the client goes away.

The checks of what callers name notifications by live in
:mod:`dictamesh.notifications.inputs` (shared with the REST routes and the command line).

Example::

    schema = build_schema(registry, parts=[CatalogPart(catalog), NotificationPart(service)])
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from dictamesh.core.context import current_tenant
from dictamesh.core.errors import AuthenticationError, CatalogUnavailable, ValidationError
from dictamesh.core.notification_config import Priority
from dictamesh.gateway.context import gateway_context
from dictamesh.gateway.errors import bad_user_input
from dictamesh.notifications.inbox_store import InboxItem, InboxStore
from dictamesh.notifications.inputs import (
    MAX_LIST_LIMIT,
    MAX_MARK_IDS,
    as_utc,
    check_limit,
    check_mark_ids,
)
from dictamesh.notifications.service import NotificationService

__all__ = [
    "NOTIFICATION_TYPE_NAMES",
    "InboxNotification",
    "NotificationInbox",
    "NotificationPart",
    "NotificationPriority",
    "watch_inbox",
]

logger = logging.getLogger("dictamesh.gateway")

#: how far behind the newest message seen ``notificationAdded`` still looks for unseen ones
LOOKBACK = timedelta(seconds=60)
_PAGE = 50
#: the most messages one poll reads (a burst beyond it is delivered by the next polls)
_MAX_PER_POLL = 500


# --- types -------------------------------------------------------------------------------

# the configuration's priorities are the GraphQL enum (one list of priorities in the code)
strawberry.enum(Priority, name="NotificationPriority", description="How urgent a message is.")
NotificationPriority = Priority


@strawberry.type(name="InboxNotification", description="One message of the caller's inbox.")
class InboxNotification:
    id: strawberry.ID
    notification_id: strawberry.ID = strawberry.field(
        description="the notification (outbox message) it was delivered as"
    )
    rule: str = strawberry.field(description="the rule that sent it")
    priority: NotificationPriority
    subject: str
    text: str
    html: str | None
    created_at: datetime
    read: bool
    read_at: datetime | None

    @classmethod
    def of(cls, item: InboxItem) -> InboxNotification:
        return cls(
            id=strawberry.ID(item.id),
            notification_id=strawberry.ID(item.notification_id),
            rule=item.rule,
            priority=Priority(item.priority),
            subject=item.subject,
            text=item.text,
            html=item.html,
            created_at=item.created_at,
            read=item.read_at is not None,
            read_at=item.read_at,
        )


@strawberry.type(name="NotificationInbox", description="A page of the caller's inbox.")
class NotificationInbox:
    items: list[InboxNotification] = strawberry.field(description="newest first")
    unread_count: int = strawberry.field(description="unread messages in the whole inbox")
    next_before: datetime | None = strawberry.field(
        description="pass as `before` for the next page; null on the last page"
    )


NOTIFICATION_TYPE_NAMES = frozenset(
    {"InboxNotification", "NotificationInbox", "NotificationPriority"}
)
"""GraphQL type names the notification part defines (entity types may not use them)."""


def _field(resolver: Any, *, name: str, description: str, subscription: bool = False) -> Any:
    made: Any = strawberry.field(
        resolver=resolver, name=name, description=description, is_subscription=subscription
    )
    assert isinstance(made, StrawberryField)
    return made


def _caller(info: Info) -> str:
    """The caller's subject: whose inbox this is."""
    who = gateway_context(info).principal
    if who is None:
        raise AuthenticationError("the notification inbox is the caller's own: sign in first")
    return who.subject


# --- the subscription's poller -----------------------------------------------------------


async def _recent(
    inbox: InboxStore,
    subject: str,
    tenant: str | None,
    since: datetime | None,
    *,
    before: datetime | None = None,
) -> list[InboxItem]:
    """``subject``'s messages created at or after ``since`` (all when ``None``) and before
    ``before``, newest first, at most :data:`_MAX_PER_POLL`."""
    found: list[InboxItem] = []
    while len(found) < _MAX_PER_POLL:
        page = await inbox.inbox(subject, tenant=tenant, limit=_PAGE, before=before)
        found.extend(i for i in page if since is None or i.created_at >= since)
        if len(page) < _PAGE or (since is not None and page[-1].created_at < since):
            break
        before = page[-1].created_at
    return found


async def _snapshot(inbox: InboxStore, subject: str, tenant: str | None) -> list[InboxItem]:
    """The messages there now, back to :data:`LOOKBACK` behind the newest (newest first).
    Later pages only reach older messages, so one arriving meanwhile is not taken for old."""
    page = await inbox.inbox(subject, tenant=tenant, limit=_PAGE)
    if len(page) < _PAGE:
        return page
    since = page[0].created_at - LOOKBACK
    if page[-1].created_at < since:
        return page
    return page + await _recent(inbox, subject, tenant, since, before=page[-1].created_at)


async def watch_inbox(
    inbox: InboxStore, subject: str, tenant: str | None, *, poll_seconds: float = 1.0
) -> AsyncIterator[InboxItem]:
    """Each message that reaches ``subject``'s inbox from now on, oldest first (module
    docs); runs until closed (the client went away)."""
    seen: dict[str, datetime] = {}
    newest: datetime | None = None

    def take(found: list[InboxItem]) -> list[InboxItem]:
        """The unseen ones of ``found`` (newest first), oldest first, now seen."""
        nonlocal newest
        fresh = [i for i in reversed(found) if i.id not in seen]
        for item in fresh:
            seen[item.id] = item.created_at
            newest = item.created_at if newest is None else max(newest, item.created_at)
        if newest is not None:
            horizon = newest - LOOKBACK
            for key in [k for k, at in seen.items() if at < horizon]:
                del seen[key]
        return fresh

    async def poll() -> list[InboxItem]:
        since = newest - LOOKBACK if newest is not None else None
        return take(await _recent(inbox, subject, tenant, since))

    take(await _snapshot(inbox, subject, tenant))  # what is there already is not new
    unavailable = False
    while True:
        await asyncio.sleep(poll_seconds)
        try:
            fresh = await poll()
        except CatalogUnavailable as exc:  # the database restarts: keep trying
            if not unavailable:
                logger.warning("notificationAdded: inbox unavailable, retrying: %s", exc.message)
            unavailable = True
            continue
        unavailable = False
        for item in fresh:
            yield item


async def _added(
    inbox: InboxStore, subject: str, tenant: str | None, poll_seconds: float
) -> AsyncIterator[InboxNotification]:
    async for item in watch_inbox(inbox, subject, tenant, poll_seconds=poll_seconds):
        yield InboxNotification.of(item)


# --- the part ----------------------------------------------------------------------------


class NotificationPart:
    """The in-app notification fields over ``service`` (see the module docs)."""

    type_names = NOTIFICATION_TYPE_NAMES

    def __init__(self, service: NotificationService, *, poll_seconds: float = 1.0) -> None:
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be positive")
        self.service = service
        self.poll_seconds = poll_seconds

    def root_fields(self) -> dict[str, StrawberryField]:
        inbox = self.service.inbox

        async def notifications(
            info: Info,
            unread_only: bool | None = False,
            first: int | None = 20,
            before: datetime | None = None,
        ) -> NotificationInbox:
            first = 20 if first is None else first
            try:
                check_limit(first, "first")
            except ValidationError as exc:
                raise bad_user_input(exc.message) from None
            subject = _caller(info)
            tenant = current_tenant.get()
            items = await inbox.inbox(
                subject,
                tenant=tenant,
                unread_only=bool(unread_only),
                limit=first,
                before=as_utc(before),
            )
            unread = await inbox.unread_count(subject, tenant=tenant)
            return NotificationInbox(
                items=[InboxNotification.of(i) for i in items],
                unread_count=unread,
                next_before=items[-1].created_at if len(items) == first else None,
            )

        return {
            "notifications": _field(
                notifications,
                name="notifications",
                description=f"The caller's in-app inbox, newest first (at most {MAX_LIST_LIMIT}"
                " a page), with the number of unread messages.",
            )
        }

    def entity_fields(self, entity_type: str) -> dict[str, StrawberryField]:
        return {}

    def mutation_fields(self) -> dict[str, StrawberryField]:
        inbox = self.service.inbox

        async def mark_notifications_read(
            info: Info, ids: list[strawberry.ID]
        ) -> list[strawberry.ID]:
            try:
                checked = check_mark_ids(list(ids))
            except ValidationError as exc:
                raise bad_user_input(exc.message) from None
            subject = _caller(info)
            marked = await inbox.mark_read(subject, checked, tenant=current_tenant.get())
            return [strawberry.ID(i) for i in marked]

        return {
            "mark_notifications_read": _field(
                mark_notifications_read,
                name="markNotificationsRead",
                description=f"Mark messages of the caller's inbox read (at most {MAX_MARK_IDS});"
                " answers the ids that were the caller's.",
            )
        }

    def subscription_fields(self) -> dict[str, StrawberryField]:
        inbox = self.service.inbox
        poll_seconds = self.poll_seconds

        async def notification_added(info: Info) -> AsyncIterator[InboxNotification]:
            subject = _caller(info)  # UNAUTHENTICATED before the stream starts
            return _added(inbox, subject, current_tenant.get(), poll_seconds)

        return {
            "notification_added": _field(
                notification_added,
                name="notificationAdded",
                description="Each new message of the caller's inbox, as it arrives (from any"
                " node).",
                subscription=True,
            )
        }
