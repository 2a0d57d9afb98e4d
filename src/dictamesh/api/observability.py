"""Observability over HTTP: a request middleware (server span + RED metrics) and
``GET /metrics``, installed on an API app by :func:`instrument_app`.

The middleware names everything by **route template** (``/api/v1/entities/{entity_type}``,
never the raw path), so label cardinality stays bounded; requests that match no route are
``route="<unmatched>"``. It continues an incoming W3C ``traceparent``. When FastAPI's own
OpenTelemetry support already opened the server span, that span is reused, not doubled.
``/metrics`` and ``/health`` are counted but not traced (scrapers and probes would bury
real traces).

Example::

    app = FastAPI()
    metrics = instrument_app(app)            # or instrument_app(app, node.metrics)
    # GET /metrics → Prometheus text; every request → http_requests_total etc.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dictamesh.api.debug_traces import recent_traces
from dictamesh.gateway.observability import GraphQLTracing
from dictamesh.observability.attributes import TENANT_ATTRIBUTE
from dictamesh.observability.metrics import CONTENT_TYPE, MeshMetrics
from dictamesh.observability.tracing import mark_error, tracer, tracing_enabled

__all__ = ["UNMATCHED_ROUTE", "UNTRACED_PATHS", "ObservabilityMiddleware", "instrument_app"]

UNMATCHED_ROUTE = "<unmatched>"
UNTRACED_PATHS = frozenset({"/metrics", "/health"})

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route(scope: Scope) -> str:
    """The template of the route that answered. FastAPI puts its own routes in
    ``scope["route"]``; a plain Starlette route (``/graphql``) or mount only leaves its
    ``endpoint``, which is looked up among the app's routes."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path:
        return path
    endpoint = scope.get("endpoint")
    if endpoint is not None:
        for route in getattr(scope.get("app"), "routes", ()):
            if getattr(route, "endpoint", None) is endpoint:
                return str(route.path)
            if isinstance(route, Mount) and route.app is endpoint:
                return f"{route.path}/{{path}}"
    return UNMATCHED_ROUTE


def _server_span_active() -> bool:
    current = trace.get_current_span()
    return current.is_recording() and getattr(current, "kind", None) is SpanKind.SERVER


class ObservabilityMiddleware:
    """Pure ASGI middleware: one server span and the HTTP metrics per request."""

    def __init__(self, app: ASGIApp, metrics: MeshMetrics) -> None:
        self.app = app
        self.metrics = metrics
        #: (method, route, status) → the pre-bound metric children (no label lookup per
        #: request); bounded: methods, routes and statuses are finite sets
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        method = method if method in _METHODS else "_OTHER"
        status = 500  # if the app fails before answering, the server answers 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        trace_it = (
            tracing_enabled()
            and scope.get("path") not in UNTRACED_PATHS
            and not _server_span_active()
        )
        if not trace_it:
            try:
                await self.app(scope, receive, send_status)
            finally:
                self._record(method, _route(scope), status, started)
            return

        parent = propagate.extract(Headers(scope=scope), context=Context())
        with tracer().start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope.get("path", ""),
                "url.scheme": scope.get("scheme", "http"),
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as current:
            try:
                await self.app(scope, receive, send_status)
            except BaseException as exc:
                mark_error(current, exc)
                raise
            finally:
                route = _route(scope)
                if current.is_recording():  # an unsampled trace: nothing to name
                    current.update_name(f"{method} {route}")
                    current.set_attribute("http.route", route)
                    current.set_attribute("http.response.status_code", status)
                    tenant = _served_tenant(scope)
                    if tenant is not None:  # /debug/traces shows a tenant its own traces
                        current.set_attribute(TENANT_ATTRIBUTE, tenant)
                    if status >= 500:
                        current.set_status(Status(StatusCode.ERROR))
                self._record(method, route, status, started)

    def _record(self, method: str, route: str, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.metrics.http_requests.labels(method, route, str(status)),
                self.metrics.http_duration.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)


def _served_tenant(scope: Scope) -> str | None:
    # the auth middleware (inside this one) leaves the resolved tenant in scope["state"]
    state = scope.get("state")
    tenant = state.get("tenant") if isinstance(state, dict) else None
    return tenant if isinstance(tenant, str) else None


def _trace_graphql(app: FastAPI) -> None:
    """Add the operation-span extension to every Strawberry GraphQL app routed here."""
    from strawberry.asgi import GraphQL

    for route in app.routes:
        endpoint = getattr(route, "endpoint", None)
        if isinstance(endpoint, GraphQL):
            schema: Any = endpoint.schema
            # Strawberry builds extension instances from this tuple on every request.
            if GraphQLTracing not in schema.extensions:
                schema.extensions = (GraphQLTracing, *schema.extensions)


def instrument_app(
    app: FastAPI, metrics: MeshMetrics | None = None, *, registry: Any = None
) -> MeshMetrics:
    """Add the middleware, ``GET /metrics`` and GraphQL operation spans to ``app``.

    ``metrics``: the node's (so ``/metrics`` shows the whole node); by default a new one
    reading the adapters of ``registry`` (when given). Call once, after the routes are added.
    """
    if metrics is None:
        metrics = MeshMetrics()
        if registry is not None:
            metrics.watch_adapters(registry.adapters)
    exposed = metrics

    async def prometheus_metrics() -> Response:
        """Prometheus metrics of this node (text exposition format)."""
        await exposed.refresh()
        return Response(exposed.render(), media_type=CONTENT_TYPE)

    app.add_api_route(
        "/metrics", prometheus_metrics, methods=["GET"], tags=["ops"], include_in_schema=False
    )
    app.add_api_route(
        "/debug/traces", recent_traces, methods=["GET"], tags=["ops"], include_in_schema=False
    )
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    _trace_graphql(app)
    app.state.metrics = metrics
    return metrics
