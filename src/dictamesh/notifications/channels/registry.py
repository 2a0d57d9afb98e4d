"""Channel kinds as plugins of the entry-point group ``dictamesh.notification_channels``.

A kind's entry point names a :class:`~dictamesh.notifications.channels.base.ChannelFactory`:
``(name, config, *, inbox=None) -> Channel``. The built-in kinds (email, webhook, slack,
pagerduty, in_app, sms, push) are declared in this package's ``pyproject.toml``; another
distribution adds a kind by declaring its own entry point::

    [project.entry-points."dictamesh.notification_channels"]
    teams = "my_package.teams:TeamsChannel"

Example::

    channel = build_channel("ops_mail", config)          # config.kind == "email"
    await channel.send(message)
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint
from typing import TypeGuard

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.notification_config import ChannelConfig
from dictamesh.core.plugins import PluginRegistry
from dictamesh.notifications.channels.base import Channel, ChannelFactory, InboxWriter

__all__ = ["CHANNEL_GROUP", "build_channel", "channel_kinds"]

CHANNEL_GROUP = "dictamesh.notification_channels"


def _is_factory(obj: object) -> TypeGuard[ChannelFactory]:
    return callable(obj)


def channel_kinds(plugins: Iterable[EntryPoint] | None = None) -> PluginRegistry[ChannelFactory]:
    """A registry of the installed channel kinds (``plugins`` replaces discovery)."""
    return PluginRegistry(
        CHANNEL_GROUP,
        what="notification channel kind",
        accepts=_is_factory,
        expected="callable",
        plugins=plugins,
    )


_DEFAULT = channel_kinds()


def build_channel(
    name: str,
    config: ChannelConfig,
    *,
    inbox: InboxWriter | None = None,
    registry: PluginRegistry[ChannelFactory] | None = None,
) -> Channel:
    """The channel ``name`` built by the plugin of ``config.kind``. ConfigurationError for an
    unknown or disabled kind (naming ``notifications.channels.<name>.kind`` and the known
    kinds), a missing field (naming it), or a plugin that did not build a channel."""
    factory = (registry or _DEFAULT).load(
        config.kind, setting=f"notifications.channels.{name}.kind"
    )
    channel = factory(name, config, inbox=inbox)
    if not isinstance(channel, Channel):
        raise ConfigurationError(
            f"notifications.channels.{name}.kind: the {config.kind!r} plugin built"
            f" {type(channel).__name__}, not a Channel (name, address_field, send, aclose)",
            channel=name,
            kind=config.kind,
        )
    return channel
