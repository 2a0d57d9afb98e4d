"""The HTTP edge's text check: every path and query string is UTF-8 without NUL or
surrogates (:mod:`dictamesh.core.inputs`) before any route, and so any source, sees it.

Servers percent-decode paths leniently (``%FF`` becomes U+FFFD, ``%00`` a real NUL), so the
check reads the raw bytes. A refusal is a 400 in the envelope of the API the path belongs to:
GraphQL errors for ``/graphql``, Confluent's error JSON for ``/schema-registry``, the REST
error envelope elsewhere.

Example::

    app.add_middleware(InputGuardMiddleware)
"""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dictamesh.api.errors import api_surface, error_response
from dictamesh.catalog.registry_api import REGISTRY_CONTENT_TYPE
from dictamesh.core.inputs import InvalidInput, check_text
from dictamesh.gateway.errors import BAD_USER_INPUT

__all__ = ["InputGuardMiddleware", "check_request_text", "refusal_for"]


def _decoded(raw: bytes, where: str) -> str:
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{where} is not UTF-8", where=where) from None
    return check_text(text, where)


def check_request_text(scope: Scope) -> None:
    """:class:`InvalidInput` unless the path and every query parameter are clean text."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogatepass")
    _decoded(raw_path, "the path")
    query: bytes = scope.get("query_string", b"")
    for part in query.split(b"&"):
        _decoded(part.replace(b"+", b" "), "the query string")


def refusal_for(path: str, exc: InvalidInput) -> Response:
    """A 400 for ``exc`` in the envelope of the API serving ``path``."""
    surface = api_surface(path)
    if surface == "graphql":
        error = {"message": exc.message, "extensions": {"code": BAD_USER_INPUT}}
        return Response(json.dumps({"errors": [error]}), 400, media_type="application/json")
    if surface == "registry":
        body = {"error_code": 400, "message": exc.message}
        return Response(json.dumps(body), 400, media_type=REGISTRY_CONTENT_TYPE)
    return error_response(400, exc.code, exc.message)


class InputGuardMiddleware:
    """Refuses a request whose path or query string is not clean text (module docs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            try:
                check_request_text(scope)
            except InvalidInput as exc:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1007})
                    return
                await refusal_for(scope.get("path", ""), exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)
