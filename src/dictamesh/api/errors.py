"""Every HTTP error as ``{"error": {"code", "message", "details"?}}``, never a stack trace.

* :class:`~dictamesh.core.errors.DictaMeshError` → its ``http_status`` and ``code``;
* request validation (path/query parameters) → 400 ``VALIDATION_ERROR`` with the problems;
* unknown routes → 404 ``NOT_FOUND``, wrong method → 405 ``METHOD_NOT_ALLOWED``;
* anything else → 500 ``INTERNAL`` with a generic message (the stack trace goes to the log).

Example::

    app = FastAPI()
    install_error_handlers(app)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import to_jsonable_python
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dictamesh.catalog.registry_api import REGISTRY_PREFIX
from dictamesh.core.errors import DictaMeshError, SourceError, SourceRateLimited
from dictamesh.core.inputs import scrub_text
from dictamesh.observability.error_tracking import capture_error

__all__ = [
    "GRAPHQL_PATH",
    "ApiSurface",
    "InternalErrorMiddleware",
    "api_surface",
    "error_body",
    "error_response",
    "install_error_handlers",
]

logger = logging.getLogger("dictamesh.api")

GRAPHQL_PATH = "/graphql"
#: which API answers a path; its errors come in that API's envelope
ApiSurface = Literal["graphql", "registry", "rest"]


def api_surface(path: str) -> ApiSurface:
    """The API serving ``path``: ``/graphql``, the schema registry, or REST (the rest)."""

    def under(prefix: str) -> bool:
        return path == prefix or path.startswith(prefix + "/")

    if under(GRAPHQL_PATH):
        return "graphql"
    if under(REGISTRY_PREFIX):
        return "registry"
    return "rest"


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    # Messages and details may echo a caller's text: scrubbed, so a lone surrogate in it
    # cannot make the error itself fail to encode (a 500 instead of the 4xx).
    body: dict[str, Any] = {"code": code, "message": scrub_text(message)}
    if details:
        body["details"] = scrub_text(to_jsonable_python(details, fallback=str))
    return {"error": body}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, details),
        status_code=status,
        headers=dict(headers) if headers else None,
    )


async def _dictamesh_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DictaMeshError)
    headers = None
    if isinstance(exc, SourceRateLimited) and exc.retry_after is not None:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
    elif isinstance(exc, SourceError) and exc.details.get("retry_after_seconds"):
        # an open circuit breaker knows when it lets the next call through
        headers = {"Retry-After": str(max(1, math.ceil(exc.details["retry_after_seconds"])))}
    if exc.http_status >= 500:
        logger.warning(
            "%s %s failed: %s %s", request.method, request.url.path, exc.code, exc.message
        )
        if not isinstance(exc, SourceError):  # a source's outage is the SLA monitor's
            capture_error(exc, tags=_tags(request.scope))
    return error_response(exc.http_status, exc.code, exc.message, exc.details, headers)


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Without the offending input values: they may be large, and they are the client's own.
    problems = [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]
    return error_response(
        400, "VALIDATION_ERROR", "invalid request parameters", {"problems": problems}
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    message = "no such route" if exc.status_code == 404 else str(exc.detail)
    return error_response(exc.status_code, code, message, headers=exc.headers)


class InternalErrorMiddleware:
    """Turns an unexpected exception into a JSON 500 (logged with its stack trace).

    Starlette's own last-resort handler re-raises after answering; this one answers and
    stops, so servers and tests see a response, not a crash.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            capture_error(exc, tags=_tags(scope))
            if started:
                raise  # too late for a clean answer; let the server close the connection
            response = error_response(500, "INTERNAL", "internal error")
            await response(scope, receive, send)


def _tags(scope: Scope) -> dict[str, str]:
    """An error event's tags: the method, the matched route's template
    (``/api/v1/entities/{entity_type}``, not the path: ids in a path may be personal, and
    templates group alike errors) and the tenant the auth middleware resolved (its
    context is unbound by the time the error reaches this middleware)."""
    route = scope.get("route")
    tags = {
        "method": str(scope.get("method")),
        "route": str(getattr(route, "path", None) or "unmatched"),
    }
    tenant = (scope.get("state") or {}).get("tenant")
    if isinstance(tenant, str):
        tags["tenant"] = tenant
    return tags


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers and the last-resort 500 middleware on ``app``."""
    app.add_exception_handler(DictaMeshError, _dictamesh_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(InternalErrorMiddleware)
