"""Statements and row conversions shared by the catalog's stores and the ingestor.

Upserts are built per dialect (:func:`~dictamesh.catalog._dialect.insert_for`) and are safe
with ``executemany``: pass a list of row dicts.

On PostgreSQL the ingest writes the event log and the registry through COPY-filled staging
tables (:mod:`~dictamesh.catalog._pg_ingest`), and its few relationship and lineage rows with
the ``pg_*`` bulk forms here (:class:`BulkStatement`): the same statements, but the rows
travel as one array per column and ``unnest`` turns them back into rows, so a batch is one
statement with a fixed handful of parameters, planned and executed once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Integer,
    Row,
    String,
    Table,
    Text,
    TextClause,
    TextualSelect,
    bindparam,
    func,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from dictamesh.catalog._dialect import insert_for
from dictamesh.catalog.models import UTCDateTime
from dictamesh.catalog.records import EntityLocation, EventLogRecord, LineageRecord
from dictamesh.catalog.tables import AUDIT, CACHE, CONFIG, ENTITY, EVENTS, LINEAGE, RELS, SCHEMAS
from dictamesh.core.models import ChangeEvent, DatasetRef, EntityRef

__all__ = [
    "AUDIT",
    "CACHE",
    "CONFIG",
    "ENTITY",
    "EVENTS",
    "LINEAGE",
    "LINEAGE_KEY",
    "PG_CUSTOM_PLANS",
    "RELS",
    "SCHEMAS",
    "BulkStatement",
    "aware",
    "chunks",
    "default_api_base_path",
    "end_outgoing_relationships",
    "end_relationships_by_id",
    "entity_delete_upsert",
    "entity_upsert",
    "event_log_insert",
    "event_log_insert_text",
    "event_log_row",
    "lineage_record",
    "lineage_row",
    "lineage_upsert",
    "location",
    "log_record",
    "ms_to_datetime",
    "pg_edges_lookup",
    "pg_end_relationships",
    "pg_lineage_upsert",
    "pg_relationship_insert",
    "relationship_insert",
]

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
ENTITY_FULL = (
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
ENTITY_DELETE = ("status", "version", "last_event_id", "updated_at")

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
    return _entity_upsert(dialect, ENTITY_FULL)


def entity_delete_upsert(dialect: str) -> Any:
    """Mark deleted, keeping the last snapshot; inserts the given row if none exists."""
    return _entity_upsert(dialect, ENTITY_DELETE)


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
def event_log_insert_text(dialect: str) -> Any:
    """:func:`event_log_insert` (``returning=True``) for rows whose ``payload`` is JSON
    *text* already (as received, or encoded once by the ingest), stored as it is."""
    stmt = (
        insert_for(dialect, EVENTS)
        .values(payload=bindparam("payload", type_=Text()))
        .on_conflict_do_nothing(index_elements=[EVENTS.c.tenant_id, EVENTS.c.event_id])
    )
    return stmt.returning(EVENTS.c.event_id)


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


# --- PostgreSQL bulk statements (the ingest's) -----------------------------------------------

#: Custom plans for the rest of the transaction; ``analyzed``: whether the registry has
#: statistics yet. Prepared statements are reused per pooled connection, and after five runs
#: PostgreSQL may settle on a generic plan made for the table sizes *then*: on a new
#: catalog, before autovacuum's first ANALYZE, one made for an empty registry may scan
#: where it should probe (the registry had a type-only index for that until 0008) long
#: after it has grown. Custom plans see the current size, for a little planning per statement; once
#: there are statistics, generic plans are good, and the ingestor stops asking (only a
#: TRUNCATE takes a table's statistics away again).
PG_CUSTOM_PLANS = sql_text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " coalesce((SELECT reltuples >= 0 FROM pg_class"
    f" WHERE oid = to_regclass('{ENTITY.name}')), false) AS analyzed"
)

# Array element types: without length limits, so that a too long value is refused by the
# column (as with row-wise inserts), not silently cut by an explicit cast to VARCHAR(n).
_PG_ELEMENT: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
    (String, "TEXT"),
    (BigInteger, "BIGINT"),
    (Integer, "INTEGER"),
    (JSON, "JSONB"),
    (UTCDateTime, "TIMESTAMPTZ"),
)


def _pg_element(table: Table, name: str) -> str:
    column_type = table.c[name].type
    for kind, spelled in _PG_ELEMENT:
        if isinstance(column_type, kind):
            return spelled
    raise TypeError(f"no array type for {table.name}.{name} ({column_type!r})")


@dataclass(frozen=True, slots=True)
class BulkStatement:
    """One table's statement over rows sent as one array parameter per column (PostgreSQL).

    :meth:`execute` takes the row dicts ``executemany`` would. JSON values are serialised
    as SQLAlchemy's JSON type would (the engine's ``json_serializer``, else
    :func:`json.dumps`), sent as text and cast back per element; datetimes are made
    UTC-aware as :class:`~dictamesh.catalog.models.UTCDateTime` does.
    """

    statement: TextClause
    columns: tuple[str, ...]
    json_columns: frozenset[str]
    time_columns: frozenset[str]

    def params(
        self, rows: Sequence[Mapping[str, Any]], dumps: Callable[[Any], str] = json.dumps
    ) -> dict[str, list[Any]]:
        arrays: dict[str, list[Any]] = {}
        for column in self.columns:
            values = [row[column] for row in rows]
            if column in self.json_columns:
                values = [dumps(v) for v in values]
            elif column in self.time_columns:
                values = [aware(v) for v in values]
            arrays[column] = values
        return arrays

    async def execute(
        self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]
    ) -> CursorResult[Any]:
        dumps = getattr(conn.dialect, "_json_serializer", None) or json.dumps
        return await conn.execute(self.statement, self.params(rows, dumps))


def aware(value: datetime | None) -> datetime | None:
    """``value`` as UTC-aware (naive values are UTC, as :class:`UTCDateTime` takes them)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _bulk(
    table: Table,
    columns: Sequence[str],
    tail: str,
    *,
    update: str | None = None,
    types: Mapping[str, str] | None = None,
) -> BulkStatement:
    """``INSERT INTO table (columns) SELECT ... FROM unnest(<one array per column>) <tail>``,
    or with ``update`` (a SET list over ``r.<column>``) ``UPDATE table AS t SET ... FROM
    unnest(...) <tail>``; ``t`` is the table, ``r`` the rows. Element types are the table
    columns' unless ``types`` names them."""
    types = types or {column: _pg_element(table, column) for column in columns}
    arrays = ", ".join(
        f"CAST(:{column} AS {'TEXT' if types[column] == 'JSONB' else types[column]}[])"
        for column in columns
    )
    rows = f"unnest({arrays}) AS r({', '.join(columns)})"
    if update is not None:
        sql = f"UPDATE {table.name} AS t SET {update} FROM {rows} {tail}"
    else:
        selected = ", ".join(
            f"CAST(r.{column} AS JSONB)" if types[column] == "JSONB" else f"r.{column}"
            for column in columns
        )
        sql = (
            f"INSERT INTO {table.name} AS t ({', '.join(columns)})"
            f" SELECT {selected} FROM {rows} {tail}"
        )
    return BulkStatement(
        sql_text(sql),
        tuple(columns),
        frozenset(c for c in columns if types[c] == "JSONB"),
        frozenset(c for c in columns if types[c] == "TIMESTAMPTZ"),
    )


