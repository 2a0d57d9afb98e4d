"""Cache status: which cache layer holds which entity, since when, and whether it was invalidated.

Example::

    status = CacheStatusStore(database)
    await status.set(ref, "l1", cached_at=now, expires_at=now + ttl)
    await status.invalidate(ref, event_id=event_id)          # every layer's copy
    layers = await status.get(ref)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.records import CacheStatusRecord
from dictamesh.catalog.tables import CACHE, insert_for
from dictamesh.core.errors import ValidationError
from dictamesh.core.models import EntityRef

__all__ = ["CacheStatusStore"]


class CacheStatusStore:
    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database

    async def set(
        self,
        ref: EntityRef,
        layer: str,
        *,
        cached_at: datetime,
        expires_at: datetime | None,
        event_id: str | None = None,
    ) -> None:
        """Record that ``layer`` (``l1``, ``l2``…) now caches ``ref`` (clears invalidation)."""
        if not layer or len(layer) > 16:
            raise ValidationError("cache layer must be 1-16 characters", layer=layer)
        ins = insert_for(self.database.dialect, CACHE)
        stmt = ins.on_conflict_do_update(
            index_elements=[
                CACHE.c.tenant_id,
                CACHE.c.entity_type,
                CACHE.c.entity_id,
                CACHE.c.layer,
            ],
            set_={
                "cached_at": ins.excluded.cached_at,
                "expires_at": ins.excluded.expires_at,
                "invalidated_at": None,
                "last_event_id": func.coalesce(ins.excluded.last_event_id, CACHE.c.last_event_id),
            },
        )
        row = {
            "tenant_id": self.database.tenant(),
            "entity_type": ref.type,
            "entity_id": ref.id,
            "layer": layer,
            "cached_at": cached_at,
            "expires_at": expires_at,
            "invalidated_at": None,
            "last_event_id": event_id,
        }
        async with self.database.write() as conn:
            await conn.execute(stmt, [row])

    async def invalidate(self, ref: EntityRef, *, event_id: str | None = None) -> int:
        """Mark every layer's copy of ``ref`` invalidated now; returns how many layers."""
        db = self.database
        async with db.write() as conn:
            result = await conn.execute(
                update(CACHE)
                .where(
                    CACHE.c.tenant_id == db.tenant(),
                    CACHE.c.entity_type == ref.type,
                    CACHE.c.entity_id == ref.id,
                )
                .values(
                    invalidated_at=db.now(),
                    last_event_id=func.coalesce(event_id, CACHE.c.last_event_id),
                )
            )
        return int(result.rowcount)

    async def get(self, ref: EntityRef) -> list[CacheStatusRecord]:
        """Every layer's record of ``ref``, by layer name."""
        async with self.database.read() as conn:
            rows = (
                await conn.execute(
                    select(CACHE)
                    .where(
                        CACHE.c.tenant_id == self.database.tenant(),
                        CACHE.c.entity_type == ref.type,
                        CACHE.c.entity_id == ref.id,
                    )
                    .order_by(CACHE.c.layer)
                )
            ).all()
        return [CacheStatusRecord.model_validate(dict(r._mapping)) for r in rows]
