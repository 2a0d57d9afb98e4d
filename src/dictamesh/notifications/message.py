"""What a channel is asked to deliver: one rendered, governed message to one address.

The body is rendered from the event *after* governance masked it for the recipient, so a
channel never sees a value the recipient may not read. ``id`` is stable across retries and
nodes: channels pass it to the receiver (``Message-ID``, ``Idempotency-Key``, PagerDuty's
``dedup_key`` unless ``group_key`` is set) so a receiver can drop a resend after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dictamesh.core.notification_config import Priority

__all__ = ["OutgoingMessage", "SendResult"]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    #: the notification's id (a UUID): the same on every attempt, on every node
    id: str
    rule: str
    #: the configured channel's name (``ops_mail``) this attempt goes through
    channel: str
    #: who it is for: a user name, ``email:x@y``, or ``channel:<name>`` for a channel's own
    #: target (a webhook, a Slack channel, PagerDuty)
    recipient: str
    #: the address the channel delivers to (an e-mail address, a phone number, a user name
    #: for the in-app inbox); ``None`` for channels that post to their configured URL
    address: str | None
    priority: Priority
    subject: str
    text: str
    html: str | None
    tenant_id: str
    created_at: datetime
    #: the masked event the message was rendered from (webhook body, PagerDuty details)
    event: dict[str, Any] = field(default_factory=dict)
    #: groups messages about one thing (PagerDuty ``dedup_key``: trigger, then resolve)
    group_key: str | None = None
    #: PagerDuty: this message resolves the incident ``group_key`` opened
    resolve: bool = False
    #: how many events a digest message holds (1 otherwise)
    count: int = 1


@dataclass(frozen=True, slots=True)
class SendResult:
    #: the receiver's id for the message (SMTP queue id, Slack ts, PagerDuty dedup_key...)
    provider_message_id: str | None = None
