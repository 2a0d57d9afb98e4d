"""GraphQL over WebSocket at ``/graphql``: the ``graphql-transport-ws`` protocol and the
authentication of its ``connection_init``.

Only ``graphql-transport-ws`` (the protocol of the ``graphql-ws`` client library, Apollo
Client, urql, GraphiQL) is spoken; the deprecated ``graphql-ws`` protocol of
``subscriptions-transport-ws`` is refused (close code 4406), so there is one protocol to
secure.

Browsers cannot put headers on a WebSocket handshake, so with auth on a client may send
its credentials in the ``connection_init`` payload instead, as header-like keys::

    {"type": "connection_init", "payload": {"Authorization": "Bearer eyJ..."}}
    {"type": "connection_init", "payload": {"X-API-Key": "dmk_...", "X-Tenant-ID": "acme"}}

The auth middleware lets a handshake *without* credentials through to ``/graphql``
(marking it pending); :func:`authenticate_connection` then verifies the payload with the
node's :class:`~dictamesh.auth.Authenticator` — the same checks, role rules and tenant
rules as a request — before the connection is acknowledged. Refused (no credentials in
``required`` mode, bad ones in any mode, a role rule or tenant mismatch): close code 4403
``Forbidden``, and no operation ever runs. A handshake that did carry header credentials
was authenticated by the middleware already; credentials in its payload too are refused
(one credential per connection, like one per request).

Accepted, the principal and its tenant are bound for the whole connection
(``current_principal``/``current_tenant``, ``GatewayContext.principal``), so subscriptions
only see events of that tenant and every resolver sees the caller.

Example::

    class App(GraphQL):
        async def on_ws_connect(self, context):
            return await authenticate_connection(context)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NoReturn

from graphql import GraphQLError
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.types.unset import UnsetType

from dictamesh.auth.authenticator import Authenticator
from dictamesh.auth.credentials import credentials_from_payload
from dictamesh.auth.middleware import WS_AUTH_PENDING
from dictamesh.core.context import current_principal, current_tenant
from dictamesh.core.errors import AuthenticationError, AuthUnavailable, PermissionDenied
from dictamesh.core.inputs import InvalidInput, check_json
from dictamesh.gateway.context import GatewayContext
from dictamesh.gateway.errors import BAD_USER_INPUT
from dictamesh.gateway.loaders import Loaders

__all__ = ["GRAPHQL_WS_PROTOCOLS", "GraphQLTransportWSHandler", "authenticate_connection"]

logger = logging.getLogger("dictamesh.auth")

GRAPHQL_WS_PROTOCOLS: tuple[str, ...] = (GRAPHQL_TRANSPORT_WS_PROTOCOL,)
"""WebSocket subprotocols ``/graphql`` accepts."""
_ACK = UnsetType()  # strawberry.UNSET, typed: acknowledge without a payload


async def authenticate_connection(context: GatewayContext) -> UnsetType:
    """Strawberry's ``on_ws_connect``: verify the ``connection_init`` payload (module
    docs); raises :class:`ConnectionRejectionError` (close 4403) to refuse."""
    websocket = context.request
    scope: Mapping[str, Any] = getattr(websocket, "scope", None) or {}
    state = scope.get("state") or {}
    authenticator = state.get(WS_AUTH_PENDING)
    payload = context.connection_params or {}
    path = str(scope.get("path", "/graphql"))
    if not isinstance(authenticator, Authenticator):
        if state.get("principal") is not None and _has_credentials(payload):
            _refuse(path, AuthenticationError("more than one credential in the request"))
        return _ACK  # auth off, or the middleware authenticated the handshake's headers
    try:
        principal = await authenticator.authenticate_payload(payload)
        if principal is None and authenticator.mode == "required":
            raise AuthenticationError("authentication required")
        authenticator.policy.check(principal, "GET", path)
        tenant = authenticator.policy.tenant_for(
            principal, _header(payload, authenticator.settings.tenant_header)
        )
    except (AuthenticationError, PermissionDenied, AuthUnavailable) as exc:
        _refuse(path, exc)
    context.principal = principal
    if isinstance(state, dict):
        state["principal"] = principal
        state["tenant"] = tenant
        del state[WS_AUTH_PENDING]
    # This runs in the connection's task: operations started later copy its context.
    current_principal.set(principal)
    current_tenant.set(tenant if tenant is not None else (principal.tenant if principal else None))
    return _ACK


class GraphQLTransportWSHandler(BaseGraphQLTransportWSHandler[GatewayContext, None]):
    """Strawberry's handler, with fresh DataLoaders for every operation of a connection:
    the context lives as long as the connection, and loaders cache by id, so a query sent
    over the socket must not answer with what an earlier one loaded."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # The same text and nesting check as over HTTP, before the operation exists.
        try:
            check_json(message.get("payload"), "the subscribe payload")
        except InvalidInput as exc:
            error = GraphQLError(exc.message, extensions={"code": BAD_USER_INPUT})
            await self.send_message(
                ErrorMessage(id=message["id"], type="error", payload=[error.formatted])
            )
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[GatewayContext, None]) -> None:
        context = self.context
        if isinstance(context, GatewayContext):
            context.loaders = Loaders(context.registry)
        await super().run_operation(operation)


def _refuse(path: str, exc: AuthenticationError | PermissionDenied | AuthUnavailable) -> NoReturn:
    logger.info("refused WebSocket connection_init on %r: %s %s", path, exc.code, exc.message)
    raise ConnectionRejectionError({"code": exc.code, "message": exc.message})


def _has_credentials(payload: Mapping[str, Any]) -> bool:
    try:
        return credentials_from_payload(payload) is not None
    except AuthenticationError:
        return True  # malformed credentials are credentials too


def _header(payload: Mapping[str, Any], name: str) -> str | None:
    wanted = name.lower()
    for key, value in payload.items():
        if isinstance(key, str) and key.lower() == wanted and isinstance(value, str):
            return value
    return None
