"""The ``sms`` and ``push`` channels: one generic HTTP provider, posting a Twilio-style form.

Each send is one ``POST config.url`` with ``application/x-www-form-urlencoded`` fields, HTTP
basic auth ``username``:``password`` when given (Twilio: account SID and auth token) and
``Idempotency-Key: <notification id>``:

* ``sms`` (recipient address ``phone``): ``To``, ``From`` (``config.sender``, required),
  ``Body`` (the text, cut to :data:`SMS_MAX_CHARS` characters, at a word, with ``…``);
* ``push`` (recipient address ``push``, a device token or push address): ``To``,
  ``Title`` (the subject), ``Body`` (the text, at most :data:`PUSH_MAX_CHARS`), and ``From``
  when ``sender`` is set.

The provider message id is the ``sid`` (Twilio) or ``id`` of a JSON answer. Statuses map as
for webhooks (:mod:`dictamesh.notifications.channels._http`).

Example (Twilio)::

    sms_ops:
      kind: sms
      url: https://api.twilio.com/2010-04-01/Accounts/${TWILIO_SID}/Messages.json
      username: ${TWILIO_SID}
      password: ${TWILIO_TOKEN}
      sender: "+15005550006"
"""

from __future__ import annotations

from typing import ClassVar

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.notification_config import ChannelConfig
from dictamesh.notifications.channels._common import key, require, truncate
from dictamesh.notifications.channels._http import HttpSender, provider_id
from dictamesh.notifications.channels.base import ChannelFactory, DeliveryError, InboxWriter
from dictamesh.notifications.message import OutgoingMessage, SendResult

__all__ = ["PUSH_MAX_CHARS", "SMS_MAX_CHARS", "HttpProviderChannel", "PushChannel", "SmsChannel"]

#: Twilio's limit for one message body (longer texts are refused, not split)
SMS_MAX_CHARS = 1600
#: what a notification banner shows at most (APNs refuses payloads over 4 KB)
PUSH_MAX_CHARS = 1000


class HttpProviderChannel:
    """The shared form post; a subclass names its address field and builds its form."""

    address_field: ClassVar[str | None] = None
    #: whether ``config.sender`` (the ``From`` field) is required
    sender_required: ClassVar[bool] = False

    def __init__(
        self, name: str, config: ChannelConfig, *, inbox: InboxWriter | None = None
    ) -> None:
        self.name = name
        self._url = require(name, config, "url", "the provider's endpoint")
        self._sender = (
            require(name, config, "sender", "the sending number or id")
            if self.sender_required
            else config.sender
        )
        auth: tuple[str, str] | None = None
        if config.username is not None or config.password is not None:
            missing = "password" if config.password is None else "username"
            if config.username is None or config.password is None:
                raise ConfigurationError(
                    f"{key(name, missing)}: basic auth needs both username and password",
                    channel=name,
                    field=missing,
                )
            auth = (config.username, config.password.get_secret_value())
        self._http = HttpSender(name, config, auth=auth)

    def form(self, message: OutgoingMessage, address: str) -> dict[str, str]:
        raise NotImplementedError

    async def send(self, message: OutgoingMessage) -> SendResult:
        if not message.address:
            raise DeliveryError(
                f"no {self.address_field} address for recipient {message.recipient!r}",
                permanent=True,
            )
        response = await self._http.post(
            self._url,
            data=self.form(message, message.address),
            headers={"Idempotency-Key": message.id},
        )
        return SendResult(provider_id(response, "sid", "id"))

    async def aclose(self) -> None:
        await self._http.aclose()


class SmsChannel(HttpProviderChannel):
    address_field: ClassVar[str | None] = "phone"
    sender_required: ClassVar[bool] = True

    def form(self, message: OutgoingMessage, address: str) -> dict[str, str]:
        body = message.text.strip() or message.subject.strip()
        return {"To": address, "From": self._sender or "", "Body": truncate(body, SMS_MAX_CHARS)}


class PushChannel(HttpProviderChannel):
    address_field: ClassVar[str | None] = "push"

    def form(self, message: OutgoingMessage, address: str) -> dict[str, str]:
        fields = {
            "To": address,
            "Title": message.subject,
            "Body": truncate(message.text, PUSH_MAX_CHARS),
        }
        if self._sender:
            fields["From"] = self._sender
        return fields


_sms: ChannelFactory = SmsChannel
_push: ChannelFactory = PushChannel
