"""The webhook channel against a real HTTP receiver: the body, the signature a receiver
verifies with ``verify_signature``, and the status mapping every HTTP channel shares."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from email.utils import formatdate
from typing import Any

import pytest
from tests.notification_receivers import HttpReceiver, serving

from dictamesh.core.notification_config import ChannelConfig
from dictamesh.notifications.channels._http import parse_retry_after
from dictamesh.notifications.channels.base import DeliveryError
from dictamesh.notifications.channels.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WebhookChannel,
    sign,
    verify_signature,
)
from dictamesh.notifications.message import OutgoingMessage

from .conftest import Certificate

SECRET = "whsec_test_0123456789"
MakeMessage = Callable[..., OutgoingMessage]


@pytest.fixture
async def webhook() -> AsyncIterator[Callable[..., WebhookChannel]]:
    made: list[WebhookChannel] = []

    def make(url: str, **config: Any) -> WebhookChannel:
        settings: dict[str, Any] = {"kind": "webhook", "url": url, "secret": SECRET}
        settings.update(config)
        channel = WebhookChannel("audit_hook", ChannelConfig.model_validate(settings))
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.aclose()


async def test_posts_the_signed_json_body(
    http_receiver: HttpReceiver, webhook: Callable[..., WebhookChannel], make_message: MakeMessage
) -> None:
    message = make_message(count=3)
    http_receiver.reply(202, '{"id": "rcv-7"}', headers={"content-type": "application/json"})

    result = await webhook(http_receiver.url + "/hooks/dm").send(message)

    assert result.provider_message_id == "rcv-7"
    [request] = http_receiver.requests
    assert request.method == "POST"
    assert request.path == "/hooks/dm"
    assert request.headers["content-type"] == "application/json"
    assert request.headers[DELIVERY_HEADER.lower()] == message.id
    assert request.headers["idempotency-key"] == message.id
    assert json.loads(request.body) == {
        "id": message.id,
        "rule": "customer-email-changed",
        "priority": "high",
        "subject": message.subject,
        "text": message.text,
        "tenant_id": "acme",
        "created_at": "2025-03-01T12:30:00+00:00",
        "count": 3,
        "event": message.event,
    }
    header = request.headers[SIGNATURE_HEADER.lower()]
    assert header.startswith("t=")
    assert ",v1=" in header
    assert verify_signature(SECRET, header, request.body)
    assert verify_signature(SECRET.encode(), header, request.body.decode())


async def test_a_tampered_body_a_wrong_secret_or_a_stale_timestamp_fail_verification(
    http_receiver: HttpReceiver, webhook: Callable[..., WebhookChannel], make_message: MakeMessage
) -> None:
    await webhook(http_receiver.url).send(make_message())
    [request] = http_receiver.requests
    header = request.headers[SIGNATURE_HEADER.lower()]
    sent_at = int(header.split(",")[0][2:])

    assert abs(sent_at - time.time()) < 5
    tampered = request.body.replace(b'"count":1', b'"count":2')
    assert tampered != request.body
    assert not verify_signature(SECRET, header, tampered)
    assert not verify_signature("another-secret", header, request.body)
    assert not verify_signature(SECRET, None, request.body)
    assert not verify_signature(SECRET, "v1=abc", request.body)
    # replayed 301 s later (outside the 300 s window), or from 301 s in the future
    assert not verify_signature(SECRET, header, request.body, now=sent_at + 301)
    assert not verify_signature(SECRET, header, request.body, now=sent_at - 301)
    assert verify_signature(SECRET, header, request.body, now=sent_at + 299)
    assert verify_signature(SECRET, header, request.body, tolerance_seconds=600, now=sent_at + 500)


def test_sign_is_the_documented_scheme() -> None:
    import hashlib
    import hmac

    body = b'{"id":"1"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body, timestamp=1_700_000_000) == f"t=1700000000,v1={expected}"
    # a receiver accepts any of several v1 (the sender rotating its secret)
    rotated = f"t=1700000000,v1={'0' * 64},v1={expected}"
    assert verify_signature(SECRET, rotated, body, now=1_700_000_000)


async def test_a_retry_is_signed_again_with_the_same_delivery_id(
    http_receiver: HttpReceiver, webhook: Callable[..., WebhookChannel], make_message: MakeMessage
) -> None:
    channel = webhook(http_receiver.url)
    message = make_message()
    http_receiver.reply(503)

    with pytest.raises(DeliveryError):
        await channel.send(message)
    await channel.send(message)

    first, second = http_receiver.requests
    assert first.body == second.body
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == message.id
    assert verify_signature(SECRET, second.headers[SIGNATURE_HEADER.lower()], second.body)


async def test_event_values_json_cannot_carry_are_sent_as_strings(
    http_receiver: HttpReceiver, webhook: Callable[..., WebhookChannel], make_message: MakeMessage
) -> None:
    import datetime as dt
    import uuid
    from decimal import Decimal

    some_id = uuid.uuid4()
    event = {"amount": Decimal("12.50"), "at": dt.date(2025, 3, 1), "ref": some_id, "tags": {"a"}}

    await webhook(http_receiver.url).send(make_message(event=event))

    assert json.loads(http_receiver.requests[0].body)["event"] == {
        "amount": "12.50",
        "at": "2025-03-01",
        "ref": str(some_id),
        "tags": ["a"],
    }


@pytest.mark.parametrize(
    ("status", "headers", "permanent", "retry_after"),
    [
        (429, {"Retry-After": "7"}, False, 7.0),
        (503, {"Retry-After": "120"}, False, 120.0),
        (503, {}, False, None),
        (500, {"Retry-After": "30"}, False, None),  # Retry-After only counts on 429/503
        (502, {}, False, None),
        (408, {}, False, None),
        (400, {}, True, None),
        (401, {}, True, None),
        (404, {}, True, None),
        (410, {}, True, None),
        (301, {"Location": "http://elsewhere.test/"}, True, None),  # redirects not followed
    ],
)
async def test_status_mapping(
    http_receiver: HttpReceiver,
    webhook: Callable[..., WebhookChannel],
    make_message: MakeMessage,
    status: int,
    headers: dict[str, str],
    permanent: bool,
    retry_after: float | None,
) -> None:
    http_receiver.reply(status, "receiver says no", headers=headers)

    with pytest.raises(DeliveryError) as caught:
        await webhook(http_receiver.url).send(make_message())

    assert caught.value.status == status
    assert caught.value.permanent is permanent
    assert caught.value.retry_after == retry_after
    assert caught.value.reason == f"127.0.0.1 answered HTTP {status}: receiver says no"
    assert len(http_receiver.requests) == 1  # one send, one attempt


async def test_retry_after_as_an_http_date(
    http_receiver: HttpReceiver, webhook: Callable[..., WebhookChannel], make_message: MakeMessage
) -> None:
    http_receiver.reply(429, headers={"Retry-After": formatdate(time.time() + 60, usegmt=True)})

    with pytest.raises(DeliveryError) as caught:
        await webhook(http_receiver.url).send(make_message())

    assert caught.value.retry_after is not None
    assert 55 <= caught.value.retry_after <= 61


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("  ") is None
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("inf") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now=now) == 90.0
    assert parse_retry_after(formatdate(now - 90, usegmt=True), now=now) == 0.0


async def test_connection_refused_is_transient(
    webhook: Callable[..., WebhookChannel], make_message: MakeMessage, closed_port: int
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await webhook(f"http://127.0.0.1:{closed_port}/hook").send(make_message())

    assert not caught.value.permanent
    assert caught.value.status is None
    assert caught.value.reason.startswith("127.0.0.1: ConnectError")


async def test_a_slow_receiver_times_out_transiently(
    http_receiver: HttpReceiver, webhook: Callable[..., WebhookChannel], make_message: MakeMessage
) -> None:
    http_receiver.reply(200, delay=0.5)

    with pytest.raises(DeliveryError) as caught:
        await webhook(http_receiver.url, timeout_seconds=0.1).send(make_message())

    assert not caught.value.permanent
    assert caught.value.reason.startswith("127.0.0.1: no answer within 0.1s")


async def test_https_with_a_trusted_self_signed_certificate(
    webhook: Callable[..., WebhookChannel], make_message: MakeMessage, certificate: Certificate
) -> None:
    receiver = HttpReceiver()
    async with serving(receiver, tls=certificate.server_context()) as base:
        trusting = webhook(base, options={"ca_file": str(certificate.cert_file)})
        await trusting.send(make_message())
        with pytest.raises(DeliveryError) as caught:  # the system CAs do not know it
            await webhook(base).send(make_message())

    assert len(receiver.requests) == 1
    assert not caught.value.permanent
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.reason
