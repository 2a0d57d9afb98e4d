"""The ``pagerduty`` channel: PagerDuty Events API v2 (trigger, then resolve).

Config: ``routing_key`` (the integration key of a PagerDuty service, required); ``url``
(default :data:`DEFAULT_URL`, ``https://events.pagerduty.com/v2/enqueue``; EU accounts use
``https://events.eu.pagerduty.com/v2/enqueue``).

A trigger::

    {"routing_key": "…", "event_action": "trigger", "dedup_key": "<group_key or id>",
     "payload": {"summary": "<subject, 1024 chars at most>", "source": "dictamesh",
                 "severity": "critical|error|warning|info", "timestamp": "<created_at>",
                 "custom_details": {<the masked event>}}}

``dedup_key`` is the message's ``group_key`` when the rule sets one, so a later message with
``resolve`` set (``event_action: resolve``, only routing_key, event_action and dedup_key)
closes the incident the trigger opened; otherwise the notification id, so a retried trigger
does not open a second incident. Priorities map to severities: critical → critical,
high → error, normal → warning, low → info. PagerDuty answers ``202`` with the dedup key,
which is the provider message id.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from dictamesh.core.notification_config import ChannelConfig, Priority
from dictamesh.notifications.channels._common import require, truncate
from dictamesh.notifications.channels._http import HttpSender, json_body, provider_id
from dictamesh.notifications.channels.base import ChannelFactory, InboxWriter
from dictamesh.notifications.message import OutgoingMessage, SendResult

__all__ = ["DEFAULT_URL", "SEVERITY", "PagerDutyChannel", "dedup_key", "pagerduty_payload"]

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"

SEVERITY: dict[Priority, str] = {
    Priority.CRITICAL: "critical",
    Priority.HIGH: "error",
    Priority.NORMAL: "warning",
    Priority.LOW: "info",
}

_SUMMARY_CHARS = 1024
#: PagerDuty refuses a longer dedup_key
_DEDUP_KEY_CHARS = 255


def dedup_key(message: OutgoingMessage) -> str:
    key = message.group_key or message.id
    if len(key) > _DEDUP_KEY_CHARS:  # stable, so trigger and resolve still pair up
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def pagerduty_payload(message: OutgoingMessage, routing_key: str) -> dict[str, Any]:
    """The Events API v2 body for ``message``."""
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "resolve" if message.resolve else "trigger",
        "dedup_key": dedup_key(message),
    }
    if message.resolve:
        return event
    # PagerDuty refuses an empty summary
    summary = message.subject.strip() or message.text.strip() or message.rule
    event["payload"] = {
        "summary": truncate(summary, _SUMMARY_CHARS),
        "source": "dictamesh",
        "severity": SEVERITY[message.priority],
        "timestamp": message.created_at.isoformat(),
        "custom_details": message.event,
    }
    return event


class PagerDutyChannel:
    """Send each message as an Events API v2 event; one attempt per send."""

    address_field: ClassVar[str | None] = None

    def __init__(
        self, name: str, config: ChannelConfig, *, inbox: InboxWriter | None = None
    ) -> None:
        self.name = name
        self._routing_key = require(
            name, config, "routing_key", "the integration key of the PagerDuty service"
        )
        self._url = config.url or DEFAULT_URL
        self._http = HttpSender(name, config)

    async def send(self, message: OutgoingMessage) -> SendResult:
        response = await self._http.post(
            self._url,
            content=json_body(pagerduty_payload(message, self._routing_key)),
            headers={"Content-Type": "application/json"},
        )
        return SendResult(provider_id(response, "dedup_key") or dedup_key(message))

    async def aclose(self) -> None:
        await self._http.aclose()


_factory: ChannelFactory = PagerDutyChannel
