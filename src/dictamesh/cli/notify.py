"""``dictamesh notify …``: list, show and retry outbox messages straight on the catalog
database, and send a test message through a configured channel.

No running node is needed: ``list``, ``show`` and ``retry`` read and write the outbox through
:class:`~dictamesh.notifications.store.NotificationStore`. A retried message is ``pending``
again, due now, on its first channel: a node's delivery worker sends it within its poll
interval. ``test`` builds the channel named in ``notifications.channels`` of the settings
(``--config``, else the environment) and sends it one message; the in-app channel stores it
in the catalog database (``--url`` or the settings' ``catalog.url``).

Exit codes: 0 done; 1 no such message, a message that is not ``dead`` or ``failed``
(retry), a failed send, or the database failed; 2 bad input (not a UUID, an unknown status
or channel, a bad address, a bad config).

Example::

    dictamesh notify list --status failed,dead
    dictamesh notify show 0b6f…  --format json
    dictamesh notify retry 0b6f…
    dictamesh notify test --channel ops_mail --to alice@example.com -c mesh.yaml
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from dictamesh.cli._catalog_commands import (
    ConfigOpt,
    JsonOpt,
    UrlOpt,
    console,
    fail,
    load_settings,
    on_catalog,
    parse_input,
    print_fields,
    print_json,
    when,
)
from dictamesh.cli._output import FormatOpt, OutputFormat, add_plain_row, chosen_format
from dictamesh.core.errors import ConfigurationError, DictaMeshError
from dictamesh.core.inputs import bad_text_reason

if TYPE_CHECKING:
    from dictamesh.core.notification_config import ChannelConfig
    from dictamesh.core.settings import DictaMeshSettings

__all__ = ["notify_app"]

notify_app = typer.Typer(
    help="Notifications: inspect the outbox, retry failed messages, test a channel.",
    no_args_is_help=True,
)

TenantOpt = Annotated[
    str | None, typer.Option("--tenant", help="the messages' tenant (default: the default tenant)")
]

#: what ``--to`` must look like for the built-in kinds that deliver to an address
_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]+\.[^@\s<>\"]+$")
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
_ADDRESSES: dict[str, tuple[str, re.Pattern[str] | None, int]] = {
    # kind: (what it is, its shape or None for any text, its longest length)
    "email": ("an e-mail address like alice@example.com", _EMAIL, 320),
    "sms": ("a phone number in E.164 form like +4915123456789", _PHONE, 16),
    "in_app": ("a user name", None, 320),
    "push": ("a device token or push address", None, 512),
}
#: the channel plugin registry's module
#: built-in kinds posting to their configured target: no ``--to``
_TARGETED = frozenset({"webhook", "slack", "pagerduty"})


@notify_app.command("list")
def list_notifications(
    status: Annotated[
        str | None, typer.Option("--status", help="failed, dead, pending, sent, ... (a,b: any)")
    ] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="a rule's name")] = None,
    recipient: Annotated[
        str | None, typer.Option("--recipient", help="a user, email:x@y, channel:<name>")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200, help="newest N")] = 50,
    tenant: TenantOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """The newest outbox messages, optionally of some statuses, a rule or a recipient."""
    from dictamesh.notifications.inputs import parse_statuses

    wanted = parse_input(parse_statuses, status) if status else None

    async def work(database: Any) -> list[dict[str, Any]]:
        from dictamesh.notifications.store import NotificationStore

        records = await NotificationStore(database).search(
            tenant=tenant,
            status=wanted,
            rule=rule,
            recipient=recipient,
            limit=limit,
        )
        return [r.to_dict() for r in records]

    rows = on_catalog(config, url, work)
    if chosen_format(fmt, as_json) is OutputFormat.JSON:
        print_json(rows)
        return
    if not rows:
        console.print("no notifications", highlight=False)
        return
    table = Table(title=f"notifications ({len(rows)})")
    for column in ("id", "rule", "recipient", "channel", "status", "tries", "created", "error"):
        table.add_column(column)
    for r in rows:
        add_plain_row(table,
            r["id"], r["rule"], r["recipient"], r["channel"], r["status"], str(r["attempts"]),
            when(r["created_at"]), r["last_error"] or "-",
        )  # fmt: skip
    console.print(table)


@notify_app.command("show")
def show(
    notification_id: Annotated[str, typer.Argument(metavar="ID", help="the message's id")],
    tenant: TenantOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """One outbox message: its state and every delivery attempt."""
    from dictamesh.notifications.inputs import check_notification_id

    checked = parse_input(check_notification_id, notification_id)

    async def work(database: Any) -> dict[str, Any]:
        from dictamesh.notifications.store import NotificationStore

        store = NotificationStore(database)
        record = await store.get(checked, tenant=tenant)
        attempts = await store.attempts(checked, tenant=tenant)
        return {**record.to_dict(), "attempts": [a.to_dict() for a in attempts]}

    detail = on_catalog(config, url, work)
    if chosen_format(fmt, as_json) is OutputFormat.JSON:
        print_json(detail)
        return
    attempts = detail.pop("attempts")
    print_fields(detail)
    table = Table(title=f"attempts ({len(attempts)})")
    for column in ("at", "try", "channel", "outcome", "status", "node", "ms", "error"):
        table.add_column(column)
    for a in attempts:
        add_plain_row(table,
            when(a["at"]), str(a["attempt"]), a["channel"], a["outcome"],
            "-" if a["status_code"] is None else str(a["status_code"]), a["node"] or "-",
            "-" if a["duration_ms"] is None else f"{a['duration_ms']:.0f}", a["error"] or "-",
        )  # fmt: skip
    console.print(table)


@notify_app.command("retry")
def retry(
    notification_id: Annotated[str, typer.Argument(metavar="ID", help="a dead or failed message")],
    tenant: TenantOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """Send a dead or failed message again, from its first channel, with fresh attempts."""
    from dictamesh.notifications.inputs import check_notification_id

    checked = parse_input(check_notification_id, notification_id)

    async def work(database: Any) -> dict[str, Any]:
        from dictamesh.notifications.store import NotificationStore

        store = NotificationStore(database)
        return dict((await store.retry(checked, tenant=tenant)).to_dict())

    record = on_catalog(config, url, work)
    if chosen_format(fmt, as_json) is OutputFormat.JSON:
        print_json(record)
        return
    typer.echo(
        f"notification {record['id']} is {record['status']}: a node's delivery worker sends it"
        " within its poll interval"
    )


# --- test --------------------------------------------------------------------------------


def _channel_config(settings: DictaMeshSettings, name: str) -> ChannelConfig:
    channels = settings.notifications.channels
    if name not in channels:
        known = ", ".join(sorted(channels)) or "none (notifications.channels is empty)"
        fail(f"unknown channel {name[:64]!r}; configured: {known}")
    return channels[name]


def _check_address(name: str, kind: str, to: str | None) -> str | None:
    """``to`` when it is an address of ``kind``; ``None`` for kinds posting to their target."""
    if to is None:
        if kind in _ADDRESSES:
            fail(f"channel {name!r} ({kind}) needs --to: {_ADDRESSES[kind][0]}")
        return None
    if kind in _TARGETED:
        fail(f"channel {name!r} ({kind}) posts to its configured target: leave out --to")
    what, shape, longest = _ADDRESSES.get(kind, ("an address", None, 512))
    reason = bad_text_reason(to)
    if reason is not None:
        fail(f"--to contains {reason}")
    if not to.strip() or len(to) > longest or (shape is not None and not shape.match(to)):
        fail(f"--to {to[:64]!r} is not {what} (channel {name!r} is {kind})")
    return to


def _test_message(name: str, address: str | None, tenant: str) -> Any:
    from datetime import UTC, datetime

    from dictamesh.core.notification_config import Priority
    from dictamesh.notifications.message import OutgoingMessage

    return OutgoingMessage(
        id=str(uuid.uuid4()),
        rule="test",
        channel=name,
        recipient=address or f"channel:{name}",
        address=address,
        priority=Priority.NORMAL,
        subject="DictaMesh test notification",
        text=f"A test message through the channel {name!r}, sent by `dictamesh notify test`.",
        html=None,
        tenant_id=tenant,
        created_at=datetime.now(UTC),
        event={"test": True},
    )


def _failure(exc: Exception) -> str:
    """A failed send in one line: the channel's reason, its status, whether to retry."""
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    status = getattr(exc, "status", None)
    retry_after = getattr(exc, "retry_after", None)
    notes = [] if status is None else [f"status {status}"]
    if getattr(exc, "permanent", False):
        notes.append("permanent: a retry cannot help")
    elif isinstance(retry_after, int | float):
        notes.append(f"retry after {retry_after:g}s")
    return f"{reason} ({', '.join(notes)})" if notes else str(reason)


