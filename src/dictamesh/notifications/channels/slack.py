"""The ``slack`` channel: a message to a Slack incoming webhook (``config.url``, which holds
the webhook's secret: keep it in an environment variable, ``url: ${SLACK_WEBHOOK_URL}``).

The message has a ``text`` fallback (what notifications and old clients show) and
``blocks``: a header with the subject, a section with the text (``mrkdwn``) and a context
line with priority, rule and tenant. ``&``, ``<`` and ``>`` of the rendered text are
escaped, so a value in an event cannot ping ``<!channel>`` or forge a link.

Slack answers ``200 ok``; its refusals (``400 invalid_payload``, ``403 action_prohibited``,
``404 channel_not_found``, ``410 channel_is_archived``) are permanent, ``429`` (with
``Retry-After``) and 5xx transient (:mod:`dictamesh.notifications.channels._http`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from dictamesh.core.notification_config import ChannelConfig
from dictamesh.notifications.channels._common import cut_at_word, require, truncate
from dictamesh.notifications.channels._http import HttpSender, json_body
from dictamesh.notifications.channels.base import ChannelFactory, InboxWriter
from dictamesh.notifications.message import OutgoingMessage, SendResult

__all__ = ["SlackChannel", "slack_payload"]

# Slack's limits: header text 150 characters, section text 3000; top-level text is
# truncated by Slack itself past 40,000 but a notification line should stay short
_HEADER_CHARS = 150
_SECTION_CHARS = 3000
_FALLBACK_CHARS = 3000


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped(text: str, limit: int) -> str:
    """``text`` escaped, within ``limit`` characters, never cut inside an ``&amp;``."""
    escaped = _escape(text)
    if len(escaped) <= limit:
        return escaped
    fits = size = 0  # how many characters of text fit, escaped, before the "…"
    for char in text:
        size += len(_escape(char))
        if size > limit - 1:
            break
        fits += 1
    return _escape(cut_at_word(text[:fits])) + "…"


def slack_payload(message: OutgoingMessage) -> dict[str, Any]:
    """The incoming-webhook JSON for ``message``."""
    blocks: list[dict[str, Any]] = []
    if message.subject.strip():
        blocks.append(
            {
                "type": "header",
                "text": {"type": "plain_text", "text": truncate(message.subject, _HEADER_CHARS)},
            }
        )
    if message.text.strip():
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _escaped(message.text, _SECTION_CHARS),
                },
            }
        )
    facts = [
        f"*Priority:* {message.priority.value}",
        f"*Rule:* {_escape(message.rule)}",
        f"*Tenant:* {_escape(message.tenant_id)}",
    ]
    if message.count > 1:
        facts.append(f"*Events:* {message.count}")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(facts)}]})
    fallback = message.subject.strip() or message.text
    return {"text": _escaped(fallback, _FALLBACK_CHARS), "blocks": blocks}


class SlackChannel:
    """POST each message to the incoming webhook ``config.url``; one attempt per send."""

    address_field: ClassVar[str | None] = None

    def __init__(
        self, name: str, config: ChannelConfig, *, inbox: InboxWriter | None = None
    ) -> None:
        self.name = name
        self._url = require(name, config, "url", "the Slack incoming-webhook URL")
        self._http = HttpSender(name, config)

    async def send(self, message: OutgoingMessage) -> SendResult:
        await self._http.post(
            self._url,
            content=json_body(slack_payload(message)),
            headers={"Content-Type": "application/json"},
        )
        # an incoming webhook answers a plain "ok": there is no message id to keep
        return SendResult(None)

    async def aclose(self) -> None:
        await self._http.aclose()


_factory: ChannelFactory = SlackChannel
