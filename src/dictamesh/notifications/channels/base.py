"""The channel plugin contract: send one message, say clearly how it failed.

A channel kind is a class registered in the entry-point group
``dictamesh.notification_channels`` (:mod:`dictamesh.notifications.channels.registry`). The
worker calls :meth:`Channel.send`; a channel raises :class:`DeliveryError` with
``permanent=True`` when retrying cannot help (a 4xx other than 408/429, SMTP 5xx, bad
credentials), with ``retry_after`` when the receiver said when to come back (``Retry-After``,
SMTP 421/451), otherwise plain (retried with backoff). Anything else a channel raises is
treated as a transient failure too.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

from dictamesh.core.notification_config import ChannelConfig
from dictamesh.notifications.message import OutgoingMessage, SendResult

__all__ = ["Channel", "ChannelFactory", "DeliveryError", "InboxWriter"]


class DeliveryError(Exception):
    """A send failed. ``reason`` is stored as the attempt's error (no secrets in it)."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status


@runtime_checkable
class InboxWriter(Protocol):
    """Where the in-app channel stores a message (the notifications store)."""

    async def add_to_inbox(self, message: OutgoingMessage) -> str: ...


@runtime_checkable
class Channel(Protocol):
    #: the address a recipient needs for this kind (``email``, ``phone``, ``push``, ``user``)
    #: or ``None``: the channel posts to its configured target, one message per event
    address_field: ClassVar[str | None]
    name: str

    async def send(self, message: OutgoingMessage) -> SendResult: ...

    async def aclose(self) -> None: ...


class ChannelFactory(Protocol):
    """What a plugin entry point names: build the channel ``name`` from its config; raise
    :class:`~dictamesh.core.errors.ConfigurationError` naming the missing field."""

    def __call__(
        self, name: str, config: ChannelConfig, *, inbox: InboxWriter | None = None
    ) -> Channel: ...