@notify_app.command("test")
def send_test(
    channel: Annotated[str, typer.Option("--channel", help="a name in notifications.channels")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="the address: e-mail, +phone, user name (in_app), push token"),
    ] = None,
    tenant: TenantOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
) -> None:
    """Send one test message through a configured channel (exit 1 when it fails)."""
    settings = load_settings(config)
    channel_config = _channel_config(settings, channel)
    address = _check_address(channel, channel_config.kind, to)
    target = url or settings.catalog.url.get_secret_value()
    from dictamesh.catalog.models import DEFAULT_TENANT

    tenant_id = tenant or DEFAULT_TENANT

    async def send() -> dict[str, Any]:
        from dictamesh.notifications.channels.registry import build_channel

        database = None
        try:
            inbox = None
            if channel_config.kind == "in_app":
                from dictamesh.catalog.database import CatalogDatabase
                from dictamesh.notifications.inbox_store import InboxStore

                database = await CatalogDatabase.open(
                    target, migrate=False, pool=settings.catalog.pool
                )
                inbox = InboxStore(database)
            try:
                built = build_channel(channel, channel_config, inbox=inbox)
            except (DictaMeshError, ValueError) as exc:
                raise ConfigurationError(
                    f"channel {channel!r}: {getattr(exc, 'message', None) or exc}"
                ) from None
            needs = getattr(built, "address_field", None)
            if needs is not None and address is None:
                raise ConfigurationError(f"channel {channel!r} needs --to ({needs})")
            message = _test_message(channel, address if needs is not None else None, tenant_id)
            try:
                result = await built.send(message)
            finally:
                await built.aclose()
            return {
                "channel": channel,
                "kind": channel_config.kind,
                "to": message.address,
                "message_id": message.id,
                "provider_message_id": getattr(result, "provider_message_id", None),
            }
        finally:
            if database is not None:
                await database.aclose()

    try:
        outcome = asyncio.run(send())
    except ConfigurationError as exc:
        fail(exc.message)
    except DictaMeshError as exc:  # the database failed
        fail(exc.message, 1)
    except Exception as exc:  # DeliveryError, or what a channel raised instead
        fail(f"send through {channel!r} failed: {_failure(exc)}", 1)
    if chosen_format(fmt, as_json) is OutputFormat.JSON:
        print_json(outcome)
        return
    where = f" to {outcome['to']}" if outcome["to"] else ""
    provider = outcome["provider_message_id"]
    typer.echo(
        f"sent through {channel!r} ({outcome['kind']}){where}"
        + (f": provider id {provider}" if provider else "")
    )
