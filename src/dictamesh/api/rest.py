"""REST routes: the catalog (locations, graph, lineage, events, schemas, search, similar
entities), the data products (lists, live reads, adapters), webhooks, and
liveness/readiness.

Routes are built by :func:`api_router` and :func:`ops_router` around one :class:`ApiContext`;
:func:`dictamesh.api.app.create_app` mounts them. Every error is JSON (see
:mod:`dictamesh.api.errors`).

Example::

    app = FastAPI()
    app.include_router(api_router(ctx))   # /api/v1/...
    app.include_router(ops_router(ctx))   # /webhooks/{adapter}, /health, /ready
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

import dictamesh.api.governance_routes as governed
from dictamesh.api.errors import error_response
from dictamesh.api.quality_routes import scores_by_type
from dictamesh.api.webhook_auth import check_webhook_signature
from dictamesh.core.errors import (
    DictaMeshError,
    EntityNotFound,
    NotFoundError,
    QueryLimitExceeded,
    UnknownEntityType,
    ValidationError,
)
from dictamesh.core.inputs import MAX_STORED_INT, parse_json
from dictamesh.core.models import (
    MAX_QUERY_LIMIT,
    TYPE_NAME_PATTERN,
    EntityRef,
    HealthState,
    HealthStatus,
    validate_entity_id,
)
from dictamesh.core.models import Query as EntityQuery
from dictamesh.search.request import SearchRequest

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext, Readiness

__all__ = [
    "MAX_WEBHOOK_BYTES",
    "api_router",
    "default_webhook_sink",
    "health_router",
    "ops_router",
]

logger = logging.getLogger("dictamesh.api")

MAX_WEBHOOK_BYTES = 1_048_576
"""Largest webhook body accepted (1 MiB); sources send change notices, not data dumps."""

_READY_STATES = frozenset({HealthState.HEALTHY.value, HealthState.DEGRADED.value})

# Every integer a caller sends is bounded here: beyond MAX_STORED_INT no database takes it.
Limit = Annotated[
    int, Query(ge=1, le=MAX_STORED_INT, description=f"page size, at most {MAX_QUERY_LIMIT}")
]
Cursor = Annotated[str | None, Query(max_length=512, description="from a previous page")]
#: an entity type in a path, checked at the edge (400) before any lookup
EntityTypePath = Annotated[str, Path(pattern=TYPE_NAME_PATTERN, description="entity type")]


def _checked_id(entity_id: str) -> str:
    try:
        return validate_entity_id(entity_id)
    except ValueError as exc:
        raise ValidationError(str(exc), entity_id=entity_id) from None


def _json(value: Any) -> Any:
    return jsonable_encoder(value)


def api_router(ctx: ApiContext) -> APIRouter:
    """The ``/api/v1`` routes."""
    router = APIRouter(prefix="/api/v1")
    registry, catalog = ctx.registry, ctx.catalog

    async def type_known(entity_type: str) -> bool:
        """Served by an adapter here, or known to the catalog (schema or entities)."""
        if entity_type in set(registry.entity_types()):
            return True
        try:
            await catalog.get_schema(entity_type)
            return True
        except NotFoundError:
            pass
        items, _ = await catalog.list_entities(entity_type, limit=1)
        return bool(items)

    async def ensure_known(entity_type: str) -> None:
        if not await type_known(entity_type):
            raise UnknownEntityType(entity_type, list(registry.entity_types()))

    @router.get("/entities/{entity_type}/{entity_id}", tags=["entities"])
    async def get_entity(entity_type: EntityTypePath, entity_id: str, live: bool = False) -> Any:
        """Where an entity lives (catalog); ``live=true`` adds the source's current record.

        When the live read fails the location is still returned, with ``live: null`` and
        ``live_error`` saying why (the catalog answers even when a source is down).
        """
        _checked_id(entity_id)
        try:
            location = await catalog.get_entity_location(entity_type, entity_id)
        except EntityNotFound:
            await ensure_known(entity_type)
            raise
        body = _json(location)
        if live:
            try:
                entity = await registry.for_type(entity_type).get_entity(entity_id)
                body["live"] = _json(entity)
            except DictaMeshError as exc:
                body["live"] = None
                body["live_error"] = exc.to_dict()["error"]
        return await governed.entity_body(ctx, entity_type, entity_id, body)  # masked

    @router.get("/entities/{entity_type}", tags=["entities"])
    async def list_entities(
        entity_type: EntityTypePath, limit: Limit = 50, cursor: Cursor = None
    ) -> Any:
        """A page of entities, read from the data product's source."""
        adapter = registry.for_type(entity_type)
        if limit > MAX_QUERY_LIMIT:
            raise QueryLimitExceeded(
                f"limit {limit} exceeds the maximum of {MAX_QUERY_LIMIT}",
                limit=limit,
                max_limit=MAX_QUERY_LIMIT,
            )
        page = await adapter.query_entities(EntityQuery(limit=limit, cursor=cursor))
        return await governed.page_body(ctx, entity_type, _json(page))  # masked

    @router.get("/entities/{entity_type}/{entity_id}/graph", tags=["catalog"])
    async def get_graph(
        entity_type: EntityTypePath,
        entity_id: str,
        depth: Annotated[int, Query(ge=1, le=10)] = 3,
        direction: str = "both",
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> Any:
        """Entities related to this one, up to ``depth`` hops (of the types you may read:
        ``withheld_nodes`` counts the others)."""
        _checked_id(entity_id)
        await governed.check_readable(ctx, entity_type, entity_id)  # 403 before any lookup
        try:
            graph = await catalog.query_relationship_graph(
                EntityRef.from_input(entity_type, entity_id),
                max_depth=depth,
                direction=direction,
                limit=limit,
            )
        except EntityNotFound:
            await ensure_known(entity_type)
            raise
        return await governed.graph_body(
            ctx, entity_type, entity_id, _json(graph), direction=direction, max_depth=depth
        )

    @router.get("/entities/{entity_type}/{entity_id}/events", tags=["catalog"])
    async def get_events(
        entity_type: EntityTypePath,
        entity_id: str,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        since_ms: Annotated[int | None, Query(ge=0, le=MAX_STORED_INT)] = None,
    ) -> Any:
        """Recorded change events of this entity, newest first."""
        _checked_id(entity_id)
        await ensure_known(entity_type)
        events = await catalog.get_event_log(
            entity_type=entity_type, entity_id=entity_id, limit=limit, since_ms=since_ms
        )
        return {"events": await governed.events_body(ctx, entity_type, _json(list(events)))}

    @router.get("/search", tags=["catalog"])
    async def search(
        q: Annotated[
            str | None, Query(description="words or a description; typos are tolerated")
        ] = None,
        mode: Annotated[
            str | None,
            Query(
                max_length=16,
                description="text | semantic | hybrid (default: the node's search.default_mode)",
            ),
        ] = None,
        entity_type: Annotated[
            str | None, Query(alias="type", max_length=63, description="only this type")
        ] = None,
        domain: Annotated[str | None, Query(max_length=63, description="only this domain")] = None,
        source: Annotated[
            str | None, Query(max_length=63, description="only this source system")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_STORED_INT, description="at most 100")] = 20,
    ) -> Any:
        """Catalog entities matching ``q``, best first, with facet counts.

        ``text``: fuzzy on PostgreSQL, substring matching on SQLite; an exact id ranks
        first. ``semantic``: by meaning (embeddings). ``hybrid``: both fused by reciprocal
        rank; each hit says which lists found it (``sources``) at which ``ranks``. Without
        semantic search ``hybrid`` answers the text hits with ``degraded: true``.
        """
        service = ctx.search_service()
        request = SearchRequest.checked(  # 400 before anything is searched or embedded
            q,
            mode=mode,
            default_mode=service.default_mode,
            entity_type=entity_type,
            domain=domain,
            source=source,
            limit=limit,
        )
        answer = await service.search(request, governed.search_scope(ctx))
        return {
            "query": answer.query,
            "mode": answer.mode.value,
            "results": [h.as_dict() for h in answer.hits],
            "facets": answer.facets,
            "candidates": answer.candidates,
            "degraded": answer.degraded,
            "degraded_reason": answer.degraded_reason,
        }

    @router.get("/entities/{entity_type}/{entity_id}/similar", tags=["catalog"])
    async def similar(
        entity_type: EntityTypePath,
        entity_id: str,
        limit: Annotated[int, Query(ge=1, le=MAX_STORED_INT, description="at most 100")] = 10,
    ) -> Any:
        """Entities nearest in meaning to this one (its own embeddings), itself excluded,
        of types you may read. 400 when semantic search is off, 503 when it is failing."""
        _checked_id(entity_id)
        hits = await ctx.search_service().similar(
            entity_type, entity_id, limit, governed.search_scope(ctx)
        )
        return {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "results": [h.as_dict() for h in hits],
        }

    @router.get("/lineage/{entity_type}", tags=["catalog"])
    async def get_type_lineage(entity_type: EntityTypePath) -> Any:
        """Where this data product's data comes from and goes to (flows naming types you
        may not read are left out: ``withheld_edges`` counts them)."""
        await governed.check_readable(ctx, entity_type)
        await ensure_known(entity_type)
        return await governed.lineage_body(ctx, _json(await catalog.get_lineage(entity_type)))

    @router.get("/lineage/{entity_type}/{entity_id}", tags=["catalog"])
    async def get_entity_lineage(entity_type: EntityTypePath, entity_id: str) -> Any:
        _checked_id(entity_id)
        await governed.check_readable(ctx, entity_type, entity_id)
        await ensure_known(entity_type)
        lineage = await catalog.get_lineage(entity_type, entity_id)
        return await governed.lineage_body(ctx, _json(lineage))

    @router.get("/schemas", tags=["schemas"])
    async def list_schemas() -> Any:
        """The current schema of every data product served here."""
        schemas = registry.schemas()
        return {"schemas": [_json(schemas[t]) for t in sorted(schemas)]}

    @router.get("/schemas/{entity_type}", tags=["schemas"])
    async def get_schema(
        entity_type: EntityTypePath,
        version: Annotated[int | None, Query(ge=1, le=MAX_STORED_INT)] = None,
    ) -> Any:
        """The current schema, or with ``version`` a registered version from the catalog."""
        if version is None:
            schemas = registry.schemas()
            if entity_type in schemas:
                return _json(schemas[entity_type])
        try:
            return _json(await catalog.get_schema(entity_type, version))
        except NotFoundError:
            if version is None or not await type_known(entity_type):
                raise UnknownEntityType(entity_type, list(registry.entity_types())) from None
            raise

    @router.get("/adapters", tags=["adapters"])
    async def list_adapters() -> Any:
        """Every adapter: what it serves, from where, what it can do and promises, metrics,
        and its data product's quality score (``docs/quality.md``; null: not evaluated)."""
        quality = await scores_by_type(ctx)
        return {
            "adapters": [
                {
                    "name": adapter.name,
                    "entity_type": adapter.entity_type,
                    "source": _json(adapter.source),
                    "capabilities": sorted(c.value for c in adapter.capabilities),
                    "sla": _json(adapter.get_sla()),
                    "sla_window": ctx.sla.report(adapter.name) if ctx.sla else None,
                    "metrics": _json(adapter.get_metrics()),
                    "quality": quality.get(adapter.entity_type),
                }
                for adapter in sorted(registry.adapters(), key=lambda a: a.name)
            ]
        }

    return router


