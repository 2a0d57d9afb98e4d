"""Cache status over HTTP (``docs/catalog.md``, "Cache status").

* ``GET /api/v1/entities/{type}/{id}/cache``: each cache layer's copy of the entity as the
  running node last recorded it — when it was cached, until when it is fresh (and the TTL
  that gave), when it was last invalidated and how often, how often it was served, and
  whether it is ``fresh`` now. ``layers`` is empty for an entity no layer has cached.
* ``GET /api/v1/cache`` (``?type=`` for one entity type): per entity type and layer, how
  many entities have a copy, how many are fresh or invalidated, and the counters' sums.
  Types the caller may not read are left out (or 403 when asked for by ``type``).

Both act for the request's tenant (row-level security on PostgreSQL).

Example::

    curl -s localhost:8000/api/v1/entities/customer/c-1/cache
    # {"entity_type": "customer", "entity_id": "c-1", "layers": [{"layer": "memory",
    #   "cached_at": "...", "expires_at": "...", "ttl_seconds": 60.0, "fresh": true,
    #   "invalidated_at": null, "invalidations": 0, "hits": 3, "last_event_id": null}]}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.encoders import jsonable_encoder

import dictamesh.api.governance_routes as governed
from dictamesh.core.errors import ValidationError
from dictamesh.core.models import TYPE_NAME_PATTERN, EntityRef, validate_entity_id
from dictamesh.gateway.catalog import CatalogCacheSource

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext

__all__ = ["CacheStatusReader", "cache_layer_body", "cache_status_router"]


CacheStatusReader = CatalogCacheSource
"""What these routes read (:class:`dictamesh.catalog.service.CatalogService` has it)."""


def cache_layer_body(record: Any, now: datetime) -> dict[str, Any]:
    """One layer's record as JSON, with ``ttl_seconds`` and ``fresh`` (at ``now``)."""
    return {
        "layer": record.layer,
        "cached_at": jsonable_encoder(record.cached_at),
        "expires_at": jsonable_encoder(record.expires_at),
        "ttl_seconds": record.ttl_seconds,
        "fresh": record.is_fresh(now),
        "invalidated_at": jsonable_encoder(record.invalidated_at),
        "invalidations": record.invalidations,
        "hits": record.hits,
        "last_event_id": record.last_event_id,
    }


def cache_status_router(ctx: ApiContext, status: CacheStatusReader) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["catalog"])

    @router.get("/entities/{entity_type}/{entity_id}/cache")
    async def entity_cache(
        entity_type: Annotated[str, Path(pattern=TYPE_NAME_PATTERN)], entity_id: str
    ) -> Any:
        """Each cache layer's copy of this entity."""
        try:
            validate_entity_id(entity_id)
        except ValueError as exc:
            raise ValidationError(str(exc), entity_id=entity_id) from None
        await governed.check_readable(ctx, entity_type, entity_id)
        records = await status.get_cache_status(EntityRef.from_input(entity_type, entity_id))
        now = datetime.now(UTC)
        return {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "layers": [cache_layer_body(r, now) for r in records],
        }

    @router.get("/cache")
    async def cache_summary(
        entity_type: Annotated[
            str | None, Query(alias="type", pattern=TYPE_NAME_PATTERN, description="one type")
        ] = None,
    ) -> Any:
        """Per entity type and cache layer: copies, fresh, invalidated, counters."""
        if entity_type is not None:
            await governed.check_readable(ctx, entity_type)
        rows = await status.cache_summary(entity_type)
        readable = await governed.readable_types(ctx, {row.entity_type for row in rows})
        shown: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            if row.entity_type in readable:
                body = jsonable_encoder(row)
                body.pop("entity_type")
                shown.setdefault(row.entity_type, []).append(body)
        return {"entity_types": [{"entity_type": t, "layers": shown[t]} for t in sorted(shown)]}

    return router
