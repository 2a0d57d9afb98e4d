"""Delivery with real receivers: a webhook receiver that goes away mid-burst, a digest of a
thousand events, quiet hours, an SMTP server refusing the login, a node killed mid-send, and
a bad rule or template stopping ``dictamesh serve``.

The rules, outbox and worker run as a node runs them (:class:`NodeNotifications`), on a
SQLite catalog; the receivers are real servers on 127.0.0.1 (``tests/notification_receivers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult
from typer.testing import CliRunner

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.cli.main import app as cli
from dictamesh.core.models import ChangeEvent, EntityVersionRef, EventType, SourceRef
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.notifications.channels.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    verify_signature,
)
from dictamesh.notifications.rules import EventView
from dictamesh.notifications.runtime import NodeNotifications
from dictamesh.notifications.store import NotificationStatus
from tests.notification_receivers import AnyPortController, HttpReceiver, Mailbox, serving

pytestmark = pytest.mark.slow

SECRET = "webhook-secret-for-tests-0123456789"
TOPIC = "customers.directus.entity_changed"


class Clock:
    """The database's clock, moved by the test (digest windows, quiet hours)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class _NoBus:
    async def ensure_topic(self, spec: Any) -> None:
        return None

    async def publish(self, *args: Any, **kwargs: Any) -> Any:
        return None


def change(i: int, *, email: str | None = None) -> EventView:
    event = ChangeEvent(
        event_type=EventType.UPDATED,
        entity=EntityVersionRef(type="customer", id=f"c{i}", version=2),
        source=SourceRef(domain="customers", system="directus"),
        changed_fields=["email"],
        before={"email": f"old{i}@example.com"},
        after={"email": email or f"new{i}@example.com"},
    )
    return EventView.of_change(event, TOPIC)


def settings_for(tmp_path: Path, catalog_url: str, notifications: dict[str, Any]) -> Any:
    worker = {
        "poll_interval_seconds": 0.05,
        "backoff_initial_seconds": 0.2,
        "backoff_max_seconds": 1.0,
        "max_attempts": 60,
        **notifications.pop("worker", {}),
    }
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "n1",
            "state_dir": str(tmp_path),
            "catalog": {"url": catalog_url},
            "notifications": {**notifications, "worker": worker},
        }
    )


