"""The ASGI middleware that authenticates every request once and publishes the principal.

For each HTTP request and WebSocket handshake outside ``auth.public_paths`` it finds the
credentials, verifies them, applies the access rules, and then runs the app with

* :data:`~dictamesh.core.context.current_principal` and
  :data:`~dictamesh.core.context.current_tenant` set (adapters, the catalog and GraphQL
  resolvers read them), and
* ``request.state.principal`` (REST handlers).

Refusals: 401 ``UNAUTHENTICATED`` with ``WWW-Authenticate: Bearer ...`` (RFC 6750), 403
``FORBIDDEN``, or 503 ``AUTH_UNAVAILABLE`` when the JWKS cannot be fetched. REST paths get
``{"error": {"code", "message"}}``; GraphQL paths a GraphQL response,
``{"errors": [{"message", "extensions": {"code"}}]}``; the Confluent-compatible schema
registry Confluent's ``{"error_code": 40101, "message"}``. A refused WebSocket handshake gets
the same answer where the server supports denial responses, else a close with code 1008.
A WebSocket handshake to a GraphQL path *without* credentials is let through: the GraphQL
app authenticates its ``connection_init`` payload instead (:mod:`dictamesh.api.graphql_ws`).

Example::

    app = FastAPI()
    install_auth(app, settings.auth)     # does nothing when auth.mode is "off"
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from dictamesh.auth.authenticator import Authenticator
from dictamesh.auth.credentials import API_KEY_HEADER, credentials_from_headers
from dictamesh.auth.policy import path_matches
from dictamesh.core.context import bind
from dictamesh.core.errors import AuthenticationError, AuthUnavailable, PermissionDenied
from dictamesh.core.settings import AuthSettings

__all__ = [
    "DEFAULT_GRAPHQL_PATHS",
    "DEFAULT_REGISTRY_PATHS",
    "REALM",
    "WS_AUTH_PENDING",
    "AuthMiddleware",
    "install_auth",
]

logger = logging.getLogger("dictamesh.auth")

REALM = "dictamesh"
DEFAULT_GRAPHQL_PATHS = ("/graphql",)
#: ``dictamesh.catalog.registry_api.REGISTRY_PREFIX`` (not imported: that pulls the catalog in)
DEFAULT_REGISTRY_PATHS = ("/schema-registry",)
_POLICY_VIOLATION = 1008  # WebSocket close code
#: scope-state key of a GraphQL WebSocket handshake sent without credentials: holds the
#: Authenticator that must verify its ``connection_init`` (``dictamesh.api.graphql_ws``)
WS_AUTH_PENDING = "dictamesh_ws_auth_pending"

AuthFailure = AuthenticationError | PermissionDenied | AuthUnavailable


class AuthMiddleware:
    """Pure ASGI (no task hop), so the contextvars it sets are seen by the whole request."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        graphql_paths: Sequence[str] = DEFAULT_GRAPHQL_PATHS,
        registry_paths: Sequence[str] = DEFAULT_REGISTRY_PATHS,
    ) -> None:
        self.app = app
        self.auth = authenticator
        self.graphql_paths = tuple(graphql_paths)
        self.registry_paths = tuple(registry_paths)
        self._tenant_header = authenticator.settings.tenant_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] not in ("http", "websocket")
            or self.auth.mode == "off"
            or self.auth.policy.is_public(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if (
            scope["type"] == "websocket"
            and not _presented(headers)
            and any(path_matches(scope["path"], p) for p in self.graphql_paths)
        ):
            # Browsers cannot set headers on a WebSocket handshake: GraphQL clients send
            # credentials in `connection_init`, verified with this authenticator before the
            # connection is acknowledged and any operation runs (dictamesh.api.graphql_ws).
            pending = scope.setdefault("state", {})
            pending.update(principal=None, tenant=None)
            pending[WS_AUTH_PENDING] = self.auth
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        try:
            credentials = credentials_from_headers(headers)
            principal, tenant = await self.auth.resolve(
                method, scope["path"], credentials, headers.get(self._tenant_header)
            )
        except (AuthenticationError, PermissionDenied, AuthUnavailable) as exc:
            logger.info("refused %s %r: %s %s", method, scope["path"], exc.code, exc.message)
            await self._refuse(scope, receive, send, exc, headers)
            return
        # request.state reads scope["state"]; servers give each request its own copy.
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state["tenant"] = tenant
        with bind(principal, tenant):
            await self.app(scope, receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, exc: AuthFailure, headers: Headers
    ) -> None:
        response = self.refusal(exc, scope["path"], _presented(headers))
        if scope["type"] == "websocket" and "websocket.http.response" not in scope.get(
            "extensions", {}
        ):
            await send({"type": "websocket.close", "code": _POLICY_VIOLATION})
            return
        await response(scope, receive, send)

    def refusal(self, exc: AuthFailure, path: str, presented: bool) -> JSONResponse:
        """The response refusing a request to ``path`` with ``exc``."""
        body: dict[str, Any]
        if any(path_matches(path, p) for p in self.graphql_paths):
            body = {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]}
        elif any(path_matches(path, p) for p in self.registry_paths):
            # Confluent's clients read error_code; 40101/40301 are its auth codes.
            body = {"error_code": exc.http_status * 100 + 1, "message": exc.message}
        else:
            body = {"error": {"code": exc.code, "message": exc.message}}
        return JSONResponse(body, status_code=exc.http_status, headers=_challenge(exc, presented))


def _presented(headers: Headers) -> bool:
    return "authorization" in headers or API_KEY_HEADER in headers


def _challenge(exc: AuthFailure, presented: bool) -> dict[str, str]:
    if isinstance(exc, AuthUnavailable):
        return {"Retry-After": "5"}
    if isinstance(exc, PermissionDenied):
        return {"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope"'}
    if not presented:
        # RFC 6750 §3.1: a request without credentials gets a challenge but no error code.
        return {"WWW-Authenticate": f'Bearer realm="{REALM}"'}
    description = exc.message.replace('"', "'")
    return {
        "WWW-Authenticate": (
            f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'
        )
    }


def install_auth(
    app: Starlette,
    auth: AuthSettings | Authenticator | None,
    *,
    graphql_paths: Sequence[str] = DEFAULT_GRAPHQL_PATHS,
    registry_paths: Sequence[str] = DEFAULT_REGISTRY_PATHS,
) -> Authenticator | None:
    """Add :class:`AuthMiddleware` to ``app`` unless ``auth`` is ``None`` or mode ``off``.

    Starlette runs middleware in reverse order of adding: middleware added *after* this
    call wraps it (and does not see the principal); middleware added before runs inside.
    """
    if auth is None:
        return None
    authenticator = auth if isinstance(auth, Authenticator) else Authenticator(auth)
    if authenticator.mode == "off":
        return None
    app.add_middleware(
        AuthMiddleware,
        authenticator=authenticator,
        graphql_paths=graphql_paths,
        registry_paths=registry_paths,
    )
    app.state.authenticator = authenticator
    return authenticator
