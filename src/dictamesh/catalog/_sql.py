"""Statements and row conversions shared by the service and the ingestor.

Upserts are built per dialect (:func:`~dictamesh.catalog._dialect.insert_for`) and are safe
with ``executemany``: pass a list of row dicts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import Row, Table, bindparam, func, update

from dictamesh.catalog._dialect import insert_for
from dictamesh.catalog.models import (
    CacheStatus,
    DataLineage,
    EntityCatalog,
    EntityRelationship,
    EventLog,
    SchemaConfig,
    SchemaRecord,
)
from dictamesh.catalog.records import EntityLocation, EventLogRecord, LineageRecord
from dictamesh.core.models import ChangeEvent, DatasetRef, EntityRef

__all__ = [
    "CACHE",
    "CONFIG",
    "ENTITY",
    "EVENTS",
    "LINEAGE",
    "LINEAGE_KEY",
    "RELS",
    "SCHEMAS",
    "chunks",
    "default_api_base_path",
    "end_outgoing_relationships",
    "end_relationships_by_id",
    "entity_delete_upsert",
    "entity_upsert",
    "event_log_insert",
    "event_log_row",
    "lineage_record",
    "lineage_row",
    "lineage_upsert",
    "location",
    "log_record",
    "ms_to_datetime",
    "relationship_insert",
]

ENTITY = cast(Table, EntityCatalog.__table__)
RELS = cast(Table, EntityRelationship.__table__)
EVENTS = cast(Table, EventLog.__table__)
LINEAGE = cast(Table, DataLineage.__table__)
SCHEMAS = cast(Table, SchemaRecord.__table__)
CONFIG = cast(Table, SchemaConfig.__table__)
CACHE = cast(Table, CacheStatus.__table__)

ENTITY_KEY = ("tenant_id", "entity_type", "entity_id")
LINEAGE_KEY = (
    "tenant_id",
    "upstream_namespace",
    "upstream_name",
    "downstream_namespace",
    "downstream_name",
    "transformation",
    "upstream_entity_type",
    "upstream_entity_id",
    "downstream_entity_type",
    "downstream_entity_id",
)
_ENTITY_FULL = (
    "domain",
    "source_system",
    "source_entity_id",
    "api_base_path",
    "version",
    "schema_version",
    "attributes",
    "status",
    "last_event_id",
    "updated_at",
)
_ENTITY_DELETE = ("status", "version", "last_event_id", "updated_at")

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def default_api_base_path(entity_type: str) -> str:
    return f"/api/v1/entities/{entity_type}"


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@cache
def _entity_upsert(dialect: str, columns: tuple[str, ...]) -> Any:
    ins = insert_for(dialect, ENTITY)
    # An older version never overwrites a newer one (out-of-order events, racing writers).
    return ins.on_conflict_do_update(
        index_elements=[ENTITY.c[c] for c in ENTITY_KEY],
        set_={c: ins.excluded[c] for c in columns},
        where=ins.excluded.version >= ENTITY.c.version,
    )


def entity_upsert(dialect: str) -> Any:
    """Insert or fully replace a registry row (rows: every column but ``id``)."""
    return _entity_upsert(dialect, _ENTITY_FULL)


def entity_delete_upsert(dialect: str) -> Any:
    """Mark deleted, keeping the last snapshot; inserts the given row if none exists."""
    return _entity_upsert(dialect, _ENTITY_DELETE)


@cache
def relationship_insert(dialect: str) -> Any:
    """Insert an edge unless the same edge is already current (the partial unique index)."""
    return insert_for(dialect, RELS).on_conflict_do_nothing()


@cache
def end_relationships_by_id() -> Any:
    """``executemany`` with ``[{"rid": id, "ended": datetime}, ...]``."""
    return (
        update(RELS)
        .where(RELS.c.id == bindparam("rid"), RELS.c.valid_to.is_(None))
        .values(valid_to=bindparam("ended"))
    )


@cache
def event_log_insert(dialect: str, *, returning: bool = False) -> Any:
    # (tenant, event id): an equal id from another tenant is another event (migration 0004)
    stmt = insert_for(dialect, EVENTS).on_conflict_do_nothing(
        index_elements=[EVENTS.c.tenant_id, EVENTS.c.event_id]
    )
    return stmt.returning(EVENTS.c.event_id) if returning else stmt


@cache
def lineage_upsert(dialect: str) -> Any:
    ins = insert_for(dialect, LINEAGE)
    return ins.on_conflict_do_update(
        index_elements=[LINEAGE.c[c] for c in LINEAGE_KEY],
        set_={
            "occurrences": LINEAGE.c.occurrences + ins.excluded.occurrences,
            "last_seen_at": ins.excluded.last_seen_at,
            "last_event_id": func.coalesce(ins.excluded.last_event_id, LINEAGE.c.last_event_id),
        },
    )


def event_log_row(event: ChangeEvent, topic: str, tenant: str, now: datetime) -> dict[str, Any]:
    return {
        "event_id": str(event.event_id),
        "tenant_id": tenant,
        "topic": topic,
        "event_type": event.event_type.value,
        "entity_type": event.entity.type,
        "entity_id": event.entity.id,
        "entity_version": event.entity.version,
        "source_domain": event.source.domain,
        "source_system": event.source.system,
        "changed_fields": list(event.changed_fields),
        "payload": event.model_dump(mode="json"),
        "trace_id": event.trace_context.trace_id if event.trace_context else None,
        "event_timestamp": event.timestamp,
        "recorded_at": now,
    }


def location(row: Row[Any]) -> EntityLocation:
    m = row._mapping
    return EntityLocation(
        entity_type=m["entity_type"],
        entity_id=m["entity_id"],
        tenant_id=m["tenant_id"],
        domain=m["domain"],
        source_system=m["source_system"],
        source_entity_id=m["source_entity_id"],
        api_base_path=m["api_base_path"],
        version=m["version"],
        schema_version=m["schema_version"],
        status=m["status"],
        attributes=m["attributes"] or {},
        last_event_id=m["last_event_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def log_record(row: Row[Any]) -> EventLogRecord:
    m = row._mapping
    return EventLogRecord(
        event_id=m["event_id"],
        tenant_id=m["tenant_id"],
        topic=m["topic"],
        event_type=m["event_type"],
        entity_type=m["entity_type"],
        entity_id=m["entity_id"],
        entity_version=m["entity_version"],
        source_domain=m["source_domain"],
        source_system=m["source_system"],
        changed_fields=list(m["changed_fields"] or []),
        payload=m["payload"] or {},
        trace_id=m["trace_id"],
        timestamp=m["event_timestamp"],
        recorded_at=m["recorded_at"],
    )


def _ref(entity_type: str, entity_id: str) -> EntityRef | None:
    return EntityRef(type=entity_type, id=entity_id) if entity_type and entity_id else None


def lineage_record(row: Row[Any]) -> LineageRecord:
    m = row._mapping
    return LineageRecord(
        upstream=DatasetRef(namespace=m["upstream_namespace"], name=m["upstream_name"]),
        downstream=DatasetRef(namespace=m["downstream_namespace"], name=m["downstream_name"]),
        transformation=m["transformation"],
        upstream_entity=_ref(m["upstream_entity_type"], m["upstream_entity_id"]),
        downstream_entity=_ref(m["downstream_entity_type"], m["downstream_entity_id"]),
        last_event_id=m["last_event_id"],
        first_seen_at=m["first_seen_at"],
        last_seen_at=m["last_seen_at"],
        occurrences=m["occurrences"],
    )


def lineage_row(
    tenant: str,
    upstream: DatasetRef,
    downstream: DatasetRef,
    transformation: str,
    *,
    upstream_entity: EntityRef | None,
    downstream_entity: EntityRef | None,
    event_id: str | None,
    now: datetime,
    occurrences: int = 1,
) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "upstream_namespace": upstream.namespace,
        "upstream_name": upstream.name,
        "downstream_namespace": downstream.namespace,
        "downstream_name": downstream.name,
        "transformation": transformation,
        "upstream_entity_type": upstream_entity.type if upstream_entity else "",
        "upstream_entity_id": upstream_entity.id if upstream_entity else "",
        "downstream_entity_type": downstream_entity.type if downstream_entity else "",
        "downstream_entity_id": downstream_entity.id if downstream_entity else "",
        "last_event_id": event_id,
        "first_seen_at": now,
        "last_seen_at": now,
        "occurrences": occurrences,
    }


def end_outgoing_relationships(tenant: str, ref: EntityRef, at: datetime) -> Any:
    """End every current relationship whose subject is ``ref`` (a deleted or erased entity)."""
    return (
        update(RELS)
        .where(
            RELS.c.tenant_id == tenant,
            RELS.c.subject_type == ref.type,
            RELS.c.subject_id == ref.id,
            RELS.c.valid_to.is_(None),
        )
        .values(valid_to=at)
    )
