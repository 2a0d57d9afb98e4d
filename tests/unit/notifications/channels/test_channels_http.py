"""Slack, PagerDuty, SMS and push against a real HTTP receiver on 127.0.0.1, and the
in-app channel against an inbox."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
from tests.notification_receivers import HttpReceiver

from dictamesh.core.notification_config import ChannelConfig, Priority
from dictamesh.notifications.channels.base import Channel, DeliveryError
from dictamesh.notifications.channels.http_provider import (
    SMS_MAX_CHARS,
    PushChannel,
    SmsChannel,
)
from dictamesh.notifications.channels.in_app import InAppChannel
from dictamesh.notifications.channels.pagerduty import PagerDutyChannel, pagerduty_payload
from dictamesh.notifications.channels.slack import SlackChannel
from dictamesh.notifications.message import OutgoingMessage

MakeMessage = Callable[..., OutgoingMessage]
JSON = {"content-type": "application/json"}


@pytest.fixture
async def build() -> AsyncIterator[Callable[..., Any]]:
    """``build(cls, **config)``: a channel, closed after the test."""
    made: list[Channel] = []

    def make(cls: Any, **config: Any) -> Any:
        channel = cls("test", ChannelConfig.model_validate(config))
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.aclose()


# -- Slack ------------------------------------------------------------------------------


async def test_slack_posts_text_and_blocks(
    http_receiver: HttpReceiver, build: Callable[..., Any], make_message: MakeMessage
) -> None:
    slack = build(SlackChannel, kind="slack", url=http_receiver.url + "/services/T0/B0/XyZ")
    message = make_message(text="Customer <!channel> & co changed", count=4)

    result = await slack.send(message)  # the receiver answers Slack's "200 ok"

    assert result.provider_message_id is None
    [request] = http_receiver.requests
    assert request.path == "/services/T0/B0/XyZ"
    assert request.headers["content-type"] == "application/json"
    payload = json.loads(request.body)
    assert payload["text"] == message.subject
    header, section, context = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": message.subject}}
    assert section["type"] == "section"
    assert section["text"] == {
        "type": "mrkdwn",
        "text": "Customer &lt;!channel&gt; &amp; co changed",  # no ping, no forged link
    }
    assert context["type"] == "context"
    facts = context["elements"][0]["text"]
    assert context["elements"][0]["type"] == "mrkdwn"
    assert "*Priority:* high" in facts
    assert "*Rule:* customer-email-changed" in facts
    assert "*Tenant:* acme" in facts
    assert "*Events:* 4" in facts


async def test_slack_limits_and_a_message_without_subject(
    http_receiver: HttpReceiver, build: Callable[..., Any], make_message: MakeMessage
) -> None:
    slack = build(SlackChannel, kind="slack", url=http_receiver.url)

    await slack.send(make_message(subject="", text="<" * 5000))

    payload = json.loads(http_receiver.requests[0].body)
    section = payload["blocks"][0]
    assert section["type"] == "section"
    assert len(section["text"]["text"]) <= 3000
    assert section["text"]["text"].endswith("&lt;…")  # never cut inside an entity
    assert payload["text"] == section["text"]["text"]


async def test_slack_refusal_is_permanent_and_the_reason_keeps_the_webhook_secret_out(
    http_receiver: HttpReceiver, build: Callable[..., Any], make_message: MakeMessage
) -> None:
    slack = build(SlackChannel, kind="slack", url=http_receiver.url + "/services/T0/B0/SECRET")
    http_receiver.reply(404, "channel_not_found")

    with pytest.raises(DeliveryError) as caught:
        await slack.send(make_message())

    assert caught.value.permanent
    assert caught.value.reason == "127.0.0.1 answered HTTP 404: channel_not_found"


async def test_slack_rate_limit_is_transient_with_retry_after(
    http_receiver: HttpReceiver, build: Callable[..., Any], make_message: MakeMessage
) -> None:
    slack = build(SlackChannel, kind="slack", url=http_receiver.url)
    http_receiver.reply(429, "rate_limited", headers={"Retry-After": "30"})

    with pytest.raises(DeliveryError) as caught:
        await slack.send(make_message())

    assert not caught.value.permanent
    assert caught.value.retry_after == 30.0


async def test_slack_connection_refused_does_not_show_the_url(
    build: Callable[..., Any], make_message: MakeMessage, closed_port: int
) -> None:
    slack = build(
        SlackChannel, kind="slack", url=f"http://127.0.0.1:{closed_port}/services/T0/B0/SECRET"
    )

    with pytest.raises(DeliveryError) as caught:
        await slack.send(make_message())

    assert not caught.value.permanent
    assert "SECRET" not in caught.value.reason
    assert "ConnectionRefusedError" in caught.value.reason


# -- PagerDuty --------------------------------------------------------------------------


async def test_pagerduty_trigger_then_resolve(
    http_receiver: HttpReceiver, build: Callable[..., Any], make_message: MakeMessage
) -> None:
    pagerduty = build(
        PagerDutyChannel, kind="pagerduty", url=http_receiver.url + "/v2/enqueue", routing_key="R1"
    )
    answer = '{"status":"success","message":"Event processed","dedup_key":"orders-sla"}'
    http_receiver.reply(202, answer, headers=JSON)
    http_receiver.reply(202, answer, headers=JSON)
    trigger = make_message(priority=Priority.CRITICAL, group_key="orders-sla")
    resolve = make_message(group_key="orders-sla", resolve=True)

    assert (await pagerduty.send(trigger)).provider_message_id == "orders-sla"
    assert (await pagerduty.send(resolve)).provider_message_id == "orders-sla"

    first, second = (json.loads(r.body) for r in http_receiver.requests)
    assert http_receiver.requests[0].path == "/v2/enqueue"
    assert first == {
        "routing_key": "R1",
        "event_action": "trigger",
        "dedup_key": "orders-sla",
        "payload": {
            "summary": trigger.subject,
            "source": "dictamesh",
            "severity": "critical",
            "timestamp": "2025-03-01T12:30:00+00:00",
            "custom_details": trigger.event,
        },
    }
    assert second == {"routing_key": "R1", "event_action": "resolve", "dedup_key": "orders-sla"}


@pytest.mark.parametrize(
    ("priority", "severity"),
    [
        (Priority.CRITICAL, "critical"),
        (Priority.HIGH, "error"),
        (Priority.NORMAL, "warning"),
        (Priority.LOW, "info"),
    ],
)
def test_pagerduty_severity(make_message: MakeMessage, priority: Priority, severity: str) -> None:
    payload = pagerduty_payload(make_message(priority=priority), "R")
    assert payload["payload"]["severity"] == severity


def test_pagerduty_dedup_key_and_summary_limits(make_message: MakeMessage) -> None:
    message = make_message(subject="s" * 2000)
    payload = pagerduty_payload(message, "R")
    assert payload["dedup_key"] == message.id  # no group key: the notification id
    assert len(payload["payload"]["summary"]) == 1024
    long_key = pagerduty_payload(make_message(group_key="k" * 300), "R")["dedup_key"]
    assert long_key.startswith("sha256:")
    assert len(long_key) <= 255
    assert pagerduty_payload(make_message(subject="", text=""), "R")["payload"]["summary"] == (
        "customer-email-changed"
    )


async def test_pagerduty_refusals(
    http_receiver: HttpReceiver, build: Callable[..., Any], make_message: MakeMessage
) -> None:
    pagerduty = build(PagerDutyChannel, kind="pagerduty", url=http_receiver.url, routing_key="R")
    http_receiver.reply(400, '{"status":"invalid event"}', headers=JSON)
    http_receiver.reply(429)

    with pytest.raises(DeliveryError) as bad:
        await pagerduty.send(make_message())
    with pytest.raises(DeliveryError) as throttled:
        await pagerduty.send(make_message())

    assert bad.value.permanent
    assert "invalid event" in bad.value.reason
    assert not throttled.value.permanent
    assert throttled.value.status == 429


def test_pagerduty_defaults_to_the_events_api(build: Callable[..., Any]) -> None:
    pagerduty = build(PagerDutyChannel, kind="pagerduty", routing_key="R")
    assert pagerduty._url == "https://events.pagerduty.com/v2/enqueue"  # never called here


# -- SMS and push -----------------------------------------------------------------------


def form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


async def test_sms_is_a_twilio_style_form_post_with_basic_auth(
    http_receiver: HttpReceiver, build: Callable[..., Any], make_message: MakeMessage
) -> None:
    sms = build(
        SmsChannel,
        kind="sms",
        url=http_receiver.url + "/2010-04-01/Accounts/AC1/Messages.json",
        username="AC1",
        password="tok3n",
        sender="+15005550006",
    )
    http_receiver.reply(201, '{"sid": "SM123", "status": "queued"}', headers=JSON)
    message = make_message(address="+4915112345678")

    result = await sms.send(message)

    assert result.provider_message_id == "SM123"
    [request] = http_receiver.requests
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"AC1:tok3n").decode()
    assert request.headers["idempotency-key"] == message.id
    assert form(request.body) == {
        "To": "+4915112345678",
        "From": "+15005550006",
        "Body": message.text,
    }
    assert SmsChannel.address_field == "phone"


async def test_a_long_sms_is_cut_at_a_word(
    http_receiver: HttpReceiver, build: Callable[..., Any], make_message: MakeMessage
) -> None:
    sms = build(SmsChannel, kind="sms", url=http_receiver.url, sender="+1500")

    await sms.send(make_message(address="+49151", text="word " * 1000))

    body = form(http_receiver.requests[0].body)["Body"]
    assert len(body) <= SMS_MAX_CHARS
    assert body.endswith("word…")


async def test_push_sends_title_and_body(
    http_receiver: HttpReceiver, build: Callable[..., Any], make_message: MakeMessage
) -> None:
    push = build(PushChannel, kind="push", url=http_receiver.url)
    http_receiver.reply(200, '{"id": "p-9"}', headers=JSON)
    message = make_message(address="device-token-abc")

    result = await push.send(message)

    assert result.provider_message_id == "p-9"
    request = http_receiver.requests[0]
    assert "authorization" not in request.headers
    assert form(request.body) == {
        "To": "device-token-abc",
        "Title": message.subject,
        "Body": message.text,
    }
    assert PushChannel.address_field == "push"


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (503, False)])
async def test_sms_status_mapping(
    http_receiver: HttpReceiver,
    build: Callable[..., Any],
    make_message: MakeMessage,
    status: int,
    permanent: bool,
) -> None:
    sms = build(SmsChannel, kind="sms", url=http_receiver.url, sender="+1500")
    http_receiver.reply(status, '{"code": 21211, "message": "Invalid To"}', headers=JSON)

    with pytest.raises(DeliveryError) as caught:
        await sms.send(make_message(address="+49"))

    assert caught.value.permanent is permanent
    assert caught.value.status == status


async def test_sms_without_a_phone_number_is_permanent(
    build: Callable[..., Any], make_message: MakeMessage, closed_port: int
) -> None:
    sms = build(SmsChannel, kind="sms", url=f"http://127.0.0.1:{closed_port}", sender="+1")

    with pytest.raises(DeliveryError) as caught:
        await sms.send(make_message(address=None))

    assert caught.value.permanent
    assert caught.value.reason == "no phone address for recipient 'alice'"


async def test_sms_connection_refused_is_transient(
    build: Callable[..., Any], make_message: MakeMessage, closed_port: int
) -> None:
    sms = build(SmsChannel, kind="sms", url=f"http://127.0.0.1:{closed_port}", sender="+1")

    with pytest.raises(DeliveryError) as caught:
        await sms.send(make_message(address="+49"))

    assert not caught.value.permanent


# -- in-app -----------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[OutgoingMessage] = []

    async def add_to_inbox(self, message: OutgoingMessage) -> str:
        self.messages.append(message)
        return f"row-{len(self.messages)}"


async def test_in_app_writes_to_the_inbox(make_message: MakeMessage) -> None:
    inbox = Inbox()
    channel = InAppChannel("inbox", ChannelConfig(kind="in_app"), inbox=inbox)
    message = make_message(address="alice")

    result = await channel.send(message)
    await channel.aclose()

    assert result.provider_message_id == "row-1"
    assert inbox.messages == [message]
    assert InAppChannel.address_field == "user"


async def test_in_app_without_a_user_is_permanent(make_message: MakeMessage) -> None:
    channel = InAppChannel("inbox", ChannelConfig(kind="in_app"), inbox=Inbox())

    with pytest.raises(DeliveryError) as caught:
        await channel.send(make_message(address=None))

    assert caught.value.permanent
