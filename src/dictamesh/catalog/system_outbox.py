"""The system-topic outbox: what the catalog found new, until the node has published it.

The catalog ingest writes a **notice** here in the same transaction as the change that made
something new, so a notice exists exactly when its change was committed; the node's relay
(:mod:`dictamesh.events.system_topics`) publishes notices in ``id`` order and deletes them
once the bus has acknowledged them. Two kinds:

* ``entity_registered`` — an entity *type* got a new schema version in the registry
  (key ``<tenant>/type/<entity_type>``), or an entity *instance* became known and active:
  the catalog had no row for it, or only a deleted one (key
  ``<tenant>/entity/<entity_type>/<entity_id>``);
* ``relationship_created`` — ingest opened a relationship (a new row in the relationship
  history; key ``<tenant>/relationship/<subject type>/<subject id>/<relationship>/<object
  type>/<object id>``).

Key parts are percent-encoded (``/`` never occurs inside one). Payloads are JSON objects
with ``schema`` (``dictamesh:entity_registered`` / ``dictamesh:relationship_created``) and
``version`` (1); see ``docs/catalog.md`` for every field.

Example::

    outbox = SystemOutboxStore(database)
    for notice in await outbox.pending(100):
        ...                                  # publish notice.kind / .key / .payload
    await outbox.delete([n.id for n in notices])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.records import SchemaVersion
from dictamesh.catalog.tables import OUTBOX
from dictamesh.core.models import EntitySchema

__all__ = [
    "ENTITY_REGISTERED",
    "PAYLOAD_VERSION",
    "RELATIONSHIP_CREATED",
    "OutboxNotice",
    "SystemNotice",
    "SystemOutboxStore",
    "entity_notice",
    "entity_type_notice",
    "notice_key",
    "relationship_notice",
]

ENTITY_REGISTERED = "entity_registered"
RELATIONSHIP_CREATED = "relationship_created"
PAYLOAD_VERSION = 1


def notice_key(tenant: str, *parts: str) -> str:
    """``tenant/part/part…`` with each part percent-encoded (no ``/`` inside a part)."""
    return "/".join(quote(p, safe="") for p in (tenant, *parts))


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _ms_iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


@dataclass(frozen=True, slots=True)
class SystemNotice:
    """A notice to write: ``kind`` names the system topic, ``key`` its record key."""

    kind: str
    tenant: str
    key: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxNotice:
    """A stored notice (``id``: its place in publishing order)."""

    id: int
    tenant: str
    kind: str
    key: str
    payload: dict[str, Any]
    created_at: datetime


def entity_type_notice(
    tenant: str, schema: EntitySchema, version: SchemaVersion, at: datetime
) -> SystemNotice:
    """``entity_registered`` for a type whose schema version ``version`` is new."""
    return SystemNotice(
        ENTITY_REGISTERED,
        tenant,
        notice_key(tenant, "type", schema.entity_type),
        {
            "schema": "dictamesh:entity_registered",
            "version": PAYLOAD_VERSION,
            "kind": "type",
            "tenant_id": tenant,
            "entity_type": schema.entity_type,
            "entity_id": None,
            "domain": schema.domain,
            "source_system": None,
            "entity_version": None,
            "schema_version": version.version,
            "schema_id": version.id,
            "parent": None,
            "event_id": None,
            "event_time": None,
            "registered_at": _iso(at),
        },
    )


def entity_notice(
    tenant: str,
    entity_type: str,
    entity_id: str,
    *,
    domain: str,
    source_system: str,
    entity_version: int,
    event_id: str,
    event_time_ms: int,
    at: datetime,
    parent: tuple[str, str] | None = None,
) -> SystemNotice:
    """``entity_registered`` for an instance ingest made known (``parent``: the entity a
    nested item belongs to)."""
    return SystemNotice(
        ENTITY_REGISTERED,
        tenant,
        notice_key(tenant, "entity", entity_type, entity_id),
        {
            "schema": "dictamesh:entity_registered",
            "version": PAYLOAD_VERSION,
            "kind": "instance",
            "tenant_id": tenant,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "domain": domain,
            "source_system": source_system,
            "entity_version": entity_version,
            "schema_version": None,
            "schema_id": None,
            "parent": None if parent is None else {"type": parent[0], "id": parent[1]},
            "event_id": event_id,
            "event_time": _ms_iso(event_time_ms),
            "registered_at": _iso(at),
        },
    )


def relationship_notice(row: dict[str, Any], *, event_time_ms: int, at: datetime) -> SystemNotice:
    """``relationship_created`` for a relationship row ingest inserted."""
    tenant = row["tenant_id"]
    return SystemNotice(
        RELATIONSHIP_CREATED,
        tenant,
        notice_key(
            tenant,
            "relationship",
            row["subject_type"],
            row["subject_id"],
            row["relationship_type"],
            row["object_type"],
            row["object_id"],
        ),
        {
            "schema": "dictamesh:relationship_created",
            "version": PAYLOAD_VERSION,
            "tenant_id": tenant,
            "subject": {"type": row["subject_type"], "id": row["subject_id"]},
            "relationship_type": row["relationship_type"],
            "object": {"type": row["object_type"], "id": row["object_id"]},
            "metadata": row["metadata"],
            "valid_from": _iso(row["valid_from"]),
            # set when the same batch already ended it again
            "valid_to": _iso(row["valid_to"]),
            "event_id": row["created_by_event_id"],
            "event_time": _ms_iso(event_time_ms),
            "created_at": _iso(at),
        },
    )


class SystemOutboxStore:
    """The ``dictamesh_system_outbox`` table (not under row-level security: migration 0010)."""

    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database

    async def write(
        self, conn: AsyncConnection, notices: Iterable[SystemNotice], now: datetime
    ) -> int:
        """Add ``notices`` inside the caller's transaction (so they commit with its change)."""
        rows = [
            {
                "tenant_id": n.tenant,
                "kind": n.kind,
                "key": n.key,
                "payload": n.payload,
                "created_at": now,
            }
            for n in notices
        ]
        if rows:
            await conn.execute(OUTBOX.insert(), rows)
        return len(rows)

    async def add(self, notices: Sequence[SystemNotice]) -> int:
        """Add ``notices`` in a transaction of their own."""
        if not notices:
            return 0
        async with self.database.write(notices[0].tenant) as conn:
            return await self.write(conn, notices, self.database.now())

    async def pending(self, limit: int = 500) -> list[OutboxNotice]:
        """The oldest ``limit`` notices not yet published (every tenant's)."""
        query = select(OUTBOX).order_by(OUTBOX.c.id).limit(limit)
        async with self.database.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            OutboxNotice(r.id, r.tenant_id, r.kind, r.key, r.payload, r.created_at) for r in rows
        ]

    async def delete(self, ids: Sequence[int]) -> int:
        """Forget published notices; returns how many were still there."""
        if not ids:
            return 0
        async with self.database.write() as conn:
            result = await conn.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(list(ids))))
        return int(result.rowcount)

    async def count(self) -> int:
        async with self.database.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one())
