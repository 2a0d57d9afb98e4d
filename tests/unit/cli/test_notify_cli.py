"""``dictamesh notify list|show|retry`` on a SQLite catalog holding real outbox messages, and
``notify test``: its input errors, and real sends (the in-app inbox, an SMTP server)."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.notification_receivers import AnyPortController, Mailbox
from tests.unit.api.notifications_seed import notification_service, seed
from typer.testing import CliRunner

from dictamesh.cli.main import app

runner = CliRunner()


async def seeded(catalog_url: str) -> dict[str, str]:
    """A sent, a dead and a failed message of tenant ``default``, one of ``acme``."""
    async with notification_service(catalog_url) as service:
        return {
            "sent": await seed(service.store, "sent", tenant="default"),
            "dead": await seed(service.store, "dead", tenant="default", recipient="bob"),
            "failed": await seed(service.store, "failed", tenant="default", rule="other"),
            "acme": await seed(service.store, "dead", tenant="acme"),
        }


async def status_of(catalog_url: str, notification_id: str, tenant: str = "default") -> str:
    async with notification_service(catalog_url) as service:
        return (await service.store.get(notification_id, tenant=tenant)).status.value


def notify(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["notify", *args])
    return result.exit_code, result.output


def test_list_and_show(tmp_path: Path, sqlite_catalog_url: str) -> None:
    ids = asyncio.run(seeded(sqlite_catalog_url))
    url = ["--url", sqlite_catalog_url]
    code, out = notify("list", "--format", "json", *url)
    assert code == 0, out
    assert [n["id"] for n in json.loads(out)] == [ids["failed"], ids["dead"], ids["sent"]]
    code, out = notify("list", "--status", "dead,FAILED", "--limit", "1", "--format", "json", *url)
    assert [n["id"] for n in json.loads(out)] == [ids["failed"]]
    code, out = notify("list", "--rule", "other", "--format", "json", *url)
    assert [n["id"] for n in json.loads(out)] == [ids["failed"]]
    code, out = notify("list", "--recipient", "bob", "--format", "json", *url)
    assert [n["id"] for n in json.loads(out)] == [ids["dead"]]
    code, out = notify("list", "--tenant", "acme", "--format", "json", *url)
    assert [n["id"] for n in json.loads(out)] == [ids["acme"]]
    code, out = notify("list", "--tenant", "globex", *url)
    assert (code, out.strip()) == (0, "no notifications")
    code, out = notify("list", "--status", "dead", *url)
    assert code == 0
    assert "notifications (1)" in out  # a table (cells wrap in the narrow test terminal)

    code, out = notify("show", ids["dead"], "--format", "json", *url)
    assert code == 0, out
    detail = json.loads(out)
    assert (detail["status"], detail["recipient"]) == ("dead", "bob")
    assert [(a["outcome"], a["status_code"]) for a in detail["attempts"]] == [("dead", 550)]
    code, out = notify("show", ids["sent"], *url)
    assert code == 0, out
    assert "status: sent" in out
    assert "attempts (1)" in out

    # a node YAML naming the catalog works as well as --url
    config = tmp_path / "node.yaml"
    config.write_text(yaml.safe_dump({"catalog": {"url": sqlite_catalog_url}}))
    code, out = notify("show", ids["sent"], "-c", str(config), "--format", "json")
    assert code == 0, out
    assert json.loads(out)["id"] == ids["sent"]


def test_retry(sqlite_catalog_url: str) -> None:
    ids = asyncio.run(seeded(sqlite_catalog_url))
    url = ["--url", sqlite_catalog_url]
    code, out = notify("retry", ids["dead"], *url)
    assert code == 0, out
    assert f"notification {ids['dead']} is pending" in out
    assert asyncio.run(status_of(sqlite_catalog_url, ids["dead"])) == "pending"
    code, out = notify("retry", ids["failed"], "--format", "json", *url)
    assert code == 0, out
    assert (json.loads(out)["status"], json.loads(out)["attempts"]) == ("pending", 0)
    for notification_id in (ids["sent"], ids["dead"]):  # sent; pending after the retry
        code, out = notify("retry", notification_id, *url)
        assert code == 1, out
        assert "only dead or failed ones are retried" in out
    code, out = notify("retry", ids["acme"], *url)  # another tenant's: not found here
    assert code == 1, out
    assert "not found" in out
    assert asyncio.run(status_of(sqlite_catalog_url, ids["acme"], "acme")) == "dead"
    code, out = notify("retry", ids["acme"], "--tenant", "acme", *url)
    assert code == 0, out


def test_bad_input_and_unknown_messages(sqlite_catalog_url: str) -> None:
    url = ["--url", sqlite_catalog_url]
    for args in (
        ["show", "not-a-uuid"],
        ["retry", "42"],
        ["retry", ""],
        ["list", "--status", "sleeping"],
        ["list", "--limit", "0"],
        ["list", "--limit", "201"],
    ):
        code, out = notify(*args, *url)
        assert code == 2, (args, out)
    code, out = notify("show", "not-a-uuid", *url)
    assert len(out.strip().splitlines()) == 1  # one line
    assert "is not a UUID" in out
    missing = str(uuid.uuid4())
    for action in ("show", "retry"):
        code, out = notify(action, missing, *url)
        assert code == 1, (action, out)
        assert f"notification '{missing}' not found" in out


def test_a_bad_config_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text("catalog: [not, a, mapping]\n")
    code, out = notify("list", "-c", str(config))
    assert code == 2, out
    code, out = notify("list", "-c", str(tmp_path / "missing.yaml"))
    assert code == 2, out


# --- notify test: its input errors -------------------------------------------------------

CHANNELS: dict[str, Any] = {
    "ops_mail": {"kind": "email", "host": "smtp.example.com", "sender": "mesh@example.com"},
    "ops_sms": {"kind": "sms", "url": "https://sms.example.com/send", "sender": "+15005550006"},
    "ops_hook": {"kind": "webhook", "url": "https://hooks.example.com/x", "secret": "s" * 32},
    "inbox": {"kind": "in_app"},
}


@pytest.fixture
def mesh_yaml(tmp_path: Path, sqlite_catalog_url: str) -> Path:
    config = tmp_path / "mesh.yaml"
    config.write_text(
        yaml.safe_dump(
            {"catalog": {"url": sqlite_catalog_url}, "notifications": {"channels": CHANNELS}}
        )
    )
    return config


def test_an_unknown_channel_is_exit_2_naming_the_known_ones(mesh_yaml: Path) -> None:
    code, out = notify("test", "--channel", "pager", "--to", "x@example.com", "-c", str(mesh_yaml))
    assert code == 2, out
    assert "unknown channel 'pager'; configured: inbox, ops_hook, ops_mail, ops_sms" in out
    assert len(out.strip().splitlines()) == 1


def test_without_channels_the_message_says_so(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text(yaml.safe_dump({"catalog": {"url": "sqlite+aiosqlite:///x.db"}}))
    code, out = notify("test", "--channel", "ops_mail", "--to", "a@b.c", "-c", str(config))
    assert code == 2, out
    assert "notifications.channels is empty" in out


@pytest.mark.parametrize(
    ("channel", "to", "says"),
    [
        ("ops_mail", "not-an-address", "is not an e-mail address"),
        ("ops_mail", "two@@example.com", "is not an e-mail address"),
        ("ops_mail", "a b@example.com", "is not an e-mail address"),
        ("ops_mail", None, "needs --to"),
        ("ops_sms", "0151 2345678", "is not a phone number"),
        ("ops_sms", "+49", "is not a phone number"),
        ("inbox", " ", "is not a user name"),
        ("inbox", "x" * 400, "is not a user name"),
        ("ops_hook", "someone@example.com", "leave out --to"),
    ],
)
def test_a_bad_address_is_exit_2(mesh_yaml: Path, channel: str, to: str | None, says: str) -> None:
    args = ["test", "--channel", channel, "-c", str(mesh_yaml)]
    if to is not None:
        args += ["--to", to]
    code, out = notify(*args)
    assert code == 2, out
    assert says in out
    assert len(out.strip().splitlines()) == 1


# --- notify test: real sends ----------------------------------------------------------------


def _mail_config(tmp_path: Path, catalog_url: str, port: int) -> Path:
    config = tmp_path / "mail.yaml"
    mail = {"kind": "email", "host": "127.0.0.1", "port": port, "security": "none",
            "sender": "mesh@example.com", "timeout_seconds": 5}  # fmt: skip
    channels = {"notifications": {"channels": {"mail": mail}}}
    config.write_text(yaml.safe_dump({"catalog": {"url": catalog_url}, **channels}))
    return config


def test_a_test_message_reaches_the_in_app_inbox(mesh_yaml: Path, sqlite_catalog_url: str) -> None:
    code, out = notify("test", "--channel", "inbox", "--to", "alice", "-c", str(mesh_yaml))
    assert code == 0, out
    assert out.startswith("sent through 'inbox' (in_app) to alice: provider id ")

    async def alices() -> list[str]:
        async with notification_service(sqlite_catalog_url) as service:
            return [i.subject for i in await service.inbox.inbox("alice", tenant="default")]

    assert asyncio.run(alices()) == ["DictaMesh test notification"]


def test_a_test_mail_reaches_a_real_smtp_server(tmp_path: Path, sqlite_catalog_url: str) -> None:
    mailbox = Mailbox()
    smtp = AnyPortController(mailbox, hostname="127.0.0.1", port=0, server_hostname="mx")
    smtp.start()
    try:
        config = str(_mail_config(tmp_path, sqlite_catalog_url, smtp.port))
        code, out = notify("test", "--channel", "mail", "--to", "bob@example.com", "-c", config)
        assert code == 0, out
        [received] = mailbox.received
        assert received.rcpt_tos == ["bob@example.com"]
        assert b"DictaMesh test notification" in received.content
        # the server refuses the address: exit 1 with its answer, permanent
        mailbox.rcpt_reply = "550 5.1.1 no such mailbox"
        code, out = notify("test", "--channel", "mail", "--to", "eve@example.com", "-c", config)
        assert code == 1, out
        assert "550" in out
        assert "permanent" in out
    finally:
        smtp.stop()


def test_a_failed_send_is_exit_1_with_the_reason(tmp_path: Path, sqlite_catalog_url: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    config = str(_mail_config(tmp_path, sqlite_catalog_url, closed))
    code, out = notify("test", "--channel", "mail", "--to", "bob@example.com", "-c", config)
    assert code == 1, out
    assert "send through 'mail' failed" in out
