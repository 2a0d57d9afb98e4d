"""Cache status: which cache layer holds which entity, since when, and whether it was invalidated.

Example::

    status = CacheStatusStore(database)
    await status.set(ref, "l1", cached_at=now, expires_at=now + ttl)
    await status.invalidate(ref, event_id=event_id)          # every layer's copy
    layers = await status.get(ref)
    per_type = await status.summary()                        # per entity type and layer

The running node does not call ``set``/``invalidate`` per event: its
:class:`~dictamesh.catalog.cache_status_writer.CacheStatusWriter` hands batches of reports to
:meth:`CacheStatusStore.apply`, one transaction each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import and_, bindparam, case, func, or_, select, update

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.records import CacheLayerSummary, CacheStatusRecord
from dictamesh.catalog.tables import CACHE, insert_for
from dictamesh.core.errors import ValidationError
from dictamesh.core.models import EntityRef

__all__ = ["CacheFill", "CacheInvalidation", "CacheStatusStore"]


#: one row per tenant, entity and cache layer (the upserts' conflict target)
_ROW_KEY: Final = [CACHE.c.tenant_id, CACHE.c.entity_type, CACHE.c.entity_id, CACHE.c.layer]


@dataclass(frozen=True, slots=True)
class CacheFill:
    """``layer`` holds a copy of the entity cached at ``cached_at`` (fresh until
    ``expires_at``) and served it ``hits`` times since the last report."""

    tenant: str
    entity_type: str
    entity_id: str
    layer: str
    cached_at: datetime
    expires_at: datetime | None
    hits: int = 0
    #: written after the invalidations of earlier rounds (:meth:`CacheStatusStore.apply`)
    round: int = 0


@dataclass(frozen=True, slots=True)
class CacheInvalidation:
    """Every layer's copy of the entity was dropped ``count`` times, last at ``at``."""

    tenant: str
    entity_type: str
    entity_id: str
    at: datetime
    count: int = 1
    round: int = 0


_INVALIDATE = (
    update(CACHE)
    .where(
        CACHE.c.tenant_id == bindparam("t"),
        CACHE.c.entity_type == bindparam("et"),
        CACHE.c.entity_id == bindparam("eid"),
    )
    .values(
        invalidated_at=bindparam("at"),
        invalidations=CACHE.c.invalidations + bindparam("n"),
    )
)


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
            index_elements=_ROW_KEY,
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

    async def apply(
        self, fills: Sequence[CacheFill], invalidations: Sequence[CacheInvalidation]
    ) -> None:
        """Record a batch of reports in one transaction, tenant by tenant (row-level
        security sees one tenant per part), round by round: a round's fills, then its
        invalidations (so an invalidation of round 0 counts against the copy round 0
        cached, not against one round 1 cached after it). Invalidations only touch
        entities some layer cached."""
        work: dict[str, dict[int, tuple[list[CacheFill], list[CacheInvalidation]]]] = defaultdict(
            lambda: defaultdict(lambda: ([], []))
        )
        for fill in fills:
            work[fill.tenant][fill.round][0].append(fill)
        for gone in invalidations:
            work[gone.tenant][gone.round][1].append(gone)
        if not work:
            return
        db = self.database
        ins = insert_for(db.dialect, CACHE)
        upsert = ins.on_conflict_do_update(
            index_elements=_ROW_KEY,
            set_={
                "cached_at": ins.excluded.cached_at,
                "expires_at": ins.excluded.expires_at,
                "hits": CACHE.c.hits + ins.excluded.hits,
            },
        )
        tenants = sorted(work)
        async with db.write(tenants[0]) as conn:
            for position, tenant in enumerate(tenants):
                if position:
                    await db.set_tenant(conn, tenant)
                for _, (round_fills, round_gone) in sorted(work[tenant].items()):
                    if round_fills:
                        await conn.execute(upsert, [_fill_row(f) for f in round_fills])
                    if round_gone:
                        await conn.execute(_INVALIDATE, [_invalidation_row(g) for g in round_gone])

    async def summary(
        self, entity_type: str | None = None, *, at: datetime | None = None
    ) -> list[CacheLayerSummary]:
        """Per entity type and layer: how many entities have a copy, how many of those are
        fresh at ``at`` (default now), invalidated, and the counters' sums."""
        now = at or self.database.now()
        fresh = and_(
            CACHE.c.cached_at.is_not(None),
            or_(CACHE.c.expires_at.is_(None), CACHE.c.expires_at > now),
            or_(CACHE.c.invalidated_at.is_(None), CACHE.c.invalidated_at < CACHE.c.cached_at),
        )
        invalidated = and_(
            CACHE.c.invalidated_at.is_not(None),
            or_(CACHE.c.cached_at.is_(None), CACHE.c.invalidated_at >= CACHE.c.cached_at),
        )
        query = (
            select(
                CACHE.c.entity_type,
                CACHE.c.layer,
                func.count().label("entities"),
                func.sum(case((fresh, 1), else_=0)).label("fresh"),
                func.sum(case((invalidated, 1), else_=0)).label("invalidated"),
                func.sum(CACHE.c.invalidations).label("invalidations"),
                func.sum(CACHE.c.hits).label("hits"),
                func.max(CACHE.c.cached_at).label("last_cached_at"),
                func.max(CACHE.c.invalidated_at).label("last_invalidated_at"),
            )
            .where(CACHE.c.tenant_id == self.database.tenant())
            .group_by(CACHE.c.entity_type, CACHE.c.layer)
            .order_by(CACHE.c.entity_type, CACHE.c.layer)
        )
        if entity_type is not None:
            query = query.where(CACHE.c.entity_type == entity_type)
        async with self.database.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            CacheLayerSummary(
                entity_type=r.entity_type,
                layer=r.layer,
                entities=int(r.entities),
                fresh=int(r.fresh or 0),
                invalidated=int(r.invalidated or 0),
                invalidations=int(r.invalidations or 0),
                hits=int(r.hits or 0),
                last_cached_at=_utc(r.last_cached_at),
                last_invalidated_at=_utc(r.last_invalidated_at),
            )
            for r in rows
        ]


def _fill_row(f: CacheFill) -> dict[str, Any]:
    return {
        "tenant_id": f.tenant,
        "entity_type": f.entity_type,
        "entity_id": f.entity_id,
        "layer": f.layer,
        "cached_at": f.cached_at,
        "expires_at": f.expires_at,
        "invalidated_at": None,
        "last_event_id": None,
        "invalidations": 0,
        "hits": f.hits,
    }


def _invalidation_row(g: CacheInvalidation) -> dict[str, Any]:
    return {"t": g.tenant, "et": g.entity_type, "eid": g.entity_id, "at": g.at, "n": g.count}


def _utc(value: datetime | str | None) -> datetime | None:
    """An aggregate's timestamp: SQLite hands back max() of a column as text, naive UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