_RELATIONSHIP_COLUMNS = (
    "tenant_id",
    "subject_type",
    "subject_id",
    "relationship_type",
    "object_type",
    "object_id",
    "metadata",
    "valid_from",
    "valid_to",
    "created_by_event_id",
)
_LINEAGE_COLUMNS = (*LINEAGE_KEY, "last_event_id", "first_seen_at", "last_seen_at", "occurrences")


@cache
def pg_relationship_insert() -> BulkStatement:
    """:func:`relationship_insert` for a batch."""
    return _bulk(RELS, _RELATIONSHIP_COLUMNS, "ON CONFLICT DO NOTHING")


@cache
def pg_lineage_upsert() -> BulkStatement:
    """:func:`lineage_upsert` for a batch (each key at most once)."""
    return _bulk(
        LINEAGE,
        _LINEAGE_COLUMNS,
        f"ON CONFLICT ({', '.join(LINEAGE_KEY)}) DO UPDATE SET"
        " occurrences = t.occurrences + excluded.occurrences,"
        " last_seen_at = excluded.last_seen_at,"
        " last_event_id = coalesce(excluded.last_event_id, t.last_event_id)",
    )


@cache
def pg_end_relationships() -> BulkStatement:
    """:func:`end_relationships_by_id` for a batch (the same rows)."""
    return _bulk(
        RELS,
        ("rid", "ended"),
        "WHERE t.id = r.rid AND t.valid_to IS NULL",
        update="valid_to = r.ended",
        types={"rid": "BIGINT", "ended": "TIMESTAMPTZ"},
    )


# The lookup probes an index once per wanted key (LATERAL) rather than filter the tenant's
# rows by lists of types and ids: without statistics (a new catalog, until autovacuum's
# first ANALYZE) the planner can barely tell indexes apart; see below.


@cache
def pg_edges_lookup() -> TextualSelect:
    """Current outgoing edges of one tenant's subjects ``(types[i], ids[i])``."""
    # Probed through (subject_type, subject_id), ended edges included and dropped after the
    # OFFSET 0 fence: `valid_to IS NULL` inside would make the partial indexes usable, and
    # without statistics the planner takes them for tiny and may pick the one on the object
    # (its tenant prefix is all it could use: every current edge of the tenant, per subject).
    return sql_text(
        "SELECT k.subject_type, k.subject_id, e.id, e.relationship_type, e.object_type,"
        " e.object_id, e.valid_from"
        " FROM unnest(CAST(:types AS TEXT[]), CAST(:ids AS TEXT[])) AS k(subject_type, subject_id)"
        " CROSS JOIN LATERAL (SELECT r.id, r.relationship_type, r.object_type, r.object_id,"
        f" r.valid_from, r.valid_to FROM {RELS.name} AS r WHERE r.tenant_id = :tenant"
        " AND r.subject_type = k.subject_type AND r.subject_id = k.subject_id OFFSET 0) AS e"
        " WHERE e.valid_to IS NULL"
    ).columns(
        RELS.c.subject_type,
        RELS.c.subject_id,
        RELS.c.id,
        RELS.c.relationship_type,
        RELS.c.object_type,
        RELS.c.object_id,
        RELS.c.valid_from,
    )


def event_log_row(
    event: ChangeEvent, topic: str, tenant: str, now: datetime, payload: Any = None
) -> dict[str, Any]:
    """The log row of ``event``; ``payload``: what to store (default: the event as JSON),
    e.g. the text received when it is the event already (ingest)."""
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
        "payload": event.model_dump(mode="json") if payload is None else payload,
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
