"""``/graphql`` over HTTP: GraphQL-over-HTTP conformance, persisted queries, rate limits,
timeouts (the rules are in ``docs/graphql.md``).

On top of Strawberry's ASGI view, :class:`GraphQLApp`

* negotiates the response type: ``Accept: application/graphql-response+json`` gets that
  type, and a request error (syntax, validation, a query limit, variable coercion) is then
  HTTP 400 without ``data``; ``application/json``, ``*/*`` or no ``Accept`` get
  ``application/json`` and 200 for every well-formed request; nothing acceptable is 406;
* takes POST bodies only as ``application/json`` (else 415) holding one JSON object, and
  queries only over GET (a mutation over GET is 405, ``Allow: POST``);
* answers every error, request-level ones included, as a GraphQL response
  (``{"errors": [{"message", "extensions": {"code", ...}}]}``), never as plain text;
* resolves Apollo persisted queries (:mod:`dictamesh.gateway.apq`);
* limits each client with a token bucket (429 ``RATE_LIMITED`` with ``Retry-After``) and
  each execution in time (504 ``TIMEOUT``).
* speaks ``graphql-transport-ws`` over WebSocket (subscriptions), authenticating the
  ``connection_init`` payload (:mod:`dictamesh.api.graphql_ws`).

Example::

    app.add_route("/graphql", GraphQLApp(schema, registry, settings=GraphQLSettings()))
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from dictamesh.api.graphql_ws import (
    GRAPHQL_WS_PROTOCOLS,
    GraphQLTransportWSHandler,
    authenticate_connection,
)
from dictamesh.api.ui_pages import graphiql_html
from dictamesh.core.inputs import (
    BAD_TEXT,
    MAX_JSON_DEPTH,
    TOO_DEEP,
    InvalidInput,
    check_json,
    parse_json,
)
from dictamesh.core.settings import GraphQLSettings
from dictamesh.gateway import GatewayContext
from dictamesh.gateway.apq import (
    PERSISTED_QUERY_NOT_FOUND,
    PERSISTED_QUERY_NOT_SUPPORTED,
    LruPersistedQueryStore,
    PersistedQueries,
    PersistedQueryError,
    PersistedQueryStore,
    load_manifest,
)
from dictamesh.gateway.context import AdapterSource
from dictamesh.gateway.document_cache import install_document_cache
from dictamesh.gateway.errors import BAD_USER_INPUT
from dictamesh.gateway.input_text import install_text_rule
from dictamesh.gateway.ratelimit import RATE_LIMITED, RateLimiter, TokenBucketLimiter, client_key
from dictamesh.gateway.threaded_parse import install_threaded_parse

__all__ = [
    "GRAPHQL_RESPONSE_JSON",
    "JSON",
    "TIMEOUT",
    "GraphQLApp",
    "is_request_error",
    "negotiate",
    "persisted_queries_from_settings",
]

logger = logging.getLogger("dictamesh.api")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
TIMEOUT = "TIMEOUT"

_HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
# Persisted-query misses must not be cached by proxies: the retry will register the query.
_NO_CACHE = {"Cache-Control": "private, no-cache, must-revalidate"}


def negotiate(accept: str | None) -> str | None:
    """The response media type for an ``Accept`` header, or None when none is acceptable.

    Absent/empty → ``application/json`` (legacy clients); wildcards → ``application/json``;
    ``application/graphql-response+json`` wins over ``application/json`` unless its
    quality is lower.
    """
    if accept is None or not accept.strip():
        return JSON
    best: tuple[float, bool] | None = None
    chosen: str | None = None
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if quality <= 0:
            continue
        if media == GRAPHQL_RESPONSE_JSON:
            candidate = GRAPHQL_RESPONSE_JSON
        elif media in (JSON, "application/*", "*/*"):
            candidate = JSON
        else:
            continue
        rank = (quality, candidate == GRAPHQL_RESPONSE_JSON)
        if best is None or rank > best:
            best, chosen = rank, candidate
    return chosen


def persisted_queries_from_settings(
    settings: GraphQLSettings, *, store: PersistedQueryStore | None = None
) -> PersistedQueries:
    """Mode and allow-list from ``settings``; ``store`` default: an LRU of
    ``persisted_queries_cache_size`` in this process."""
    allowed = (
        load_manifest(settings.persisted_queries_file)
        if settings.persisted_queries_file is not None
        else None
    )
    return PersistedQueries(
        store
        if store is not None
        else LruPersistedQueryStore(settings.persisted_queries_cache_size),
        mode=settings.persisted_queries,
        allowed=allowed,
    )


class _Refusal(HTTPException):
    """A request answered with a GraphQL error response before (or instead of) execution.

    ``status`` None: the status of a request error for the negotiated media type.
    """

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(status or 400, message)
        self.status = status
        self.code = code
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


def _input_refusal(exc: InvalidInput) -> _Refusal:
    """400 for input no layer can take: bad text is the caller's data (``BAD_USER_INPUT``),
    anything else a malformed request (``BAD_REQUEST``)."""
    code = BAD_USER_INPUT if exc.details.get("reason") == BAD_TEXT else "BAD_REQUEST"
    return _Refusal(400, code, exc.message)


def _too_deep_variables() -> InvalidInput:
    return InvalidInput(
        f"the request is nested deeper than {MAX_JSON_DEPTH} levels", reason=TOO_DEEP
    )


class _SubResponse(Response):
    """Strawberry's per-request sub-response, plus what this request negotiated."""

    media: str = JSON


