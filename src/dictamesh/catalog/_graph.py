"""The relationship-graph walk: one ``WITH RECURSIVE`` statement for SQLite and PostgreSQL.

``walk`` expands breadth-first from the root over *current* edges (``valid_to IS NULL``) in
the chosen direction, one hop per iteration, until ``max_depth``. Its rows are
``(node, depth)`` pairs combined with ``UNION``, so a node reached twice at the same depth
is one row and each level holds each node at most once: the work is bounded by
nodes x depth x degree, not by the number of distinct paths (which grows exponentially in
dense graphs — a path-carrying walk of a 12-node clique at depth 10 never finished).
Cycles end at ``max_depth``. ``max_paths`` stays as a cap on the rows of one walk; both
engines produce recursive rows level by level, so the rows kept are the shallowest and
each node's minimum depth stays exact. ``nodes`` keeps each node once at its minimum depth
(``limit + 1`` of them, to detect truncation), and the final SELECT returns those nodes
plus every current edge between two of them, in one round trip.
All values are bound parameters; only fixed fragments are spliced in for ``direction``.

The statement has a deadline that holds inside the database, not only around the await:
SQLite gets a progress handler that interrupts the statement once ``timeout_seconds`` have
passed, PostgreSQL a transaction-local ``statement_timeout``. Either way the caller gets
:class:`QueryLimitExceeded` (a 400, "narrow the walk"), and the connection is free again at
once instead of finishing a walk nobody waits for.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from dictamesh.catalog.records import GraphDirection
from dictamesh.core.errors import QueryLimitExceeded

__all__ = ["GRAPH_TIMEOUT_SECONDS", "GraphRows", "walk_graph"]

#: longest one relationship-graph walk may run in the database
GRAPH_TIMEOUT_SECONDS = 5.0
#: SQLite virtual-machine steps between two looks at the clock
_PROGRESS_STEPS = 10_000

_IS_SUBJECT = "(r.subject_type = w.node_type AND r.subject_id = w.node_id)"
_IS_OBJECT = "(r.object_type = w.node_type AND r.object_id = w.node_id)"

_JOIN = {
    "out": _IS_SUBJECT,
    "in": _IS_OBJECT,
    "both": f"({_IS_SUBJECT} OR {_IS_OBJECT})",
}
_NEXT = {
    "out": ("r.object_type", "r.object_id"),
    "in": ("r.subject_type", "r.subject_id"),
    "both": (
        f"CASE WHEN {_IS_SUBJECT} THEN r.object_type ELSE r.subject_type END",
        f"CASE WHEN {_IS_SUBJECT} THEN r.object_id ELSE r.subject_id END",
    ),
}

_SQL = """
WITH RECURSIVE walk(node_type, node_id, depth) AS (
    SELECT CAST(:root_type AS TEXT), CAST(:root_id AS TEXT), CAST(0 AS INTEGER)
    UNION
    SELECT CAST({next_type} AS TEXT), CAST({next_id} AS TEXT), w.depth + 1
    FROM walk w
    JOIN dictamesh_entity_relationships r
      ON r.tenant_id = :tenant AND r.valid_to IS NULL AND {join}
    WHERE w.depth < :max_depth
    {recursive_limit}
),
capped AS (
    SELECT node_type, node_id, depth FROM walk LIMIT :max_paths
),
nodes AS (
    SELECT node_type, node_id, MIN(depth) AS depth
    FROM capped
    GROUP BY node_type, node_id
    ORDER BY MIN(depth), node_type, node_id
    LIMIT :node_limit
)
SELECT 'n' AS kind, node_type AS a_type, node_id AS a_id, depth,
       NULL AS relationship_type, NULL AS b_type, NULL AS b_id,
       (SELECT COUNT(*) FROM capped) AS paths
FROM nodes
UNION ALL
SELECT 'e', r.subject_type, r.subject_id, NULL, r.relationship_type, r.object_type,
       r.object_id, NULL
