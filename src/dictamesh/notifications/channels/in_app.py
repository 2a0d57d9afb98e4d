"""The ``in_app`` channel: the message goes to the recipient's inbox in the notifications
store, which the API lists and marks read.

The recipient's address is their user name (``address_field = "user"``). The channel needs
the store: the node passes it as ``inbox`` when it builds its channels; built without one,
the channel refuses to start (:class:`~dictamesh.core.errors.ConfigurationError`). No config
field is needed: ``ops_inbox: {kind: in_app}``.
"""

from __future__ import annotations

from typing import ClassVar

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.notification_config import ChannelConfig
from dictamesh.notifications.channels._common import key
from dictamesh.notifications.channels.base import ChannelFactory, DeliveryError, InboxWriter
from dictamesh.notifications.message import OutgoingMessage, SendResult

__all__ = ["InAppChannel"]


class InAppChannel:
    """Write each message to ``inbox``; the provider message id is the inbox row's id."""

    address_field: ClassVar[str | None] = "user"

    def __init__(
        self, name: str, config: ChannelConfig, *, inbox: InboxWriter | None = None
    ) -> None:
        if inbox is None:
            raise ConfigurationError(
                f"{key(name, 'kind')}: an 'in_app' channel needs the notifications store"
                " (build it with inbox=...)",
                channel=name,
                field="kind",
            )
        self.name = name
        self._inbox = inbox

    async def send(self, message: OutgoingMessage) -> SendResult:
        if not message.address:
            raise DeliveryError(f"in-app message {message.id} has no user to go to", permanent=True)
        # a store error (database restarting) propagates: transient, retried by the worker
        return SendResult(await self._inbox.add_to_inbox(message))

    async def aclose(self) -> None:
        """Nothing to close: the store belongs to the node."""


_factory: ChannelFactory = InAppChannel
