"""The entity registry: where each entity lives, its last snapshot, and finding entities.

Example::

    entities = EntityStore(database)
    location = await entities.register(invoice)                  # upsert; newer version wins
    page, cursor = await entities.page("invoice", limit=50)
    hits = await entities.search("Jhon Smtih", entity_type="customer")
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import func, select, tuple_, update

from dictamesh.catalog._limits import check_limit
from dictamesh.catalog._search import check_search
from dictamesh.catalog._search import search as search_rows
from dictamesh.catalog._sql import (
    default_api_base_path,
    end_outgoing_relationships,
    entity_upsert,
    location,
)
from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.records import EntityLocation, EntitySearchResult
from dictamesh.catalog.tables import ENTITY
from dictamesh.core.errors import EntityNotFound, ValidationError
from dictamesh.core.models import MAX_QUERY_LIMIT, Entity, EntityRef

__all__ = ["EntityStore"]


class EntityStore:
    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database

    async def register(
        self,
        entity: Entity,
        *,
        api_base_path: str | None = None,
        schema_version: int = 1,
        event_id: str | None = None,
    ) -> EntityLocation:
        """Insert or update where ``entity`` lives (its attributes are kept as a snapshot).

        An entity already registered with a *higher* version is left as it is (a late
        write never overwrites newer data); the stored location is returned either way.
        """
        db = self.database
        now = db.now()
        tenant = db.tenant(entity.tenant_id)
        row = {
            "tenant_id": tenant,
            "entity_type": entity.type,
            "entity_id": entity.id,
            "domain": entity.source.domain,
            "source_system": entity.source.system,
            "source_entity_id": entity.id,
            "api_base_path": api_base_path or default_api_base_path(entity.type),
            "version": entity.version,
            "schema_version": schema_version,
            "attributes": entity.model_dump(mode="json")["attributes"],
            "status": "active",
            "last_event_id": event_id,
            "created_at": now,
            "updated_at": now,
        }
        async with db.write(tenant) as conn:
            await conn.execute(entity_upsert(db.dialect), [row])
            stored = (await conn.execute(_select(tenant, entity.ref))).one()
        return location(stored)

    async def mark_deleted(self, ref: EntityRef, *, event_id: str | None = None) -> None:
        """Mark ``ref`` deleted (its row and last snapshot stay) and end its outgoing
        relationships. Raises :class:`EntityNotFound` if it was never registered."""
        db = self.database
        tenant, now = db.tenant(), db.now()
        async with db.write() as conn:
            result = await conn.execute(
                update(ENTITY)
                .where(
                    ENTITY.c.tenant_id == tenant,
                    ENTITY.c.entity_type == ref.type,
                    ENTITY.c.entity_id == ref.id,
                )
                .values(
                    status="deleted",
                    updated_at=now,
                    last_event_id=func.coalesce(event_id, ENTITY.c.last_event_id),
                )
            )
            if result.rowcount == 0:
                raise EntityNotFound(ref.type, ref.id)
            await conn.execute(end_outgoing_relationships(tenant, ref, now))

    async def get_location(self, entity_type: str, entity_id: str) -> EntityLocation:
        """Where the entity lives (also when marked deleted: see ``status``)."""
        ref = EntityRef(type=entity_type, id=entity_id)
        async with self.database.read() as conn:
            row = (await conn.execute(_select(self.database.tenant(), ref))).first()
        if row is None:
            raise EntityNotFound(entity_type, entity_id)
        return location(row)

    async def page(
        self,
        entity_type: str | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        include_deleted: bool = False,
    ) -> tuple[list[EntityLocation], str | None]:
        """A page of registered entities ordered by (type, id), and the next page's cursor."""
        check_limit(limit, MAX_QUERY_LIMIT, "page")
        query = select(ENTITY).where(ENTITY.c.tenant_id == self.database.tenant())
        if entity_type is not None:
            query = query.where(ENTITY.c.entity_type == entity_type)
        if not include_deleted:
            query = query.where(ENTITY.c.status == "active")
        if cursor:
            after_type, after_id = _decode_cursor(cursor, 2)
            query = query.where(
                tuple_(ENTITY.c.entity_type, ENTITY.c.entity_id) > tuple_(after_type, after_id)
            )
        query = query.order_by(ENTITY.c.entity_type, ENTITY.c.entity_id).limit(limit + 1)
        async with self.database.read() as conn:
            rows = (await conn.execute(query)).all()
        items = [location(r) for r in rows[:limit]]
        next_cursor = (
            _encode_cursor(items[-1].entity_type, items[-1].entity_id)
            if len(rows) > limit
            else None
        )
        return items, next_cursor

    async def count(self, entity_type: str | None = None, *, include_deleted: bool = False) -> int:
        query = (
            select(func.count())
            .select_from(ENTITY)
            .where(ENTITY.c.tenant_id == self.database.tenant())
        )
        if entity_type is not None:
            query = query.where(ENTITY.c.entity_type == entity_type)
        if not include_deleted:
            query = query.where(ENTITY.c.status == "active")
        async with self.database.read() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def search(
        self,
        text: str,
        *,
        entity_type: str | None = None,
        limit: int = 20,
        hidden: Mapping[str, Collection[str]] | None = None,
    ) -> list[EntitySearchResult]:
        """Active entities of the current tenant matching ``text``, best first.

        Matches the entity's type, id and attribute values. On PostgreSQL the search is
        fuzzy (``"Jhon Smtih"`` finds John Smith; see migration 0002); on SQLite each word
        must occur as written (case-insensitive). An exact id ranks first with score 1.
        ``hidden`` (``{entity_type: top-level attribute names}``): values the caller may
        not read in clear, left out of matching, scores and ``matched``.
        Empty or over-long ``text`` raises :class:`ValidationError`, ``limit`` above
        :data:`~dictamesh.catalog._search.MAX_SEARCH_LIMIT` :class:`QueryLimitExceeded`.
        """
        q = check_search(text, limit)
        async with self.database.read() as conn:
            return await search_rows(
                conn,
                dialect=self.database.dialect,
                tenant=self.database.tenant(),
                q=q,
                entity_type=entity_type,
                limit=limit,
                hidden=hidden,
            )


def _select(tenant: str, ref: EntityRef) -> Any:
    return select(ENTITY).where(
        ENTITY.c.tenant_id == tenant,
        ENTITY.c.entity_type == ref.type,
        ENTITY.c.entity_id == ref.id,
    )


def _encode_cursor(*key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        key = None
    if not isinstance(key, list) or len(key) != size or not all(isinstance(k, str) for k in key):
        raise ValidationError("invalid cursor", cursor=cursor[:64])
    return key
