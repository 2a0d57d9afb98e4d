"""Real receivers for notification tests, on 127.0.0.1: an SMTP server (aiosmtpd, in its
own thread) that keeps what it receives, and an HTTP server in the test's loop that records
each request and answers what the test scripted (the channel tests and the integration tests
share them)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import h11
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SMTP_USER = "mesh"
SMTP_PASSWORD = "s3cret-pa55"


# -- SMTP -------------------------------------------------------------------------------


@dataclass
class Received:
    peer: Any
    mail_from: str | None
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: bytes | None


@dataclass
class Mailbox:
    """The aiosmtpd handler: keeps what it receives, answers what the test set."""

    received: list[Received] = field(default_factory=list)
    #: answer RCPT TO with this instead of accepting
    rcpt_reply: str | None = None
    data_reply: str = "250 2.0.0 Ok: queued as 4QxYz1AbC"
    #: close the connection when the next MAIL FROM arrives (a server that went away)
    drop_next_mail: bool = False

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.drop_next_mail:
            self.drop_next_mail = False
            assert server.transport is not None
            server.transport.close()
            return "421 4.3.2 going away"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content
        assert isinstance(content, bytes)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        # STARTTLS sets session.ssl; implicit TLS only shows on the transport
        assert server.transport is not None
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.received.append(
            Received(
                session.peer,
                envelope.mail_from,
                list(envelope.rcpt_tos),
                content,
                tls,
                login,
            )
        )
        return self.data_reply


class AnyPortController(Controller):
    """aiosmtpd's Controller on port 0: learns the port the OS chose before it connects to
    its own server to finish starting."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def check_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    # handled=False: aiosmtpd answers a failure itself (535 5.7.8)
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox


# -- HTTP -------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class HttpReceiver:
    """An HTTP/1.1 server (asyncio streams, h11 for the protocol, keep-alive) that records
    every request and answers the scripted replies in order, then ``default``. Plain asyncio
    rather than uvicorn: it stops at once (uvicorn's shutdown sleeps 0.1-0.2 s a server)."""

    url: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=lambda: Reply(200, b"ok"))

    def reply(
        self,
        status: int = 200,
        body: bytes | str = b"",
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.replies.append(Reply(status, body, headers or {}, delay))

    async def _next(self, connection: h11.Connection, reader: asyncio.StreamReader) -> Any:
        while True:
            event = connection.next_event()
            if event is not h11.NEED_DATA:
                return event
            connection.receive_data(await reader.read(65536))

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._next(connection, reader)
                if not isinstance(request, h11.Request):
                    return  # the client closed the connection
                body = b""
                while not isinstance(
                    event := await self._next(connection, reader), h11.EndOfMessage
                ):
                    body += event.data
                path, _, query = request.target.decode().partition("?")
                self.requests.append(
                    RecordedRequest(
                        request.method.decode(),
                        path,
                        query,
                        {k.decode().lower(): v.decode() for k, v in request.headers},
                        body,
                    )
                )
                answer = self.replies.pop(0) if self.replies else self.default
                if answer.delay:
                    await asyncio.sleep(answer.delay)
                content = answer.body.encode() if isinstance(answer.body, str) else answer.body
                headers = [*answer.headers.items(), ("content-length", str(len(content)))]
                writer.write(
                    connection.send(h11.Response(status_code=answer.status, headers=headers))
                )
                writer.write(
                    connection.send(h11.Data(data=content)) + connection.send(h11.EndOfMessage())
                )
                await writer.drain()
                if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                    return
                connection.start_next_cycle()
        except (ConnectionError, h11.RemoteProtocolError):
            return
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def serving(
    receiver: HttpReceiver,
    tls: ssl.SSLContext | None = None,
    *,
    port: int = 0,
    grace: float = 0.0,
) -> AsyncIterator[str]:
    """Serve ``receiver`` on 127.0.0.1 (TLS with ``tls``; ``port`` 0: any free one); sets and
    yields its base URL."""
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await receiver.serve(reader, writer)
        finally:
            tasks.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    receiver.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        yield receiver.url
    finally:
        server.close()  # no new connections
        if grace:  # requests in flight are answered before their connections are cut
            await asyncio.sleep(grace)
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