FROM dictamesh_entity_relationships r
JOIN nodes s ON s.node_type = r.subject_type AND s.node_id = r.subject_id
JOIN nodes o ON o.node_type = r.object_type AND o.node_id = r.object_id
WHERE r.tenant_id = :tenant AND r.valid_to IS NULL
"""

# SQLite stops the recursion itself after max_paths rows (a LIMIT in the recursive select
# bounds the rows ever added); PostgreSQL does not allow it there, and is bounded by the
# outer LIMIT plus its statement_timeout.
_STATEMENTS = {
    (dialect, direction): text(
        _SQL.format(
            join=_JOIN[direction],
            next_type=_NEXT[direction][0],
            next_id=_NEXT[direction][1],
            recursive_limit="LIMIT :max_paths" if dialect == "sqlite" else "",
        )
    )
    for dialect in ("sqlite", "other")
    for direction in ("out", "in", "both")
}


@dataclass(slots=True)
class GraphRows:
    #: (type, id, depth), ordered by depth, type, id; at most ``limit + 1``
    nodes: list[tuple[str, str, int]]
    #: (subject_type, subject_id, relationship_type, object_type, object_id)
    edges: list[tuple[str, str, str, str, str]]
    paths: int


async def walk_graph(
    conn: AsyncConnection,
    *,
    tenant: str,
    root_type: str,
    root_id: str,
    direction: GraphDirection,
    max_depth: int,
    node_limit: int,
    max_paths: int,
    timeout_seconds: float = GRAPH_TIMEOUT_SECONDS,
) -> GraphRows:
    try:
        async with _deadline(conn, timeout_seconds):
            dialect = "sqlite" if conn.dialect.name == "sqlite" else "other"
            result = await conn.execute(
                _STATEMENTS[dialect, direction],
                {
                    "tenant": tenant,
                    "root_type": root_type,
                    "root_id": root_id,
                    "max_depth": max_depth,
                    "node_limit": node_limit,
                    "max_paths": max_paths,
                },
            )
            rows = result.all()
    except (OperationalError, DBAPIError) as exc:
        if not _cancelled(exc):
            raise
        raise QueryLimitExceeded(
            f"the relationship graph took longer than {timeout_seconds:g} s; ask for fewer"
            " hops or a smaller limit",
            timeout_seconds=timeout_seconds,
            max_depth=max_depth,
        ) from None
    return _graph_rows(rows)


def _cancelled(exc: Exception) -> bool:
    message = str(getattr(exc, "orig", exc)).lower()
    return "interrupted" in message or "statement timeout" in message or "cancel" in message


@contextlib.asynccontextmanager
async def _deadline(conn: AsyncConnection, seconds: float) -> AsyncIterator[None]:
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT set_config('statement_timeout', :ms, true)"),
            {"ms": str(max(1, int(seconds * 1000)))},
        )
        yield
        return
    if conn.dialect.name != "sqlite":
        yield
        return
    raw: Any = (await conn.get_raw_connection()).driver_connection
    ends = time.monotonic() + seconds

    def past_deadline() -> int:
        return 1 if time.monotonic() > ends else 0  # non-zero interrupts the statement

    await raw.set_progress_handler(past_deadline, _PROGRESS_STEPS)
    try:
        yield
    finally:
        await raw.set_progress_handler(None, 0)  # the connection goes back to the pool


def _graph_rows(rows: Sequence[Any]) -> GraphRows:
    nodes: list[tuple[str, str, int]] = []
    edges: list[tuple[str, str, str, str, str]] = []
    paths = 0
    for kind, a_type, a_id, depth, rel, b_type, b_id, count in rows:
        if kind == "n":
            nodes.append((a_type, a_id, int(depth)))
            paths = int(count)
        else:
            edges.append((a_type, a_id, rel, b_type, b_id))
    nodes.sort(key=lambda n: (n[2], n[0], n[1]))
    edges.sort()
    return GraphRows(nodes=nodes, edges=edges, paths=paths)
