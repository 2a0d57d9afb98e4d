"""Real receivers for the channel tests, all on 127.0.0.1 and a free port: an SMTP server
(aiosmtpd, in its own thread), an HTTP server in the test's loop that records each request
and answers what the test scripted, a self-signed certificate, a closed port."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.notification_receivers import (
    AnyPortController,
    HttpReceiver,
    Mailbox,
    SmtpServer,
    serving,
)

from dictamesh.core.notification_config import Priority
from dictamesh.notifications.message import OutgoingMessage

# -- messages ---------------------------------------------------------------------------


def _message(**overrides: Any) -> OutgoingMessage:
    base = OutgoingMessage(
        id=str(uuid.uuid4()),
        rule="customer-email-changed",
        channel="test",
        recipient="alice",
        address="alice@example.com",
        priority=Priority.HIGH,
        subject="Customer 42 changed their e-mail",
        text="Customer 42: email is now c***@example.com",
        html="<p>Customer <b>42</b>: email is now c***@example.com</p>",
        tenant_id="acme",
        created_at=dt.datetime(2025, 3, 1, 12, 30, tzinfo=dt.UTC),
        event={"entity_id": "42", "changed": ["email"], "at": "2025-03-01T12:30:00+00:00"},
    )
    return replace(base, **overrides)


@pytest.fixture
def make_message() -> Callable[..., OutgoingMessage]:
    return _message


# -- TLS --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost (EC P-256: made in ~1 ms)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dictamesh test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """``start(**kwargs)``: an aiosmtpd server (kwargs go to its Controller and SMTP)."""
    started: list[Controller] = []

    def start(**kwargs: Any) -> SmtpServer:
        mailbox = Mailbox()
        controller = AnyPortController(
            mailbox, hostname="127.0.0.1", port=0, server_hostname="mx.test", **kwargs
        )
        controller.start()
        started.append(controller)
        return SmtpServer(controller.port, mailbox)

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
async def http_receiver() -> AsyncIterator[HttpReceiver]:
    receiver = HttpReceiver()
    async with serving(receiver):
        yield receiver


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
