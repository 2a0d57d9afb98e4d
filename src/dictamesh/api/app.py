"""The node's HTTP application: REST under ``/api/v1``, GraphQL at ``/graphql``, webhooks,
``/health`` and ``/ready``.

Example::

    ctx = ApiContext(registry=registry, catalog=await CatalogService.open(url),
                     readiness=node.readiness, version="0.1.0")
    app = create_app(ctx)          # serve with uvicorn, or test over httpx.ASGITransport
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from dictamesh.api.adapter_routes import adapter_status_router
from dictamesh.api.body_limit import BodyLimitMiddleware
from dictamesh.api.browser_ui import RootRedirect, browser_ui_router
from dictamesh.api.cache_status import CacheStatusReader, cache_status_router
from dictamesh.api.compliance_routes import compliance_router
from dictamesh.api.consent_routes import consent_router
from dictamesh.api.context import ApiContext
from dictamesh.api.dlq_routes import dlq_router
from dictamesh.api.errors import GRAPHQL_PATH, install_error_handlers
from dictamesh.api.governance_routes import install_governance
from dictamesh.api.graphql_cache import CachingGraphQLApp
from dictamesh.api.graphql_http import persisted_queries_from_settings
from dictamesh.api.input_guard import InputGuardMiddleware
from dictamesh.api.notifications import notification_router
from dictamesh.api.observability import instrument_app
from dictamesh.api.openapi import openapi_document, operation_id
from dictamesh.api.quality_routes import quality_router
from dictamesh.api.rest import api_router, ops_router
from dictamesh.api.sagas import saga_router
from dictamesh.api.schema_routes import schema_browser_router
from dictamesh.api.staleness import StaleHeadersMiddleware
from dictamesh.api.ui_assets import static_router
from dictamesh.api.ui_pages import OPENAPI_PATH, docs_router
from dictamesh.auth import install_auth
from dictamesh.catalog.registry_api import AvroLimits, registry_router
from dictamesh.catalog.service import CatalogService
from dictamesh.core.settings import QuotaSettings
from dictamesh.events.fanout import ChangeFeed
from dictamesh.events.inspect import InspectableBus
from dictamesh.gateway.apq import PersistedQueries, RedisPersistedQueryStore
from dictamesh.gateway.catalog import CatalogPart, CatalogSource
from dictamesh.gateway.context import AdapterSource
from dictamesh.gateway.limits import QueryLimits, install_limits
from dictamesh.gateway.notifications import NotificationPart
from dictamesh.gateway.ratelimit import RateLimiter, SharedRateLimiter
from dictamesh.gateway.response_cache import ResponseStore
from dictamesh.gateway.sagas import SagaPart
from dictamesh.gateway.schema_builder import GatewaySchema, SchemaPart
from dictamesh.gateway.shared_response_cache import RedisResponseCache
from dictamesh.gateway.subscriptions import build_live_schema
from dictamesh.notifications.service import NotificationService
from dictamesh.quality.runtime import NodeQuality
from dictamesh.saga.engine import SagaEngine
from dictamesh.search.hybrid import SearchService
from dictamesh.tenancy.quotas import TenantQuotas, install_tenant_quotas

# ApiContext is create_app's argument, so it is named here too (its home is api/context.py).
__all__ = ["ApiContext", "create_app", "one_node_schema"]


def one_node_schema(
    registry: AdapterSource,
    changes: ChangeFeed | None,
    catalog: CatalogSource | None,
    sagas: SagaEngine | None = None,
    notifications: NotificationService | None = None,
    search: SearchService | None = None,
    quality: NodeQuality | None = None,
) -> GatewaySchema:
    """The ``/graphql`` schema of one node: data products, the catalog (and its search),
    sagas, the inbox (``catalog`` None: the schema is only printed, ``dictamesh schema
    export``)."""
    parts: list[SchemaPart] = [CatalogPart(catalog, search, quality)]
    if sagas is not None:
        parts.append(SagaPart(sagas))
    if notifications is not None:
        parts.append(NotificationPart(notifications))
    return build_live_schema(registry, changes, parts=parts, max_depth=None)


def create_app(ctx: ApiContext) -> FastAPI:
    """The FastAPI application over ``ctx`` (no I/O happens here)."""
    app = FastAPI(
        title="DictaMesh",
        version=ctx.version,
        description="Data products of this mesh node: catalog, entities, GraphQL gateway.",
        # served below (or not: api.docs), with the assets from this node, not a CDN
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    graphiql = ctx.api.graphiql_enabled(production=ctx.production)
    docs = ctx.api.docs_enabled(production=ctx.production)
    # Innermost: bad text in a path or query string is a 400 before any route (after auth).
    app.add_middleware(InputGuardMiddleware)
    # Added first so the error middleware wraps it: a crash in auth is a JSON 500 too.
    quotas = ctx.quotas
    if isinstance(quotas, QuotaSettings) and ctx.shared is not None:
        quotas = TenantQuotas(quotas, shared=ctx.shared.buckets)
    install_tenant_quotas(app, quotas)  # before auth: runs inside it, knows the tenant
    install_auth(app, ctx.auth)
    install_error_handlers(app)
    governance = install_governance(app, ctx)  # masking on every path, /api/v1/governance
    app.add_middleware(StaleHeadersMiddleware)  # X-DictaMesh-Stale, Age, Warning when stale
    schema = ctx.graphql_schema
    if schema is None:
        schema = one_node_schema(
            ctx.registry,
            ctx.changes,
            ctx.catalog,
            ctx.sagas,
            ctx.notifications,
            search=ctx.search_service(),
            quality=ctx.quality,
        )
    install_limits(schema, QueryLimits.from_settings(ctx.graphql))  # also on a given schema
    # Starlette routes to an ASGI app given as endpoint (typed for plain functions only).
    graphql_app = CachingGraphQLApp(
        schema,
        ctx.registry,
        settings=ctx.graphql,
        persisted_queries=_persisted_queries(ctx),
        rate_limiter=_rate_limiter(ctx),
        changes=ctx.changes,
        response_cache=_response_cache(ctx),
        graphql_ide=graphiql,
    )
    app.add_route(GRAPHQL_PATH, graphql_app, methods=["GET", "POST"])  # type: ignore[arg-type]
    app.router.add_websocket_route(GRAPHQL_PATH, graphql_app)  # type: ignore[arg-type]
    # after GraphQL: routes are matched in order, and /graphql is the busiest path (placed
    # behind ~50 REST routes its matching cost ~15 % of an entity query's CPU)
    app.include_router(api_router(ctx))
    app.include_router(ops_router(ctx))
    if isinstance(ctx.catalog, CacheStatusReader):  # /api/v1/entities/{t}/{id}/cache, /cache
        app.include_router(cache_status_router(ctx, ctx.catalog))
    if ctx.sagas is not None:  # /api/v1/sagas, /api/v1/admin/sagas/{id}/retry|abort
        app.include_router(saga_router(ctx))
    if ctx.notifications is not None:  # /api/v1/notifications, /api/v1/admin/notifications
        app.include_router(notification_router(ctx))
    if ctx.schema_registry and isinstance(ctx.catalog, CatalogService):
        limits = AvroLimits(**ctx.registry_limits.model_dump())
        app.include_router(registry_router(ctx.catalog, limits=limits))
    # the operations pages' reads (docs/ui.md): adapter status, dead letters, schema diffs
    app.include_router(adapter_status_router(ctx))
    # consent records and the compliance report (docs/governance.md)
    app.include_router(consent_router(ctx, governance))
    app.include_router(compliance_router(ctx, governance))
    if isinstance(ctx.bus, InspectableBus):  # /api/v1/admin/dlq
        app.include_router(dlq_router(ctx, ctx.bus))
    if ctx.quality is not None:  # /api/v1/quality, /api/v1/admin/quality/run
        app.include_router(quality_router(ctx, ctx.quality))
    if isinstance(ctx.catalog, CatalogService):  # /api/v1/schema-subjects, /schemas/{s}/diff
        app.include_router(schema_browser_router(ctx, ctx.catalog))
    if graphiql or docs:
        app.include_router(static_router())
    if docs:
        app.include_router(docs_router(title=app.title))
        app.add_api_route(
            OPENAPI_PATH, lambda: JSONResponse(app.openapi()), include_in_schema=False
        )
    if ctx.api.ui_enabled(production=ctx.production):  # /ui, and / redirects there
        app.include_router(browser_ui_router(ctx))
        app.add_middleware(RootRedirect)  # wraps auth: `/` finds the login page, not a 401
    app.openapi = lambda: _document(app, ctx)  # type: ignore[method-assign]
    app.add_middleware(BodyLimitMiddleware, max_bytes=ctx.api.max_body_bytes)  # outermost
    instrument_app(app, ctx.metrics, registry=ctx.registry)  # /metrics, request spans
    app.state.dictamesh = ctx
    return app


# With shared state (Redis) the rate limit, persisted queries and response cache hold for
# the whole mesh (docs/scale-out.md); without it CachingGraphQLApp builds in-process ones.


def _persisted_queries(ctx: ApiContext) -> PersistedQueries | None:
    if ctx.persisted_queries is not None or ctx.shared is None:
        return ctx.persisted_queries
    store = RedisPersistedQueryStore(
        ctx.shared.redis, max_entries=ctx.graphql.persisted_queries_cache_size
    )
    return persisted_queries_from_settings(ctx.graphql, store=store)


def _rate_limiter(ctx: ApiContext) -> RateLimiter | None:
    if ctx.shared is None or ctx.graphql.rate_limit_per_second <= 0:
        return None
    return SharedRateLimiter(
        ctx.shared.buckets, ctx.graphql.rate_limit_per_second, ctx.graphql.rate_limit_burst
    )


def _response_cache(ctx: ApiContext) -> ResponseStore | None:
    if ctx.shared is None or ctx.changes is None or not ctx.graphql.response_cache_size:
        return None
    cache = RedisResponseCache(ctx.shared.redis)
    ctx.shared.on_close(cache.aclose)
    return cache


def _document(app: FastAPI, ctx: ApiContext) -> dict[str, Any]:
    if app.openapi_schema is None:  # built once: the routes do not change after create_app
        app.openapi_schema = openapi_document(app, ctx)
    return app.openapi_schema
