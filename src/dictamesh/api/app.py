"""The node's HTTP application: REST under ``/api/v1``, GraphQL at ``/graphql``, webhooks,
``/health`` and ``/ready``.

Example::

    ctx = ApiContext(registry=registry, catalog=await CatalogService.open(url),
                     readiness=node.readiness, version="0.1.0")
    app = create_app(ctx)          # serve with uvicorn, or test over httpx.ASGITransport
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.asgi import GraphQL

from dictamesh import __version__ as _package_version
from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.api.errors import install_error_handlers
from dictamesh.api.rest import api_router, ops_router
from dictamesh.core.models import EntityRef, EntitySchema, HealthStatus
from dictamesh.gateway import GatewayContext, build_schema

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


class CatalogReader(Protocol):
    """The read side of :class:`dictamesh.catalog.service.CatalogService` the API uses."""

    async def get_entity_location(self, entity_type: str, entity_id: str) -> Any: ...

    async def list_entities(
        self, entity_type: str | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[Sequence[Any], str | None]: ...

    async def query_relationship_graph(
        self,
        root: EntityRef,
        *,
        max_depth: int = 3,
        direction: str = "both",
        limit: int = 1000,
    ) -> Any: ...

    async def get_lineage(self, entity_type: str, entity_id: str | None = None) -> Any: ...

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


class GraphQLApp(GraphQL[GatewayContext, None]):
    """Strawberry's ASGI app with a fresh :class:`GatewayContext` (new loaders) per request."""

    def __init__(self, schema: Schema, registry: ApiRegistry) -> None:
        super().__init__(schema, graphql_ide="graphiql")
        self._registry = registry

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GatewayContext:
        return GatewayContext(self._registry, request=request)


def create_app(ctx: ApiContext) -> FastAPI:
    """The FastAPI application over ``ctx`` (no I/O happens here)."""
    app = FastAPI(
        title="DictaMesh",
        version=ctx.version,
        description="Data products of this mesh node: catalog, entities, GraphQL gateway.",
    )
    install_error_handlers(app)
    app.include_router(api_router(ctx))
    app.include_router(ops_router(ctx))
    schema = ctx.graphql_schema if ctx.graphql_schema is not None else build_schema(ctx.registry)
    # Starlette routes to an ASGI app given as endpoint (typed for plain functions only).
    graphql_app = GraphQLApp(schema, ctx.registry)
    app.add_route("/graphql", graphql_app, methods=["GET", "POST"])  # type: ignore[arg-type]
    app.state.dictamesh = ctx
    return app
