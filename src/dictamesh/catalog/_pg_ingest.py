"""The ingest's PostgreSQL write path: two statements per tenant and batch.

A batch part (one tenant's events, inside the ingest's one transaction, with the tenant set
for row-level security as every catalog transaction) costs:

1. :func:`log_and_registry`: the events appended to the log *and* the registry rows of
   their entities read, in one statement (a data-modifying CTE beside the lookup);
2. Python applies the events to what it read (versions, deletes, relationships);
3. :func:`entity_write`: the registry upserts, the deletes and the lineage counts, again
   in one statement (two of them as CTEs; their rows are disjoint).

Relationship changes, when there are any, follow as their own statements (ending an edge
must precede opening it again). The rows travel as one array per column (``unnest``): a
statement with a fixed handful of parameters, prepared once per connection. On a busy
machine round trips, not rows, are most of what a batch of ~100 events pays
(docs/performance.md): a batch of customers is now five (BEGIN, the tenant setting, the two
statements, COMMIT), seven before. Binary COPY into temporary staging tables was measured
too and dropped: two round trips per COPY, and no cheaper for the server than binary
arrays at 100 or 1 000 rows.

The log's ``payload`` arrives as JSON text: the record value as received from the bus when
the ingest was given it, so the event is not re-encoded (:meth:`CatalogIngestor.
handle_batch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from sqlalchemy import BigInteger, Integer, String, TextClause, TextualSelect, column
from sqlalchemy import text as sql_text

from dictamesh.catalog._sql import ENTITY_DELETE as _DELETE
from dictamesh.catalog._sql import ENTITY_FULL as _FULL
from dictamesh.catalog._sql import LINEAGE_KEY
from dictamesh.catalog.tables import ENTITY, EVENTS, LINEAGE

__all__ = [
    "ENTITY_COLUMNS",
    "LINEAGE_COLUMNS",
    "LOG_COLUMNS",
    "entity_write",
    "log_and_registry",
]

#: per-event arrays of :func:`log_and_registry` (tenant and recorded_at are scalars)
LOG_COLUMNS = (
    ("event_id", "TEXT"),
    ("topic", "TEXT"),
    ("event_type", "TEXT"),
    ("entity_type", "TEXT"),
    ("entity_id", "TEXT"),
    ("entity_version", "BIGINT"),
    ("source_domain", "TEXT"),
    ("source_system", "TEXT"),
    ("changed_fields", "JSONB"),
    ("payload", "JSONB"),
    ("trace_id", "TEXT"),
    ("event_timestamp", "BIGINT"),
)
#: registry rows of :func:`entity_write` (prefix ``u_`` upserts, ``d_`` deletes)
ENTITY_COLUMNS = (
    ("entity_type", "TEXT"),
    ("entity_id", "TEXT"),
    ("domain", "TEXT"),
    ("source_system", "TEXT"),
    ("source_entity_id", "TEXT"),
    ("api_base_path", "TEXT"),
    ("version", "BIGINT"),
    ("schema_version", "INTEGER"),
    ("attributes", "JSONB"),
    ("status", "TEXT"),
    ("last_event_id", "TEXT"),
    ("created_at", "TIMESTAMPTZ"),
    ("updated_at", "TIMESTAMPTZ"),
)
#: lineage rows of :func:`entity_write` (prefix ``l_``; tenant is the scalar)
LINEAGE_COLUMNS = (
    ("upstream_namespace", "TEXT"),
    ("upstream_name", "TEXT"),
    ("downstream_namespace", "TEXT"),
    ("downstream_name", "TEXT"),
    ("transformation", "TEXT"),
    ("upstream_entity_type", "TEXT"),
    ("upstream_entity_id", "TEXT"),
    ("downstream_entity_type", "TEXT"),
    ("downstream_entity_id", "TEXT"),
    ("last_event_id", "TEXT"),
    ("first_seen_at", "TIMESTAMPTZ"),
    ("last_seen_at", "TIMESTAMPTZ"),
    ("occurrences", "BIGINT"),
)


def _rows(columns: Sequence[tuple[str, str]], prefix: str = "") -> tuple[str, str]:
    """``unnest(<arrays>) AS r(<columns>)`` and the select list reading it.

    Arrays are unbounded (TEXT, not VARCHAR(n)): a too long value is refused by the column
    it is assigned to, as with a row-wise insert, never cut by a cast. JSON travels as text
    and is parsed once, by the server, into ``jsonb``.
    """
    arrays = ", ".join(
        f"CAST(:{prefix}{name} AS {'TEXT' if kind == 'JSONB' else kind}[])"
        for name, kind in columns
    )
    names = ", ".join(name for name, _ in columns)
    selected = ", ".join(
        f"CAST(r.{name} AS JSONB)" if kind == "JSONB" else f"r.{name}" for name, kind in columns
    )
    return f"unnest({arrays}) AS r({names})", selected


@cache
def log_and_registry() -> TextualSelect:
    """Append one tenant's events to the log and read their entities' registry rows.

    Parameters: ``tenant``, ``recorded_at``, the :data:`LOG_COLUMNS` arrays, and the
    entities to look up as ``key_types``/``key_ids``/``key_full`` (``key_full``: the
    attributes are needed too, for an event without ``after``). Rows: ``kind`` 0 for each
    event id inserted (not seen before, in ``entity_type``), ``kind`` 1 for each registry
    row found (type, id, version, attributes or NULL, status).

    The insert (a CTE) and the lookup see the same snapshot; the lookup does not read the
    log. Each key is probed through the registry's unique index (LATERAL): without
    statistics the planner cannot tell indexes apart, and a filter over lists of types and
    ids could scan all of a type.
    """
    rows, selected = _rows(LOG_COLUMNS)
    names = [name for name, _ in LOG_COLUMNS]
    return sql_text(
        f"WITH inserted AS (INSERT INTO {EVENTS.name} AS t"
        f" ({', '.join(names)}, tenant_id, recorded_at)"
        f" SELECT {selected}, CAST(:tenant AS TEXT), CAST(:recorded_at AS TIMESTAMPTZ)"
        f" FROM {rows}"
        " ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING t.event_id)"
        " SELECT 0 AS kind, i.event_id AS entity_type, NULL::text AS entity_id,"
        " NULL::bigint AS version, NULL::jsonb AS attributes, NULL::text AS status"
        " FROM inserted AS i"
        " UNION ALL"
        " SELECT 1, k.entity_type, k.entity_id, e.version,"
        " CASE WHEN k.snapshot THEN e.attributes END, e.status"
        " FROM unnest(CAST(:key_types AS TEXT[]), CAST(:key_ids AS TEXT[]),"
        " CAST(:key_full AS BOOLEAN[])) AS k(entity_type, entity_id, snapshot)"
        " CROSS JOIN LATERAL (SELECT c.version, c.attributes, c.status"
        f" FROM {ENTITY.name} AS c WHERE c.tenant_id = :tenant"
        " AND c.entity_type = k.entity_type AND c.entity_id = k.entity_id LIMIT 1) AS e"
    ).columns(
        column("kind", Integer()),
        column("entity_type", String()),
        column("entity_id", String()),
        column("version", BigInteger()),
        column("attributes", ENTITY.c.attributes.type),
        column("status", String()),
    )


def _entity_upsert(prefix: str, updates: Sequence[str]) -> str:
    rows, selected = _rows(ENTITY_COLUMNS, prefix)
    names = ", ".join(name for name, _ in ENTITY_COLUMNS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in updates)
    # An older version never overwrites a newer one (out-of-order events, racing writers).
    return (
        f"INSERT INTO {ENTITY.name} AS t (tenant_id, {names})"
        f" SELECT CAST(:tenant AS TEXT), {selected} FROM {rows}"
        f" ON CONFLICT (tenant_id, entity_type, entity_id) DO UPDATE SET {sets}"
        " WHERE excluded.version >= t.version"
    )


@cache
def entity_write() -> TextClause:
    """One tenant's registry writes and lineage counts, in one statement.

    Parameters: ``tenant``; :data:`ENTITY_COLUMNS` arrays prefixed ``u_`` (replaced in
    full) and ``d_`` (marked deleted: status, version, last event and time change, the
    snapshot stays); :data:`LINEAGE_COLUMNS` arrays prefixed ``l_`` (occurrences added).
    Each entity and lineage key at most once: the parts touch disjoint rows, so running
    two of them as CTEs (executed to completion, unread) is safe.
    """
    rows, selected = _rows(LINEAGE_COLUMNS, "l_")
    names = ", ".join(name for name, _ in LINEAGE_COLUMNS)
    lineage = (
        f"INSERT INTO {LINEAGE.name} AS t (tenant_id, {names})"
        f" SELECT CAST(:tenant AS TEXT), {selected} FROM {rows}"
        f" ON CONFLICT ({', '.join(LINEAGE_KEY)}) DO UPDATE SET"
        " occurrences = t.occurrences + excluded.occurrences,"
        " last_seen_at = excluded.last_seen_at,"
        " last_event_id = coalesce(excluded.last_event_id, t.last_event_id)"
    )
    return sql_text(
        f"WITH deleted AS ({_entity_upsert('d_', _DELETE)} RETURNING 1),"
        f" lineage AS ({lineage} RETURNING 1)"
        f" {_entity_upsert('u_', _FULL)}"
    )