@contextlib.asynccontextmanager
async def running(
    settings: Any, catalog_url: str, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[NodeNotifications]:
    database = await CatalogDatabase.open(catalog_url, migrate=False, clock=clock)
    notifications = NodeNotifications.build(
        settings, node=settings.node_name, database=database, bus=_NoBus()
    )
    stop = asyncio.Event()
    delivery = asyncio.create_task(notifications.deliver(stop))
    try:
        yield notifications
    finally:
        stop.set()  # as a node stops: sends in flight finish, leases are given back
        await delivery
        await notifications.service.store.aclose()
        await notifications.aclose()
        await database.aclose()


async def until(check: Callable[[], Any], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - the state is in the database
            await asyncio.sleep(0.05)


def webhook_rule(**extra: Any) -> dict[str, Any]:
    return {
        "channels": {
            "hook": {"kind": "webhook", "url": "http://127.0.0.1:1", "secret": SECRET,
                     "rate_per_second": 10_000, "burst": 10_000}
        },
        "rules": [
            {"name": "email-changed", "when": {"topics": [TOPIC], "changed_fields": ["email"]},
             "channels": ["hook"], **extra}
        ],
    }  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_receiver_down_for_5s_during_a_burst_gets_everything_once(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    port = free_port()
    config = webhook_rule()
    config["channels"]["hook"]["url"] = f"http://127.0.0.1:{port}/hook"
    settings = settings_for(tmp_path, sqlite_catalog_url, config)
    receiver = HttpReceiver()
    burst = 300
    async with running(settings, sqlite_catalog_url) as notifications:
        async with serving(receiver, port=port, grace=0.3):
            await notifications.handle_views([change(i) for i in range(burst)])
            await until(lambda: _true(len(receiver.requests) >= 40))
        down_at = len(receiver.requests)
        await asyncio.sleep(5)  # connection refused meanwhile: retried with backoff
        assert len(receiver.requests) == down_at
        async with serving(receiver, port=port):
            await until(lambda: _true(notifications.worker.sent >= burst), timeout=60)
        store = notifications.service.store
        sent = await store.search(status=[NotificationStatus.SENT], limit=200)
        assert len(sent) == 200  # (one page)
        retried = [r for r in await store.search(limit=200) if r.attempts > 1]
        assert retried, "some messages were tried while the receiver was down"
    deliveries = [r.headers[DELIVERY_HEADER.lower()] for r in receiver.requests]
    assert len(deliveries) == burst  # every message, none twice
    assert len(set(deliveries)) == burst
    for request in receiver.requests:
        header = request.headers[SIGNATURE_HEADER.lower()]
        assert verify_signature(SECRET, header, request.body)
        assert not verify_signature(SECRET, header, request.body + b" ")


async def _true(value: bool) -> bool:
    return value


async def test_a_thousand_matches_in_a_digest_window_are_one_message(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    receiver = HttpReceiver()
    clock = Clock(datetime(2026, 12, 7, 10, 0, 5, tzinfo=UTC))
    async with serving(receiver) as url:
        config = webhook_rule(digest="1m")
        config["channels"]["hook"]["url"] = url
        config["max_event_age_seconds"] = 10 * 365 * 86400  # the events' time is real time
        settings = settings_for(tmp_path, sqlite_catalog_url, config)
        async with running(settings, sqlite_catalog_url, clock) as notifications:
            views = [change(i) for i in range(1000)]
            for i in range(0, 1000, 100):
                await notifications.handle_views(views[i : i + 100])
            await notifications.handle_views(views[:100])  # redelivered: counted once
            await asyncio.sleep(0.5)
            assert receiver.requests == []  # the window is still open
            clock.now = datetime(2026, 12, 7, 10, 1, 3, tzinfo=UTC)
            notifications.worker.wake()
            await until(lambda: _true(notifications.worker.sent >= 1))
            await asyncio.sleep(0.3)
    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["count"] == 1000
    assert "1000" in body["subject"]
    assert body["text"].count("customer") >= 50  # lists the first 50 ...
    assert "950" in body["text"]  # ... and says how many more


async def test_quiet_hours_hold_normal_and_pass_critical(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    clock = Clock(datetime(2026, 12, 7, 23, 30, tzinfo=UTC))  # 00:30 in Berlin
    rule = {"when": {"topics": [TOPIC]}, "to": ["alice"], "channels": ["inbox"]}
    config = {
        "channels": {"inbox": {"kind": "in_app"}},
        "recipients": {
            "users": {
                "alice": {
                    "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}
                }
            }
        },
        "rules": [
            {"name": "normal", **rule, "priority": "normal"},
            {"name": "critical", **rule, "priority": "critical"},
        ],
        "max_event_age_seconds": 10 * 365 * 86400,
    }
    settings = settings_for(tmp_path, sqlite_catalog_url, config)
    async with running(settings, sqlite_catalog_url, clock) as notifications:
        inbox = notifications.service.inbox
        await notifications.handle_views([change(1)])
        await until(lambda: _true(notifications.worker.sent >= 1))
        await asyncio.sleep(0.3)
        items = await inbox.inbox("alice")
        assert [i.rule for i in items] == ["critical"]
        [held] = await notifications.service.store.search(rule="normal")
        assert held.status is NotificationStatus.PENDING
        assert held.next_attempt_at == datetime(2026, 12, 8, 6, 0, tzinfo=UTC)  # 07:00 Berlin
        clock.now = datetime(2026, 12, 8, 6, 0, 1, tzinfo=UTC)
        notifications.worker.wake()
        await until(lambda: _true(notifications.worker.sent >= 2))
        assert sorted(i.rule for i in await inbox.inbox("alice")) == ["critical", "normal"]


def _refuse_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    return AuthResult(success=False, handled=False)


async def test_smtp_login_refused_fails_with_the_reason_and_the_worker_goes_on(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    mailbox = Mailbox()
    smtp = AnyPortController(
        mailbox, hostname="127.0.0.1", port=0, authenticator=_refuse_login,
        auth_require_tls=False, server_hostname="mx.test",
    )  # fmt: skip
    smtp.start()
    receiver = HttpReceiver()
    try:
        async with serving(receiver) as url:
            config = webhook_rule()
            config["channels"]["hook"]["url"] = url
            config["channels"]["mail"] = {
                "kind": "email", "host": "127.0.0.1", "port": smtp.port, "security": "none",
                "username": "mesh", "password": "wrong", "sender": "mesh@example.com",
            }  # fmt: skip
            config["recipients"] = {"users": {"alice": {"email": "alice@example.com"}}}
            config["rules"].append(
                {"name": "mail-alice", "when": {"topics": [TOPIC]}, "to": ["alice"],
                 "channels": ["mail"]}
            )  # fmt: skip
            settings = settings_for(tmp_path, sqlite_catalog_url, config)
            async with running(settings, sqlite_catalog_url) as notifications:
                store = notifications.service.store
                await notifications.handle_views([change(1)])

                async def mail_dead() -> bool:
                    return bool(await store.search(status=[NotificationStatus.DEAD]))

                await until(mail_dead)
                [dead] = await store.search(status=[NotificationStatus.DEAD])
                assert dead.rule == "mail-alice"
                assert dead.last_error is not None
                assert "auth" in dead.last_error.lower() or "login" in dead.last_error.lower()
                assert "wrong" not in dead.last_error  # no password in the reason
                # the worker keeps running: the next message goes out
                await notifications.handle_views([change(2)])
                await until(lambda: _true(len(receiver.requests) >= 2))
                assert mailbox.received == []
    finally:
        smtp.stop()


_WORKER = textwrap.dedent(
    """
    import asyncio, json, sys
    from dictamesh.catalog.database import CatalogDatabase
    from dictamesh.core.settings import DictaMeshSettings
    from dictamesh.notifications.runtime import NodeNotifications

    class NoBus:
        async def ensure_topic(self, spec): return None
        async def publish(self, *a, **k): return None

    async def main():
        settings = DictaMeshSettings.from_mapping(json.loads(sys.argv[1]))
        db = await CatalogDatabase.open(settings.catalog.url.get_secret_value(), migrate=False)
        n = NodeNotifications.build(settings, node=settings.node_name, database=db, bus=NoBus())
        print("ready", flush=True)
        await n.deliver()

    asyncio.run(main())
    """
)


async def test_a_node_killed_mid_send_resends_on_restart_with_the_same_delivery_id(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    receiver = HttpReceiver()
    receiver.reply(200, b"ok", delay=60)  # the first try hangs: the node dies meanwhile
    async with serving(receiver) as url:
        config = webhook_rule()
        config["channels"]["hook"]["url"] = url
        settings = settings_for(tmp_path, sqlite_catalog_url, config)
        raw = settings.model_dump(mode="json")
        raw["catalog"]["url"] = sqlite_catalog_url
        async with running(settings, sqlite_catalog_url) as first:
            first.worker.wake()
            await first.handle_views([change(1)])
            # stop this in-process worker: the subprocess below does the sending
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WORKER, json.dumps(raw), stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )  # fmt: skip
        try:
            await until(lambda: _true(len(receiver.requests) >= 1), timeout=30)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        async with running(settings, sqlite_catalog_url) as restarted:
            # a restarted node frees its previous process's leases at once
            await until(lambda: _true(restarted.worker.sent >= 1), timeout=30)
            [record] = await restarted.service.store.search()
    assert record.status is NotificationStatus.SENT
    deliveries = [r.headers[DELIVERY_HEADER.lower()] for r in receiver.requests]
    # at least once: the killed try reached the receiver, the resend carries the same id
    assert len(deliveries) == 2
    assert len(set(deliveries)) == 1


_MESH = """\
state_dir: {state}
catalog:
  url: sqlite+aiosqlite:///{state}/catalog.sqlite3
notifications:
  templates:
    greeting:
      en:
        subject: "{subject}"
        text: "x"
  channels:
    inbox: {{kind: in_app}}
  rules:
    - name: r1
      channels: [inbox]
      template: greeting
      when:
        topics: ["customers.*.*"]
        predicate: "{predicate}"
"""


@pytest.mark.parametrize(
    ("subject", "predicate", "line", "wanted"),
    [
        ("Hello {{{{ entity_id }}}}", "after.country ==", 18, "predicate"),
        ("Hello {{{{ entity_id ", "true", 8, "subject"),
    ],
)
def test_a_bad_rule_or_template_stops_serve_with_exit_2_naming_the_line(
    tmp_path: Path, subject: str, predicate: str, line: int, wanted: str
) -> None:
    config = tmp_path / "mesh.yaml"
    text = _MESH.format(state=tmp_path, subject=subject, predicate=predicate)
    config.write_text(text, encoding="utf-8")
    assert wanted in text.splitlines()[line - 1]
    result = CliRunner().invoke(cli, ["serve", "--config", str(config)])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert f"line {line}" in output
    assert wanted in output
