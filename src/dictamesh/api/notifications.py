"""REST routes of notifications (``docs/notifications.md``, "REST, GraphQL and CLI").

The caller's own in-app inbox and preferences — keyed by the caller's subject (the user
name of ``notifications.recipients.users``) in the request's tenant; an anonymous caller
(auth ``off``, or ``optional`` without credentials) has no inbox and gets ``401``:

* ``GET /api/v1/notifications?unread=true&limit=50&before=<ISO 8601>`` →
  ``{"items": [...], "unread": N, "next_before": <created_at of the last item> | null}``,
  newest first; page on with ``before`` = ``next_before``.
* ``POST /api/v1/notifications/read`` with ``{"ids": [...]}`` (at most 500) →
  ``{"marked": [...]}``: the ids that were the caller's (another user's are left out).
* ``POST /api/v1/notifications/{id}/read`` → ``{"marked": [id]}``; ``404`` unless the
  message is the caller's.
* ``GET /api/v1/notifications/preferences`` → the stored preferences, or the defaults;
  ``PUT`` the same shape (:class:`~dictamesh.core.notification_config.RecipientPreferences`:
  ``opt_out {channels, rules}``, ``quiet_hours {start, end, timezone}``, ``min_priority``)
  replaces them and answers what was stored; a bad body is ``400`` naming the field.

The outbox, for operators (under ``/api/v1/admin``: the ``admin`` role by the default
access rules, as the saga admin routes):

* ``GET /api/v1/admin/notifications?status=failed,dead&rule=&recipient=&limit=&before=``
  → ``{"notifications": [...], "next_before": ...}``, newest first.
* ``GET /api/v1/admin/notifications/{id}`` → the message with its ``attempts``.
* ``POST /api/v1/admin/notifications/{id}/retry`` → the message, ``pending`` again on its
  first channel (this node's worker is woken); ``409 NOTIFICATION_STATE`` unless it is
  ``dead`` or ``failed``.
* ``GET /api/v1/admin/notifications/outbox`` → ``{"depth": N}``: messages waiting to be
  delivered (all tenants).

Bad input (an id that is not a UUID, an unknown status, ``limit`` outside 1..200, a
``before`` that is no timestamp, a body that is not JSON) is ``400 VALIDATION_ERROR``
before any database call; an unknown id ``404``. Every route acts for the request's tenant
(``current_tenant``, set by the auth middleware).

Example::

    router = notification_router(ctx)    # create_app includes it when ctx.notifications is set
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import pydantic
from fastapi import APIRouter, Query, Request

from dictamesh.core.context import current_principal, current_tenant
from dictamesh.core.errors import AuthenticationError, NotFoundError, ValidationError
from dictamesh.core.inputs import parse_json
from dictamesh.core.notification_config import RecipientPreferences
from dictamesh.notifications.inputs import (
    MAX_LIST_LIMIT,
    MAX_MARK_IDS,
    as_utc,
    check_mark_ids,
    check_notification_id,
    parse_statuses,
)
from dictamesh.notifications.service import NotificationService

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext

__all__ = ["ADMIN_NOTIFICATIONS_PATH", "NOTIFICATIONS_PATH", "notification_router"]

NOTIFICATIONS_PATH = "/api/v1/notifications"
ADMIN_NOTIFICATIONS_PATH = "/api/v1/admin/notifications"

_MARK_BODY = {
    "type": "object",
    "required": ["ids"],
    "additionalProperties": False,
    "properties": {
        "ids": {
            "type": "array",
            "maxItems": MAX_MARK_IDS,
            "items": {"type": "string", "format": "uuid"},
        }
    },
}


def _caller() -> str:
    """The caller's subject: whose inbox and preferences these are."""
    who = current_principal.get()
    if who is None:
        raise AuthenticationError("the notification inbox is the caller's own: sign in first")
    return who.subject


def _preferences(stored: dict[str, Any] | None) -> dict[str, Any]:
    """``stored`` completed with the defaults (as stored when it no longer validates)."""
    try:
        return RecipientPreferences.model_validate(stored or {}).model_dump(mode="json")
    except pydantic.ValidationError:
        return dict(stored or {})


def _checked_preferences(payload: Any) -> dict[str, Any]:
    try:
        model = RecipientPreferences.model_validate(payload)
    except pydantic.ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)[:20]
        ]
        first = problems[0]
        raise ValidationError(
            f"invalid preferences: {first['field']}: {first['message']}", errors=problems
        ) from None
    return model.model_dump(mode="json")


def notification_router(ctx: ApiContext) -> APIRouter:
    """The notification routes over ``ctx.notifications`` (which must be set)."""
    service = ctx.notifications
    if service is None:
        raise ValueError("notification_router needs ctx.notifications")
    router = APIRouter()
    _inbox_routes(router, service)
    _admin_routes(router, service)
    return router