async def default_webhook_sink(ctx: ApiContext, adapter_name: str, payload: Any) -> int:
    """Hand the payload to the adapter's ``handle_webhook`` (it re-fetches what changed)."""
    adapter = ctx.registry.by_name(adapter_name)
    handle = getattr(adapter, "handle_webhook", None)
    if handle is None:
        raise NotFoundError(
            f"adapter {adapter_name!r} does not accept webhooks", adapter=adapter_name
        )
    accepted = await handle(payload)
    return int(accepted)


def ops_router(ctx: ApiContext) -> APIRouter:
    """Webhooks, liveness and readiness."""
    router = APIRouter()

    @router.post("/webhooks/{adapter_name}", status_code=202, tags=["webhooks"])
    async def webhook(adapter_name: str, request: Request) -> Any:
        """A source's change notification; answers how many changes were accepted."""
        names = sorted(a.name for a in ctx.registry.adapters())
        if adapter_name not in names:
            raise NotFoundError(
                f"unknown adapter {adapter_name!r}", adapter=adapter_name, known_adapters=names
            )
        body = await _read_limited(request, MAX_WEBHOOK_BYTES)
        if body is None:
            return error_response(
                413, "PAYLOAD_TOO_LARGE", f"webhook body larger than {MAX_WEBHOOK_BYTES} bytes"
            )
        # 401 for an unsigned/forged body, before it is parsed or any source is called
        check_webhook_signature(ctx.registry.by_name(adapter_name), body, request.headers)
        payload = parse_json(body, "the webhook body")  # depth and text checked: 400
        if ctx.webhook_sink is not None:
            accepted = await ctx.webhook_sink(adapter_name, payload)
        else:
            accepted = await default_webhook_sink(ctx, adapter_name, payload)
        return JSONResponse({"accepted": accepted}, status_code=202)

    router.include_router(
        health_router(ctx.readiness, version=ctx.version, timeout=ctx.readiness_timeout)
    )
    return router


