"""The email channel against a real SMTP server (aiosmtpd on 127.0.0.1): plain, STARTTLS
and implicit TLS with a self-signed certificate the client is told to trust, AUTH, and how
each kind of refusal maps to a DeliveryError."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from tests.notification_receivers import SMTP_PASSWORD, SMTP_USER, SmtpServer, check_login

from dictamesh.core.notification_config import ChannelConfig, Priority
from dictamesh.notifications.channels.base import DeliveryError
from dictamesh.notifications.channels.email import SMTP_DEFER_SECONDS, EmailChannel
from dictamesh.notifications.message import OutgoingMessage

from .conftest import Certificate

Start = Callable[..., SmtpServer]
MakeMessage = Callable[..., OutgoingMessage]


@pytest.fixture
async def channels() -> AsyncIterator[Callable[..., EmailChannel]]:
    """``make(port, **config)``: an email channel to 127.0.0.1:port, closed after the test."""
    made: list[EmailChannel] = []

    def make(port: int, **config: Any) -> EmailChannel:
        settings: dict[str, Any] = {
            "kind": "email",
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "sender": "mesh@example.com",
            "timeout_seconds": 5,
            "options": {"local_hostname": "node1.test"},
        }
        settings.update(config)
        channel = EmailChannel("ops_mail", ChannelConfig.model_validate(settings))
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.aclose()


def parse(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


async def test_sends_text_and_html_as_multipart_alternative(
    smtp_server: Start, channels: Callable[..., EmailChannel], make_message: MakeMessage
) -> None:
    server = smtp_server()
    message = make_message()

    result = await channels(server.port).send(message)

    assert result.provider_message_id == "4QxYz1AbC"  # from "250 2.0.0 Ok: queued as 4QxYz1AbC"
    [got] = server.mailbox.received
    assert got.mail_from == "mesh@example.com"
    assert got.rcpt_tos == ["alice@example.com"]
    mail = parse(got.content)
    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content().strip() == message.text
    assert html.get_content().strip() == message.html
    assert mail["From"] == "mesh@example.com"
    assert mail["To"] == "alice@example.com"
    assert mail["Subject"] == message.subject
    assert mail["Message-ID"] == f"<{message.id}@dictamesh>"
    assert mail["X-DictaMesh-Notification"] == message.id
    assert mail["X-DictaMesh-Rule"] == "customer-email-changed"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Priority"] == "2 (High)"
    assert mail["Importance"] == "high"
    assert mail["Date"] == "Sat, 01 Mar 2025 12:30:00 +0000"


async def test_text_only_and_normal_priority(
    smtp_server: Start, channels: Callable[..., EmailChannel], make_message: MakeMessage
) -> None:
    server = smtp_server()
    server.mailbox.data_reply = "250 OK"  # no id in the answer
    message = make_message(html=None, priority=Priority.NORMAL, subject="a\nmulti-line  subject")

    result = await channels(server.port).send(message)

    assert result.provider_message_id is None
    mail = parse(server.mailbox.received[0].content)
    assert mail.get_content_type() == "text/plain"
    assert mail["Subject"] == "a multi-line subject"  # a line break cannot inject a header
    assert mail["X-Priority"] is None
    assert mail["Importance"] is None


async def test_a_retry_has_the_same_message_id_over_one_kept_connection(
    smtp_server: Start, channels: Callable[..., EmailChannel], make_message: MakeMessage
) -> None:
    server = smtp_server()
    channel = channels(server.port)
    message = make_message(priority=Priority.CRITICAL)

    await channel.send(message)
    await channel.send(message)

    first, second = server.mailbox.received
    assert parse(first.content)["Message-ID"] == parse(second.content)["Message-ID"]
    assert parse(first.content)["X-Priority"] == "1 (Highest)"
    assert first.peer == second.peer  # the same connection


async def test_concurrent_sends_take_turns_on_the_kept_connection(
    smtp_server: Start, channels: Callable[..., EmailChannel], make_message: MakeMessage
) -> None:
    server = smtp_server()
    channel = channels(server.port)
    messages = [make_message() for _ in range(5)]

    await asyncio.gather(*(channel.send(m) for m in messages))

    received = server.mailbox.received
    assert sorted(parse(r.content)["X-DictaMesh-Notification"] for r in received) == sorted(
        m.id for m in messages
    )
    assert len({r.peer for r in received}) == 1


async def test_without_reuse_each_send_has_its_own_connection(
    smtp_server: Start, channels: Callable[..., EmailChannel], make_message: MakeMessage
) -> None:
    server = smtp_server()
    channel = channels(server.port, options={"reuse_connection": False})

    await channel.send(make_message())
    await channel.send(make_message())

    first, second = server.mailbox.received
    assert first.peer != second.peer


async def test_a_kept_connection_the_server_closed_is_replaced(
    smtp_server: Start, channels: Callable[..., EmailChannel], make_message: MakeMessage
) -> None:
    server = smtp_server()
    channel = channels(server.port)
    await channel.send(make_message())

    # the server drops the kept connection when the next MAIL FROM arrives
    server.mailbox.drop_next_mail = True
    await channel.send(make_message())

    first, second = server.mailbox.received
    assert first.peer != second.peer


async def test_a_connection_closed_while_idle_is_reopened(
    smtp_server: Start, channels: Callable[..., EmailChannel], make_message: MakeMessage
) -> None:
    server = smtp_server(timeout=0.2)  # aiosmtpd closes an idle session after 0.2 s
    channel = channels(server.port)
    await channel.send(make_message())
    await asyncio.sleep(0.4)

    await channel.send(make_message())

    assert len(server.mailbox.received) == 2


async def test_starttls_with_a_trusted_self_signed_certificate_and_auth(
    smtp_server: Start,
    channels: Callable[..., EmailChannel],
    make_message: MakeMessage,
    certificate: Certificate,
) -> None:
    server = smtp_server(
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=check_login,
        auth_required=True,
    )
    channel = channels(
        server.port,
        security="starttls",
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        options={"ca_file": str(certificate.cert_file)},
    )

    await channel.send(make_message())

    [got] = server.mailbox.received
    assert got.tls
    assert got.login == SMTP_USER.encode()


async def test_implicit_tls(
    smtp_server: Start,
    channels: Callable[..., EmailChannel],
    make_message: MakeMessage,
    certificate: Certificate,
) -> None:
    server = smtp_server(ssl_context=certificate.server_context())
    channel = channels(server.port, security="tls", options={"ca_file": str(certificate.cert_file)})

    await channel.send(make_message())

    assert server.mailbox.received[0].tls


async def test_refused_login_is_permanent_and_does_not_show_the_password(
    smtp_server: Start,
    channels: Callable[..., EmailChannel],
    make_message: MakeMessage,
    certificate: Certificate,
) -> None:
    server = smtp_server(
        tls_context=certificate.server_context(), authenticator=check_login, auth_required=True
    )
    channel = channels(
        server.port,
        security="starttls",
        username=SMTP_USER,
        password="wrong-password-123",
        options={"ca_file": str(certificate.cert_file)},
    )

    with pytest.raises(DeliveryError) as caught:
        await channel.send(make_message())

    assert caught.value.permanent
    assert caught.value.status == 535
    assert "authentication failed" in caught.value.reason
    assert repr(SMTP_USER) in caught.value.reason
    assert "wrong-password-123" not in caught.value.reason
    assert server.mailbox.received == []


async def test_an_untrusted_certificate_fails_the_send(
    smtp_server: Start,
    channels: Callable[..., EmailChannel],
    make_message: MakeMessage,
    certificate: Certificate,
) -> None:
    server = smtp_server(tls_context=certificate.server_context())
    channel = channels(server.port, security="starttls")  # the system CAs: not this one

    with pytest.raises(DeliveryError) as caught:
        await channel.send(make_message())

    assert not caught.value.permanent
    assert "certificate" in caught.value.reason.lower()
    assert server.mailbox.received == []


async def test_starttls_required_but_not_offered_is_permanent(
    smtp_server: Start, channels: Callable[..., EmailChannel], make_message: MakeMessage
) -> None:
    server = smtp_server()  # no TLS context: no STARTTLS
    channel = channels(server.port, security="starttls")

    with pytest.raises(DeliveryError) as caught:
        await channel.send(make_message())

    assert caught.value.permanent
    assert "STARTTLS" in caught.value.reason
    assert server.mailbox.received == []


@pytest.mark.parametrize(
    ("reply", "permanent", "retry_after"),
    [
        ("550 5.1.1 no such user", True, None),
        ("553 5.1.3 bad address", True, None),
        ("451 4.7.1 greylisted, try again later", False, SMTP_DEFER_SECONDS),
        ("421 4.3.2 service not available", False, SMTP_DEFER_SECONDS),
        ("450 4.2.1 mailbox busy", False, None),
        ("452 4.2.2 mailbox full", False, None),
    ],
)
async def test_recipient_refusals(
    smtp_server: Start,
    channels: Callable[..., EmailChannel],
    make_message: MakeMessage,
    reply: str,
    permanent: bool,
    retry_after: float | None,
) -> None:
    server = smtp_server()
    server.mailbox.rcpt_reply = reply

    with pytest.raises(DeliveryError) as caught:
        await channels(server.port).send(make_message())

    assert caught.value.permanent is permanent
    assert caught.value.retry_after == retry_after
    assert caught.value.status == int(reply[:3])
    assert reply[4:] in caught.value.reason


async def test_a_refused_message_is_permanent_and_the_next_send_works(
    smtp_server: Start, channels: Callable[..., EmailChannel], make_message: MakeMessage
) -> None:
    server = smtp_server()
    server.mailbox.data_reply = "554 5.6.0 message content rejected"
    channel = channels(server.port)

    with pytest.raises(DeliveryError) as caught:
        await channel.send(make_message())
    assert caught.value.permanent
    assert caught.value.status == 554

    server.mailbox.data_reply = "250 OK"
    await channel.send(make_message())
    assert len(server.mailbox.received) == 2


async def test_connection_refused_is_transient(
    channels: Callable[..., EmailChannel], make_message: MakeMessage, closed_port: int
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await channels(closed_port).send(make_message())

    assert not caught.value.permanent
    assert f"127.0.0.1:{closed_port}" in caught.value.reason


async def test_a_server_that_never_greets_times_out_transiently(
    channels: Callable[..., EmailChannel], make_message: MakeMessage
) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # accept, then say nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(DeliveryError) as caught:
            await channels(port, timeout_seconds=0.2).send(make_message())
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()

    assert not caught.value.permanent
    assert "no answer within 0.2s" in caught.value.reason


async def test_a_message_without_an_address_is_permanent(
    channels: Callable[..., EmailChannel], make_message: MakeMessage, closed_port: int
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await channels(closed_port).send(make_message(address=None))

    assert caught.value.permanent
    assert "no email address for recipient 'alice'" in caught.value.reason