def _inbox_routes(router: APIRouter, service: NotificationService) -> None:
    inbox = service.inbox

    @router.get(NOTIFICATIONS_PATH, tags=["notifications"])
    async def list_inbox(
        unread: Annotated[bool, Query(description="only unread messages")] = False,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 50,
        before: Annotated[
            datetime | None, Query(description="only messages created before (ISO 8601)")
        ] = None,
    ) -> Any:
        """The caller's in-app inbox, newest first, and how many messages are unread."""
        subject = _caller()
        tenant = current_tenant.get()
        items = await inbox.inbox(
            subject, tenant=tenant, unread_only=unread, limit=limit, before=as_utc(before)
        )
        return {
            "items": [i.to_dict() for i in items],
            "unread": await inbox.unread_count(subject, tenant=tenant),
            "next_before": items[-1].created_at.isoformat() if len(items) == limit else None,
        }

    @router.post(
        NOTIFICATIONS_PATH + "/read",
        tags=["notifications"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _MARK_BODY}},
            }
        },
    )
    async def mark_read(request: Request) -> Any:
        """Mark messages of the caller's inbox read; answers the ids that were theirs."""
        subject = _caller()
        payload = parse_json(await request.body(), "the body")
        if not isinstance(payload, dict) or set(payload) != {"ids"}:
            raise ValidationError('the body must be {"ids": [...]}', field="ids")
        ids = check_mark_ids(payload["ids"])
        return {"marked": await inbox.mark_read(subject, ids, tenant=current_tenant.get())}

    @router.get(NOTIFICATIONS_PATH + "/preferences", tags=["notifications"])
    async def get_preferences() -> Any:
        """The caller's notification preferences (the defaults until they set some)."""
        subject = _caller()
        return _preferences(await inbox.preferences(subject, tenant=current_tenant.get()))

    @router.put(
        NOTIFICATIONS_PATH + "/preferences",
        tags=["notifications"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": RecipientPreferences.model_json_schema()}
                },
            }
        },
    )
    async def put_preferences(request: Request) -> Any:
        """Replace the caller's preferences: opt-outs, quiet hours, minimum priority."""
        subject = _caller()
        preferences = _checked_preferences(parse_json(await request.body(), "the body"))
        await inbox.set_preferences(subject, preferences, tenant=current_tenant.get())
        return preferences

    @router.post(NOTIFICATIONS_PATH + "/{message_id}/read", tags=["notifications"])
    async def mark_one_read(message_id: str) -> Any:
        """Mark one message of the caller's inbox read; 404 unless it is theirs."""
        subject = _caller()
        checked = check_notification_id(message_id, "message id")
        marked = await inbox.mark_read(subject, [checked], tenant=current_tenant.get())
        if not marked:
            raise NotFoundError(f"no message {checked!r} in your inbox")
        return {"marked": marked}


def _admin_routes(router: APIRouter, service: NotificationService) -> None:
    store = service.store

    @router.get(ADMIN_NOTIFICATIONS_PATH, tags=["notifications", "admin"])
    async def list_notifications(
        status: Annotated[
            str | None, Query(max_length=200, description="e.g. failed, or failed,dead")
        ] = None,
        rule: Annotated[str | None, Query(max_length=63, description="a rule's name")] = None,
        recipient: Annotated[
            str | None, Query(max_length=320, description="a user, email:x@y, channel:<name>")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 50,
        before: Annotated[
            datetime | None, Query(description="only messages created before (ISO 8601)")
        ] = None,
    ) -> Any:
        """The newest outbox messages of the tenant; page with ``before`` = ``next_before``."""
        statuses = parse_statuses(status) if status else None
        records = await store.search(
            tenant=current_tenant.get(),
            status=statuses,
            rule=rule or None,
            recipient=recipient or None,
            limit=limit,
            before=as_utc(before),
        )
        next_before = records[-1].created_at if len(records) == limit else None
        return {
            "notifications": [r.to_dict() for r in records],
            "next_before": next_before.isoformat() if next_before is not None else None,
        }

    # before /{id}: "outbox" is no id
    @router.get(ADMIN_NOTIFICATIONS_PATH + "/outbox", tags=["notifications", "admin"])
    async def outbox() -> Any:
        """How many messages wait to be delivered (all tenants): the outbox depth."""
        return {"depth": await store.depth()}

    @router.get(ADMIN_NOTIFICATIONS_PATH + "/{notification_id}", tags=["notifications", "admin"])
    async def get_notification(notification_id: str) -> Any:
        """One outbox message with every delivery attempt."""
        checked = check_notification_id(notification_id)
        tenant = current_tenant.get()
        record = await store.get(checked, tenant=tenant)
        attempts = await store.attempts(checked, tenant=tenant)
        return {**record.to_dict(), "attempts": [a.to_dict() for a in attempts]}

    @router.post(
        ADMIN_NOTIFICATIONS_PATH + "/{notification_id}/retry", tags=["notifications", "admin"]
    )
    async def retry_notification(notification_id: str) -> Any:
        """Send a dead or failed message again, from its first channel; 409 otherwise."""
        checked = check_notification_id(notification_id)
        tenant = current_tenant.get()
        record = await store.retry(checked, tenant=tenant)
        service.wake()
        return record.to_dict()