def _content_type(media: str) -> str:
    return f"{media}; charset=utf-8" if media == GRAPHQL_RESPONSE_JSON else media


def _request_error_status(media: str) -> int:
    # graphql-response+json: request errors are 4xx; application/json: always 200.
    return 400 if media == GRAPHQL_RESPONSE_JSON else 200


def is_request_error(result: ExecutionResult) -> bool:
    """Failed before execution (syntax, validation, limits, variable coercion): no data,
    and no error belongs to a field."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


class GraphQLApp(GraphQL[GatewayContext, None]):
    """Strawberry's ASGI app with a fresh :class:`GatewayContext` (new loaders) per request,
    plus the protocol and protection rules of the module docs."""

    graphql_transport_ws_handler_class = GraphQLTransportWSHandler

    def __init__(
        self,
        schema: Schema,
        registry: AdapterSource,
        *,
        settings: GraphQLSettings | None = None,
        persisted_queries: PersistedQueries | None = None,
        rate_limiter: RateLimiter | None = None,
        graphql_ide: bool = True,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphql_ide else None,
            subscription_protocols=GRAPHQL_WS_PROTOCOLS,  # graphql-transport-ws only
        )
        install_text_rule(schema)  # string literals checked like every other input
        self._registry = registry
        self.settings = settings if settings is not None else GraphQLSettings()
        install_threaded_parse(schema, self.settings.parse_in_thread_bytes)
        # first in the chain: a cached document skips the threaded parse too
        install_document_cache(schema, self.settings.document_cache_size)
        self.persisted_queries = (
            persisted_queries
            if persisted_queries is not None
            else persisted_queries_from_settings(self.settings)
        )
        if rate_limiter is None and self.settings.rate_limit_per_second > 0:
            rate_limiter = TokenBucketLimiter(
                self.settings.rate_limit_per_second, self.settings.rate_limit_burst
            )
        self.rate_limiter: RateLimiter | None = rate_limiter
        self.timeout = self.settings.timeout_seconds or None

    @property
    def graphql_ide_html(self) -> str:
        # Strawberry's page loads GraphiQL from unpkg.com: blank on an offline network
        return graphiql_html()

    # --- ASGI entry -------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        media = negotiate(request.headers.get("accept")) or JSON
        try:
            await self._check_rate(request)
            response = await self.run(request)
        except _Refusal as refusal:
            response = self._refusal_response(refusal, media)
        except HTTPException as exc:  # Strawberry's own (e.g. malformed variables JSON)
            code = _HTTP_CODES.get(exc.status_code, "BAD_REQUEST")
            response = self._refusal_response(_Refusal(exc.status_code, code, exc.reason), media)
        response.headers.setdefault("vary", "Accept")
        await response(scope, receive, send)

    async def _check_rate(self, request: Request) -> None:
        if self.rate_limiter is None:
            return
        key = client_key(request, trust_forwarded_for=self.settings.trust_forwarded_for)
        decision = await self.rate_limiter.acquire(key)
        if not decision.allowed:
            logger.debug("graphql rate limit hit by %s", key)
            wait = decision.retry_after_seconds
            raise _Refusal(
                429,
                RATE_LIMITED,
                f"too many requests; retry in {wait} s",
                headers={"Retry-After": str(wait)},
                extensions={"retryAfterSeconds": wait},
            )

    def _refusal_response(self, refusal: _Refusal, media: str) -> Response:
        status = refusal.status or _request_error_status(media)
        error = {
            "message": refusal.reason,
            "extensions": {"code": refusal.code, **refusal.extensions},
        }
        return Response(
            self.encode_json({"errors": [error]}),
            status_code=status,
            media_type=_content_type(media),
            headers=refusal.headers,
        )

    # --- Strawberry hooks -------------------------------------------------------------

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GatewayContext:
        return GatewayContext(self._registry, request=request)

    async def on_ws_connect(self, context: GatewayContext) -> UnsetType:
        # WebSocket credentials may come in connection_init (dictamesh.api.graphql_ws).
        return await authenticate_connection(context)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = _SubResponse()
        sub_response.status_code = None  # type: ignore[assignment]  # as Strawberry does
        del sub_response.headers["content-length"]
        sub_response.media = negotiate(request.headers.get("accept")) or JSON
        return sub_response

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET carrying only a persisted-query hash is a query, not a browser.
        return super().should_render_graphql_ide(request) and (
            request.query_params.get("extensions") is None
        )

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        if negotiate(request.headers.get("accept")) is None:
            raise _Refusal(
                406,
                "NOT_ACCEPTABLE",
                f"responses are {GRAPHQL_RESPONSE_JSON} or {JSON}; the Accept header allows"
                " neither",
            )
        data: Any
        if request.method == "GET":
            try:
                data = self.parse_query_params(request.query_params)
            except RecursionError:  # variables JSON nested past the parser's stack
                raise _input_refusal(_too_deep_variables()) from None
            for key in ("variables", "extensions", "operationName"):
                if data.get(key) == "":
                    data[key] = None  # an empty GET parameter means "not given"
        else:
            self._check_content_type(request.content_type)
            body = await request.get_body()
            if not body.strip():
                raise _Refusal(400, "BAD_REQUEST", "the request body is empty")
            try:
                data = parse_json(body, "the request body")
            except InvalidInput as exc:
                raise _input_refusal(exc) from None
        try:  # every string of the request (query, variables, ...) and its nesting
            check_json(data, "the request")
        except InvalidInput as exc:
            raise _input_refusal(exc) from None
        if not isinstance(data, dict):
            raise _Refusal(400, "BAD_REQUEST", "the request must be one JSON object (no batches)")
        expected = {
            "query": (str, "a string"),
            "operationName": (str, "a string"),
            "variables": (dict, "an object"),
            "extensions": (dict, "an object"),
        }
        for key, (kind, what) in expected.items():
            value = data.get(key)
            if value is not None and not isinstance(value, kind):
                raise _Refusal(400, "BAD_REQUEST", f"`{key}` must be {what} or null")
        if data.get("query") is None and not (data.get("extensions") or {}).get("persistedQuery"):
            raise _Refusal(400, "BAD_REQUEST", "no GraphQL query found in the request")
        return GraphQLRequestData(
            query=data.get("query"),
            variables=data.get("variables"),
            operation_name=data.get("operationName"),
            extensions=data.get("extensions"),
        )

    @staticmethod
    def _check_content_type(content_type: str | None) -> None:
        if not content_type:
            raise _Refusal(415, "UNSUPPORTED_MEDIA_TYPE", f"POST bodies must be {JSON}")
        media, params = parse_content_type(content_type)
        charset = params.get("charset", "utf-8").lower()
        if media.lower() != JSON or charset not in ("utf-8", "utf8"):
            raise _Refusal(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"POST bodies must be {JSON} (UTF-8), not {content_type!r}",
            )

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: GatewayContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        media = sub_response.media if isinstance(sub_response, _SubResponse) else JSON
        try:
            resolved = await self.persisted_queries.resolve(
                request_data.query, request_data.extensions
            )
        except PersistedQueryError as exc:
            no_cache = exc.code in (PERSISTED_QUERY_NOT_FOUND, PERSISTED_QUERY_NOT_SUPPORTED)
            raise _Refusal(
                exc.status, exc.code, exc.message, headers=_NO_CACHE if no_cache else None
            ) from None
        # Subscriptions are served over WebSocket only (graphql-transport-ws).
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        try:
            async with asyncio.timeout(self.timeout):
                result = await self.schema.execute(
                    resolved.query,
                    root_value=root_value,
                    variable_values=request_data.variables,
                    context_value=context,
                    operation_name=request_data.operation_name,
                    allowed_operation_types=allowed,
                    operation_extensions=request_data.extensions,
                )
        except TimeoutError:
            logger.warning("graphql request timed out after %s s", self.timeout)
            raise _Refusal(
                504,
                TIMEOUT,
                f"the request took longer than {self.timeout:g} s",
                extensions={"timeoutSeconds": self.timeout},
            ) from None
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise _Refusal(
                    400,
                    "BAD_REQUEST",
                    "subscriptions need a WebSocket (graphql-transport-ws) at this URL",
                ) from None
            if request_adapter.method == "GET" and exc.operation_type is OperationType.MUTATION:
                raise _Refusal(
                    405,
                    "METHOD_NOT_ALLOWED",
                    "mutations need POST",
                    headers={"Allow": "POST"},
                ) from None
            raise _Refusal(
                None, "BAD_REQUEST", exc.as_http_error_reason(request_adapter.method)
            ) from None
        except CannotGetOperationTypeError as exc:
            raise _Refusal(None, "BAD_REQUEST", exc.as_http_error_reason()) from None
        except MissingQueryError:
            raise _Refusal(400, "BAD_REQUEST", "no GraphQL query found in the request") from None
        if is_request_error(result):
            sub_response.status_code = _request_error_status(media)
        elif resolved.register is not None and resolved.query is not None:
            await self.persisted_queries.register(resolved.register, resolved.query)
        return result

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = process_result(result)
        if is_request_error(result):
            # The spec: no `data` entry when execution never started.
            response.pop("data", None)
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        media = sub_response.media if isinstance(sub_response, _SubResponse) else JSON
        response = Response(
            self.encode_json(response_data),
            status_code=sub_response.status_code or 200,
            media_type=_content_type(media),
        )
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        return response
