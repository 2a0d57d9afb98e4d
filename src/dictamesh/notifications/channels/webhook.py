"""The ``webhook`` channel: a signed JSON POST of each notification to a URL.

Body (compact UTF-8 JSON)::

    {"id": "…", "rule": "…", "priority": "high", "subject": "…", "text": "…",
     "tenant_id": "…", "created_at": "2025-01-01T12:00:00+00:00", "count": 1, "event": {…}}

Headers:

* ``X-DictaMesh-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
  (the scheme of Stripe, and of :mod:`dictamesh.core.webhook_signature`, which makes it);
* ``X-DictaMesh-Delivery`` and ``Idempotency-Key``: the notification id, the same on every
  retry, so a receiver can drop a resend.

A receiver checks a request with :func:`verify_signature` (``docs/notifications-channels.md``
spells the steps out for other languages)::

    from dictamesh.notifications.channels.webhook import verify_signature

    ok = verify_signature(secret, request.headers.get("X-DictaMesh-Signature"), raw_body)

Config: ``url`` and ``secret`` are required; ``timeout_seconds``; ``options.ca_file`` /
``options.validate_certs`` (:mod:`dictamesh.notifications.channels._common`).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from dictamesh.core.errors import AuthenticationError
from dictamesh.core.notification_config import ChannelConfig
from dictamesh.core.webhook_signature import (
    DEFAULT_TOLERANCE_SECONDS,
    TIMESTAMPED_HEADER,
    signature_headers,
)
from dictamesh.core.webhook_signature import verify_signature as _verify_request
from dictamesh.notifications.channels._common import require
from dictamesh.notifications.channels._http import HttpSender, json_body, provider_id
from dictamesh.notifications.channels.base import ChannelFactory, InboxWriter
from dictamesh.notifications.message import OutgoingMessage, SendResult

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "WebhookChannel",
    "sign",
    "verify_signature",
    "webhook_payload",
]

#: ``t=<unix seconds>,v1=<hex>``
SIGNATURE_HEADER = TIMESTAMPED_HEADER
#: the notification id (also sent as ``Idempotency-Key``)
DELIVERY_HEADER = "X-DictaMesh-Delivery"


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``X-DictaMesh-Signature`` value for ``body`` (``timestamp``: now)."""
    # the node's inbound-webhook helper signs with exactly this scheme: one implementation
    # (it also makes a GitHub-style header, which carries no time and is not sent)
    return signature_headers(_secret_bytes(secret), body, timestamp=timestamp)[SIGNATURE_HEADER]


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: bytes | str,
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (the ``X-DictaMesh-Signature`` value) signs ``body`` (the raw
    request body, as received) with ``secret``, made at most ``tolerance_seconds`` from
    ``now`` (a replayed or stale request is refused). Compared in constant time; several
    ``v1=`` (secret rotation on the sender's side) pass when one matches."""
    if header is None:
        return False
    raw = body.encode() if isinstance(body, str) else body
    try:
        _verify_request(
            _secret_bytes(secret),
            raw,
            lambda name: header if name == SIGNATURE_HEADER else None,
            tolerance=tolerance_seconds,
            now=now,
        )
    except AuthenticationError:
        return False
    return True


def webhook_payload(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON object the webhook channel posts for ``message``."""
    return {
        "id": message.id,
        "rule": message.rule,
        "priority": message.priority.value,
        "subject": message.subject,
        "text": message.text,
        "tenant_id": message.tenant_id,
        "created_at": message.created_at.isoformat(),
        "count": message.count,
        "event": message.event,
    }


class WebhookChannel:
    """POST each message, signed, to ``config.url``; one attempt per :meth:`send`."""

    address_field: ClassVar[str | None] = None

    def __init__(
        self, name: str, config: ChannelConfig, *, inbox: InboxWriter | None = None
    ) -> None:
        self.name = name
        self._url = require(name, config, "url", "where to POST")
        self._secret = require(name, config, "secret", "the HMAC-SHA256 signing key").encode()
        self._http = HttpSender(name, config)

    async def send(self, message: OutgoingMessage) -> SendResult:
        body = json_body(webhook_payload(message))
        headers = {
            "Content-Type": "application/json",
            # signed at each attempt: a retry an hour later is not refused as stale
            SIGNATURE_HEADER: sign(self._secret, body, timestamp=int(time.time())),
            DELIVERY_HEADER: message.id,
            "Idempotency-Key": message.id,
        }
        response = await self._http.post(self._url, content=body, headers=headers)
        return SendResult(provider_id(response, "id"))

    async def aclose(self) -> None:
        await self._http.aclose()


# the class is its own factory: mypy checks it fits the entry-point contract
_factory: ChannelFactory = WebhookChannel