def health_router(readiness: Readiness | None, *, version: str, timeout: float = 5.0) -> APIRouter:
    """``/health`` (liveness) and ``/ready`` (readiness from ``readiness()``)."""
    router = APIRouter()

    @router.get("/health", tags=["ops"])
    async def health() -> Any:
        """Liveness: answers while the process runs, whatever its dependencies do."""
        return {"status": "ok", "version": version}

    @router.get("/ready", tags=["ops"])
    async def ready() -> Any:
        """Readiness: 200 when every dependency is healthy or degraded, else 503."""
        if readiness is None:
            return {"status": "ready", "checks": {}}
        try:
            async with asyncio.timeout(timeout):
                results = await readiness()
        except Exception as exc:
            logger.warning("readiness check failed: %r", exc)
            reason = "timed out" if isinstance(exc, TimeoutError) else "readiness check failed"
            return JSONResponse(
                {"status": "not_ready", "checks": {}, "reasons": {"readiness": reason}},
                status_code=503,
            )
        checks = {name: _check_json(value) for name, value in results.items()}
        reasons = {
            name: check
            for name, check in checks.items()
            if check.get("status") not in _READY_STATES
        }
        if reasons:
            return JSONResponse(
                {"status": "not_ready", "checks": checks, "reasons": reasons}, status_code=503
            )
        return {"status": "ready", "checks": checks}

    return router


def _check_json(value: HealthStatus | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(value, HealthStatus):
        return dict(value.model_dump(mode="json"))
    return dict(jsonable_encoder(dict(value)))


async def _read_limited(request: Request, max_bytes: int) -> bytes | None:
    """The body, or ``None`` when it is larger than ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            return None
    return bytes(body)
