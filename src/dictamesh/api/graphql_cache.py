"""``/graphql`` with response caching: ``Cache-Control`` hints and a server-side cache of
query answers that change events invalidate (rules in ``docs/graphql.md``).

:class:`CachingGraphQLApp` is :class:`~dictamesh.api.graphql_http.GraphQLApp` plus, for
each query sent over ``GET`` or as a persisted query (APQ):

* the :class:`~dictamesh.gateway.response_cache.CachePolicy` plan of its document;
* for a cacheable answer without errors: ``Cache-Control: public|private, max-age=N``
  (``GET`` only; ``private`` when the caller is authenticated, the node has auth on, or
  a classified field is selected; ``N`` the least SLA freshness of the types touched);
  other ``GET`` answers get ``Cache-Control: no-store``;
* with a :class:`~dictamesh.gateway.response_cache.ResponseCache`: a stored answer is
  served without executing (``X-DictaMesh-Cache: HIT``), else the query runs with
  dependency-tracking loaders and its answer is stored (``MISS``). Answers with errors,
  with ``extensions`` (e.g. stale data served while a source was down), selecting a
  classified field, or under a governance policy with deny rules on unclassified fields
  are never stored: each of those reads must be decided (and audited) again.

POST requests with a query text are not cached at all.

Example::

    feed = ChangeFeed()
    app = CachingGraphQLApp(schema, registry, changes=feed)   # invalidated by feed events
"""

from __future__ import annotations

from typing import Any

from cross_web import AsyncHTTPRequestAdapter
from starlette.requests import Request
from starlette.responses import Response
from strawberry import Schema
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from dictamesh.api.graphql_http import GraphQLApp, is_request_error
from dictamesh.core.context import current_tenant
from dictamesh.core.settings import GraphQLSettings
from dictamesh.events.fanout import ChangeFeed
from dictamesh.gateway import GatewayContext
from dictamesh.gateway.apq import PersistedQueries, PersistedQueryError
from dictamesh.gateway.context import AdapterSource
from dictamesh.gateway.ratelimit import RateLimiter
from dictamesh.gateway.response_cache import (
    CachePlan,
    CachePolicy,
    Dependencies,
    ResponseCache,
    ResponseStore,
    TrackingLoaders,
    cache_key,
)
from dictamesh.governance.enforce import active_governance

__all__ = ["CACHE_STATUS_HEADER", "CachingGraphQLApp"]

CACHE_STATUS_HEADER = "X-DictaMesh-Cache"
"""``HIT`` or ``MISS`` on answers the server-side cache could hold."""


class CachingGraphQLApp(GraphQLApp):
    """:class:`GraphQLApp` with response caching (module docs).

    ``changes``: the node's change feed; with it (and ``settings.response_cache_size`` >
    0) a :class:`ResponseCache` is made and subscribed to it, unless ``response_cache``
    is given (e.g. the mesh-wide
    :class:`~dictamesh.gateway.shared_response_cache.RedisResponseCache`). Without a cache
    only the ``Cache-Control`` hints are sent.
    """

    def __init__(
        self,
        schema: Schema,
        registry: AdapterSource,
        *,
        settings: GraphQLSettings | None = None,
        persisted_queries: PersistedQueries | None = None,
        rate_limiter: RateLimiter | None = None,
        graphql_ide: bool = True,
        changes: ChangeFeed | None = None,
        response_cache: ResponseStore | None = None,
    ) -> None:
        super().__init__(
            schema,
            registry,
            settings=settings,
            persisted_queries=persisted_queries,
            rate_limiter=rate_limiter,
            graphql_ide=graphql_ide,
        )
        if response_cache is None and changes is not None and self.settings.response_cache_size:
            response_cache = ResponseCache(self.settings.response_cache_size)
        if response_cache is not None and changes is not None:
            changes.add_listener(response_cache.invalidate)
        self.response_cache = response_cache
        self.cache_policy = CachePolicy(
            schema, registry, max_tokens=self.settings.max_tokens or None
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
        run = super().execute_single
        args = (request, request_adapter, sub_response, context, root_value, request_data)
        is_get = request_adapter.method == "GET"
        persisted = bool((request_data.extensions or {}).get("persistedQuery"))
        if not (is_get or persisted):
            return await run(*args)
        try:
            resolved = await self.persisted_queries.resolve(
                request_data.query, request_data.extensions
            )
        except PersistedQueryError:
            return await run(*args)  # it answers the error
        if resolved.query is None:
            return await run(*args)
        query, operation = resolved.query, request_data.operation_name
        plan = self.cache_policy.plan(query, operation)
        if not plan.cacheable:
            result = await run(*args)
            if is_get:
                sub_response.headers["Cache-Control"] = "no-store"
            return result
        cache = self.response_cache
        key = None
        if cache is not None and not plan.classified and not _governed_unclassified():
            key = cache_key(
                query, operation, request_data.variables, current_tenant.get(), context.principal
            )
        deps = Dependencies(types=set(plan.listed_types))
        since = 0
        if cache is not None and key is not None:
            hit = await cache.lookup(key)
            if hit is not None:
                if resolved.register is not None:
                    await self.persisted_queries.register(resolved.register, query)
                if is_get:
                    self._cache_control(request, sub_response, context, plan, hit.max_age)
                sub_response.headers[CACHE_STATUS_HEADER] = "HIT"
                return ExecutionResult(data=hit.data, errors=None)
            context.loaders = TrackingLoaders(context.registry, deps)
            since = await cache.begin()
        result = await run(*args)
        if result.errors or result.data is None or result.extensions or is_request_error(result):
            if is_get:
                sub_response.headers["Cache-Control"] = "no-store"
            return result
        if is_get:
            self._cache_control(request, sub_response, context, plan, plan.max_age)
        if cache is not None and key is not None:
            await cache.store(key, result.data, deps, ttl=plan.max_age, since=since)
            sub_response.headers[CACHE_STATUS_HEADER] = "MISS"
        return result

    @staticmethod
    def _cache_control(
        request: Request,
        sub_response: Response,
        context: GatewayContext,
        plan: CachePlan,
        max_age: int,
    ) -> None:
        app: Any = request.scope.get("app")
        auth_on = getattr(getattr(app, "state", None), "authenticator", None) is not None
        scope = (
            "private" if context.principal is not None or auth_on or plan.classified else "public"
        )
        sub_response.headers["Cache-Control"] = f"{scope}, max-age={max_age}"


def _governed_unclassified() -> bool:
    """The active governance policy may deny or redact unclassified fields: every read is
    then decided (and may be audited), so nothing is stored."""
    governance = active_governance()
    return governance is not None and governance.restricts_unclassified
