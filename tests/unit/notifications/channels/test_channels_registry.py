"""The channel registry: every kind pyproject.toml declares loads and builds; an unknown
kind, a missing field or a wrong option is a ConfigurationError naming the config key."""

from __future__ import annotations

import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.notification_config import ChannelConfig
from dictamesh.core.plugins import PluginRegistry
from dictamesh.notifications.channels._common import truncate
from dictamesh.notifications.channels.base import Channel, ChannelFactory
from dictamesh.notifications.channels.registry import CHANNEL_GROUP, build_channel, channel_kinds
from dictamesh.notifications.message import OutgoingMessage

ROOT = Path(__file__).resolve().parents[4]
KINDS = ["email", "in_app", "pagerduty", "push", "slack", "sms", "webhook"]

#: the smallest config each kind accepts, and the address it asks recipients for
MINIMAL: dict[str, tuple[dict[str, Any], str | None]] = {
    "email": ({"host": "127.0.0.1", "sender": "mesh@example.com"}, "email"),
    "webhook": ({"url": "http://127.0.0.1:9/hook", "secret": "s"}, None),
    "slack": ({"url": "http://127.0.0.1:9/services/x"}, None),
    "pagerduty": ({"routing_key": "R"}, None),
    "in_app": ({}, "user"),
    "sms": ({"url": "http://127.0.0.1:9/sms", "sender": "+1500"}, "phone"),
    "push": ({"url": "http://127.0.0.1:9/push"}, "push"),
}


class Inbox:
    async def add_to_inbox(self, message: OutgoingMessage) -> str:
        return "row"


def declared() -> PluginRegistry[ChannelFactory]:
    """The registry over the entry points pyproject.toml declares (what an install
    publishes), independent of what the current environment has installed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    entries = project["entry-points"][CHANNEL_GROUP]
    return channel_kinds([EntryPoint(n, v, CHANNEL_GROUP) for n, v in entries.items()])


def test_every_declared_kind_loads() -> None:
    registry = declared()
    assert registry.names() == KINDS
    plugins = registry.available()
    assert {name: p.error for name, p in plugins.items()} == dict.fromkeys(KINDS)


@pytest.mark.parametrize("kind", KINDS)
async def test_every_kind_builds_from_its_minimal_config(kind: str) -> None:
    fields, address_field = MINIMAL[kind]
    config = ChannelConfig.model_validate({"kind": kind, **fields})

    channel = build_channel("ch", config, inbox=Inbox(), registry=declared())

    assert isinstance(channel, Channel)
    assert channel.name == "ch"
    assert channel.address_field == address_field
    await channel.aclose()


def test_an_unknown_kind_names_the_key_and_the_known_kinds() -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_channel("ops", ChannelConfig(kind="telegram"), registry=declared())

    message = str(caught.value)
    assert message.startswith("notifications.channels.ops.kind: unknown")
    assert "'telegram'" in message
    assert f"known: {', '.join(KINDS)}" in message


@pytest.mark.parametrize(
    ("kind", "drop", "field"),
    [
        ("email", "host", "host"),
        ("email", "sender", "sender"),
        ("webhook", "url", "url"),
        ("webhook", "secret", "secret"),
        ("slack", "url", "url"),
        ("pagerduty", "routing_key", "routing_key"),
        ("sms", "url", "url"),
        ("sms", "sender", "sender"),
        ("push", "url", "url"),
    ],
)
def test_a_missing_field_is_named(kind: str, drop: str, field: str) -> None:
    fields = {k: v for k, v in MINIMAL[kind][0].items() if k != drop}

    with pytest.raises(ConfigurationError) as caught:
        build_channel(
            "ch", ChannelConfig.model_validate({"kind": kind, **fields}), registry=declared()
        )

    assert str(caught.value).startswith(f"notifications.channels.ch.{field}: required")
    assert caught.value.details["field"] == field


def test_in_app_needs_the_store() -> None:
    with pytest.raises(ConfigurationError, match=r"notifications\.channels\.ch\.kind: .*store"):
        build_channel("ch", ChannelConfig(kind="in_app"), registry=declared())


@pytest.mark.parametrize(
    ("kind", "extra", "field"),
    [
        ("email", {"username": "u"}, "password"),
        ("email", {"password": "p"}, "username"),
        ("sms", {"username": "u"}, "password"),
        ("push", {"password": "p"}, "username"),
        ("email", {"options": {"ca_file": "/no/such/ca.pem"}}, "options.ca_file"),
        ("webhook", {"options": {"validate_certs": "no"}}, "options.validate_certs"),
        ("email", {"options": {"reuse_connection": 1}}, "options.reuse_connection"),
    ],
)
def test_inconsistent_settings_are_named(kind: str, extra: dict[str, Any], field: str) -> None:
    config = ChannelConfig.model_validate({"kind": kind, **MINIMAL[kind][0], **extra})

    with pytest.raises(ConfigurationError) as caught:
        build_channel("ch", config, registry=declared())

    assert str(caught.value).startswith(f"notifications.channels.ch.{field}: ")


def test_a_bad_ca_file_is_named(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    config = ChannelConfig(
        kind="slack", url="http://127.0.0.1:9/x", options={"ca_file": str(garbage)}
    )

    with pytest.raises(ConfigurationError, match=r"options\.ca_file: not a PEM"):
        build_channel("ch", config, registry=declared())


def test_a_plugin_that_builds_something_else_is_refused() -> None:
    registry = channel_kinds([])
    registry.register("odd", lambda name, config, *, inbox=None: object())  # type: ignore[arg-type]

    with pytest.raises(ConfigurationError, match="not a Channel"):
        build_channel("ch", ChannelConfig(kind="odd"), registry=registry)


def test_truncate() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("abcdefghij", 5) == "abcd…"
    assert truncate("one two three", 10) == "one two…"
    assert truncate("a bcdefghijk", 4) == "a…"
    assert len(truncate("x" * 100, 50)) == 50
