"""The system-topic outbox: what the catalog found new, until the node has published it.

The catalog ingest writes its **notices** here in the same transaction as the change that
made something new, so a notice exists exactly when its change was committed: one row per
transaction and tenant holding them as a JSON list, so a batch pays one insert however much
it made new. The node's relay (:mod:`dictamesh.events.system_topics`) publishes rows in
``id`` order (a row's notices in their order) and deletes a row once the bus has
acknowledged all of it. Two kinds:

* ``entity_registered`` — an entity *type* got a new schema version in the registry
  (key ``<tenant>/type/<entity_type>``), or an entity *instance* became known and active:
  the catalog had no row for it, or only a deleted one (key
  ``<tenant>/entity/<entity_type>/<entity_id>``);
* ``relationship_created`` — ingest opened a relationship (a new row in the relationship
  history; key ``<tenant>/relationship/<subject type>/<subject id>/<relationship>/<object
  type>/<object id>``).

A key part holding ``/`` or ``%`` is percent-encoded (``/`` then only separates parts).
Payloads are JSON objects with ``schema`` (``dictamesh:entity_registered`` /
``dictamesh:relationship_created``) and ``version`` (1); see ``docs/catalog.md`` for every
field.

Example::

    outbox = SystemOutboxStore(database)
    notices = await outbox.pending(100)      # the notices of the oldest 100 rows
    ...                                      # publish notice.kind / .key / .payload
    await outbox.delete({n.id for n in notices})
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, select
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
    "iso",
    "ms_iso",
    "notice_key",
    "relationship_notice",
]

ENTITY_REGISTERED = "entity_registered"
RELATIONSHIP_CREATED = "relationship_created"
PAYLOAD_VERSION = 1


def _part(value: str) -> str:
    # Only a part holding '/' or '%' needs encoding (entity ids never do): quote() is the
    # ingest's most expensive step otherwise.
    return quote(value, safe="") if "/" in value or "%" in value else value


def notice_key(tenant: str, *parts: str) -> str:
    """``tenant/part/part…``; a part holding ``/`` or ``%`` is percent-encoded, so splitting
    on ``/`` and unquoting each part gives the parts back."""
    return "/".join(_part(p) for p in (tenant, *parts))


def iso(at: datetime | None) -> str | None:
    """``at`` as ISO 8601 in UTC (naive taken as UTC)."""
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def ms_iso(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 in UTC."""
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
    """A stored notice; ``id`` is its row's (the notices of one transaction share it)."""

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
            "registered_at": iso(at),
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
    event_time: str | None,
    at: str | None,
    parent: tuple[str, str] | None = None,
) -> SystemNotice:
    """``entity_registered`` for an instance ingest made known (``parent``: the entity a
    nested item belongs to). ``event_time`` and ``at`` are ISO 8601 (:func:`ms_iso`,
    :func:`iso`: computed once per event and batch, not per notice)."""
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
            "event_time": event_time,
            "registered_at": at,
        },
    )


def relationship_notice(
    row: dict[str, Any], *, event_time: str | None, at: str | None
) -> SystemNotice:
    """``relationship_created`` for a relationship row ingest inserted (times as in
    :func:`entity_notice`)."""
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
            # valid_from is the event time: the same string
            "valid_from": event_time,
            # set when the same batch already ended it again
            "valid_to": iso(row["valid_to"]),
            "event_id": row["created_by_event_id"],
            "event_time": event_time,
            "created_at": at,
        },
    )


class SystemOutboxStore:
    """The ``dictamesh_system_outbox`` table (not under row-level security: migration 0010)."""

    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database

    async def write(
        self, conn: AsyncConnection, notices: Iterable[SystemNotice], now: datetime
    ) -> int:
        """Add ``notices`` inside the caller's transaction (so they commit with its change):
        one row per tenant. Returns how many notices."""
        per_tenant: dict[str, list[dict[str, Any]]] = {}
        for n in notices:
            per_tenant.setdefault(n.tenant, []).append(
                {"kind": n.kind, "key": n.key, "payload": n.payload}
            )
        rows = [
            {"tenant_id": tenant, "notices": listed, "created_at": now}
            for tenant, listed in per_tenant.items()
        ]
        if rows:  # no row-level security on the outbox: any transaction's tenant may write
            await conn.execute(OUTBOX.insert(), rows)
        return sum(len(listed) for listed in per_tenant.values())

    async def add(self, notices: Sequence[SystemNotice]) -> int:
        """Add ``notices`` in a transaction of their own."""
        if not notices:
            return 0
        async with self.database.write(notices[0].tenant) as conn:
            return await self.write(conn, notices, self.database.now())

    async def pending(self, limit: int = 500) -> list[OutboxNotice]:
        """The notices of the oldest ``limit`` rows not yet published (every tenant's), in
        publishing order."""
        query = select(OUTBOX).order_by(OUTBOX.c.id).limit(limit)
        async with self.database.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            OutboxNotice(r.id, r.tenant_id, n["kind"], n["key"], n["payload"], r.created_at)
            for r in rows
            for n in r.notices
        ]

    async def delete(self, ids: Iterable[int]) -> int:
        """Forget published rows (by their notices' ``id``); returns how many were there."""
        unique = sorted(set(ids))
        if not unique:
            return 0
        async with self.database.write() as conn:
            result = await conn.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(unique)))
        return int(result.rowcount)

    async def count(self) -> int:
        """Notices waiting (reads every row: for tests and operators, not a hot path)."""
        async with self.database.read() as conn:
            rows = (await conn.execute(select(OUTBOX.c.notices))).scalars()
            return sum(len(notices) for notices in rows)
