"""A request-body size cap for every HTTP route, checked before any handler reads the body.

A pure ASGI middleware: a ``Content-Length`` above the cap is answered 413 at once, without
reading a byte of the body; a body without one (chunked) is counted as it streams in, and
the moment it passes the cap the application sees a client disconnect, whatever it then
answers is dropped, and the caller gets the 413 instead. Nothing holds more than the cap in
memory, so one caller cannot block the event loop or grow the process with a huge body.

A WebSocket message (``graphql-transport-ws``) above the cap closes the connection with code
1009 ("message too big") before the application sees it.

The 413 comes in the envelope of the route it was sent to: a GraphQL error at ``/graphql``,
Confluent's ``{"error_code", "message"}`` under ``/schema-registry``, and the API's
``{"error": {"code", "message"}}`` everywhere else.

Example::

    app.add_middleware(BodyLimitMiddleware, max_bytes=1 << 20)
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dictamesh.api.errors import api_surface

__all__ = ["PAYLOAD_TOO_LARGE", "BodyLimitMiddleware", "too_large_body"]

PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
#: RFC 6455 "Message Too Big"
_WS_TOO_BIG = 1009


def too_large_body(path: str, max_bytes: int) -> tuple[bytes, bytes]:
    """``(body, media type)`` of the 413 answer for ``path``."""
    message = f"the request body exceeds the limit of {max_bytes} bytes"
    content: dict[str, Any]
    surface = api_surface(path)
    if surface == "graphql":
        content = {
            "errors": [
                {"message": message, "extensions": {"code": PAYLOAD_TOO_LARGE, "limit": max_bytes}}
            ]
        }
        media = b"application/json"
    elif surface == "registry":
        content = {"error_code": 413, "message": message}
        media = b"application/vnd.schemaregistry.v1+json"
    else:
        content = {
            "error": {
                "code": PAYLOAD_TOO_LARGE,
                "message": message,
                "details": {"limit": max_bytes},
            }
        }
        media = b"application/json"
    return json.dumps(content, separators=(",", ":")).encode(), media


class BodyLimitMiddleware:
    """Refuses request bodies above ``max_bytes`` with 413 (``0``: no limit)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.max_bytes or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, send)
            return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # The application must not get the rest: to it the client has gone.
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the 413 below replaces whatever the application answers
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        # graphql-transport-ws: each message is one request, so each gets the same cap.
        closed = False

        async def capped_receive() -> Message:
            nonlocal closed
            if closed:
                return {"type": "websocket.disconnect", "code": _WS_TOO_BIG}
            message = await receive()
            if message["type"] == "websocket.receive":
                size = len(message.get("bytes") or b"") + len(
                    (message.get("text") or "").encode("utf-8", "surrogatepass")
                )
                if size > self.max_bytes:
                    closed = True
                    await send(
                        {
                            "type": "websocket.close",
                            "code": _WS_TOO_BIG,
                            "reason": f"message exceeds {self.max_bytes} bytes",
                        }
                    )
                    return {"type": "websocket.disconnect", "code": _WS_TOO_BIG}
            return message

        async def guarded_send(message: Message) -> None:
            if not closed:
                await send(message)

        await self.app(scope, capped_receive, guarded_send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body, media = too_large_body(str(scope.get("path", "")), self.max_bytes)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", media),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None
