"""The node's HTTP application: REST under ``/api/v1``, GraphQL at ``/graphql``, webhooks,
``/health`` and ``/ready``.

Example::

    ctx = ApiContext(registry=registry, catalog=await CatalogService.open(url),
                     readiness=node.readiness, version="0.1.0")
    app = create_app(ctx)          # serve with uvicorn, or test over httpx.ASGITransport
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import FastAPI
from strawberry import Schema

from dictamesh import __version__ as _package_version
from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.api.body_limit import BodyLimitMiddleware
from dictamesh.api.errors import install_error_handlers
from dictamesh.api.governance_routes import install_governance
from dictamesh.api.graphql_cache import CachingGraphQLApp
from dictamesh.api.graphql_http import GraphQLApp
from dictamesh.api.rest import api_router, ops_router
from dictamesh.api.staleness import StaleHeadersMiddleware
from dictamesh.auth import Authenticator, install_auth
from dictamesh.catalog.registry_api import registry_router
from dictamesh.catalog.service import CatalogService
from dictamesh.core.models import EntitySchema, HealthStatus
from dictamesh.core.settings import ApiSettings, AuthSettings, GraphQLSettings, QuotaSettings
from dictamesh.events.fanout import ChangeFeed
from dictamesh.gateway.apq import PersistedQueries
from dictamesh.gateway.catalog import CatalogPart, CatalogSource
from dictamesh.gateway.limits import QueryLimits, install_limits
from dictamesh.gateway.subscriptions import build_live_schema
from dictamesh.governance.enforce import Governance
from dictamesh.observability.http import instrument_app
from dictamesh.observability.metrics import MeshMetrics
from dictamesh.tenancy.quotas import TenantQuotas, install_tenant_quotas

__all__ = ["ApiContext", "ApiRegistry", "CatalogReader", "GraphQLApp", "create_app"]

Readiness = Callable[[], Awaitable[Mapping[str, HealthStatus | Mapping[str, Any]]]]
WebhookSink = Callable[[str, Any], Awaitable[int]]


class ApiRegistry(Protocol):
    """What the API needs from :class:`dictamesh.adapters.registry.AdapterRegistry`."""

    def for_type(self, entity_type: str) -> DataProductAdapter: ...

    def by_name(self, name: str) -> DataProductAdapter: ...

    def adapters(self) -> Iterable[DataProductAdapter]: ...

    def entity_types(self) -> Iterable[str]: ...

    def schemas(self) -> Mapping[str, EntitySchema]: ...


class CatalogReader(CatalogSource, Protocol):
    """The read side of :class:`dictamesh.catalog.service.CatalogService` the API uses: what
    the GraphQL catalog fields read (:class:`~dictamesh.gateway.catalog.CatalogSource`), plus
    the event log and the schema registry."""

    async def get_event_log(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        limit: int = 100,
        since_ms: int | None = None,
    ) -> Sequence[Any]: ...

    async def get_schema(self, entity_type: str, version: int | None = None) -> Any: ...


@dataclass
class ApiContext:
    """Everything the HTTP application serves from."""

    registry: ApiRegistry
    catalog: CatalogReader
    #: dependency name → its health; ``/ready`` is 503 unless all are healthy or degraded
    readiness: Readiness | None = None
    #: built from ``registry`` when not given
    graphql_schema: Schema | None = None
    #: ``(adapter_name, payload) -> accepted``; default: the adapter's ``handle_webhook``
    webhook_sink: WebhookSink | None = None
    version: str = _package_version
    readiness_timeout: float = 5.0
    #: serve the catalog's Confluent-compatible schema registry under ``/schema-registry``
    #: (only when ``catalog`` is a :class:`CatalogService`)
    schema_registry: bool = True
    #: who may call (``docs/security.md``); ``None`` or mode ``off``: everyone
    auth: AuthSettings | Authenticator | None = None
    #: limits, persisted queries, rate limit and timeout of ``/graphql`` (docs/graphql.md)
    graphql: GraphQLSettings = field(default_factory=GraphQLSettings)
    #: persisted-query store and mode; default: an in-process LRU set up from ``graphql``
    persisted_queries: PersistedQueries | None = None
    #: what ``GET /metrics`` serves (a node passes its own); default: HTTP and adapter metrics
    metrics: MeshMetrics | None = None
    #: per-tenant request / GraphQL-cost quotas (``docs/tenancy.md``); ``None``: none
    quotas: TenantQuotas | QuotaSettings | None = None
    #: policy enforcement, masking and audit (``docs/governance.md``); ``None``: the
    #: built-in default policy (admins read everything, classified fields denied to others)
    governance: Governance | None = None
    #: the node's change feed: GraphQL subscriptions and response-cache invalidation
    #: (``docs/graphql.md``); ``None``: neither
    changes: ChangeFeed | None = None
    #: HTTP limits of every route: the request-body cap (docs/security.md)
    api: ApiSettings = field(default_factory=ApiSettings)


def create_app(ctx: ApiContext) -> FastAPI:
    """The FastAPI application over ``ctx`` (no I/O happens here)."""
    app = FastAPI(
        title="DictaMesh",
        version=ctx.version,
        description="Data products of this mesh node: catalog, entities, GraphQL gateway.",
    )
    # Added first so the error middleware wraps it: a crash in auth is a JSON 500 too.
    install_tenant_quotas(app, ctx.quotas)  # before auth: runs inside it, knows the tenant
    install_auth(app, ctx.auth)
    install_error_handlers(app)
    install_governance(app, ctx)  # masking on every path, /api/v1/governance
    app.add_middleware(StaleHeadersMiddleware)  # X-DictaMesh-Stale, Age, Warning when stale
    app.include_router(api_router(ctx))
    app.include_router(ops_router(ctx))
    if ctx.schema_registry and isinstance(ctx.catalog, CatalogService):
        app.include_router(registry_router(ctx.catalog))
    schema = ctx.graphql_schema
    if schema is None:  # one node: every data product and the catalog in one schema
        schema = build_live_schema(
            ctx.registry, ctx.changes, parts=[CatalogPart(ctx.catalog)], max_depth=None
        )
    install_limits(schema, QueryLimits.from_settings(ctx.graphql))  # also on a given schema
    # Starlette routes to an ASGI app given as endpoint (typed for plain functions only).
    graphql_app = CachingGraphQLApp(
        schema,
        ctx.registry,
        settings=ctx.graphql,
        persisted_queries=ctx.persisted_queries,
        changes=ctx.changes,
    )
    app.add_route("/graphql", graphql_app, methods=["GET", "POST"])  # type: ignore[arg-type]
    app.router.add_websocket_route("/graphql", graphql_app)  # type: ignore[arg-type]
    app.add_middleware(BodyLimitMiddleware, max_bytes=ctx.api.max_body_bytes)  # outermost
    instrument_app(app, ctx.metrics, registry=ctx.registry)  # /metrics, request spans
    app.state.dictamesh = ctx
    return app
