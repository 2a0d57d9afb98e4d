"""The relationship-graph walk: a node-level breadth-first search, exact on both engines.

The rule (the same on SQLite and PostgreSQL, and in the tests' reference BFS): level 0 is
the root; level ``d + 1`` is every node one current hop (``valid_to IS NULL``, in the chosen
direction) from a node of level ``d`` that is in no earlier level. Nodes are ordered by
level, then by ``(type, id)`` compared by code point (``COLLATE "C"`` on PostgreSQL, which
is UTF-8 byte order, the same as Python's ``str`` order), and the first ``limit`` are kept.
``truncated`` is true exactly when more than ``limit`` nodes lie within ``max_depth``. The
edges are every current relationship whose two ends are both kept, whatever its direction.

Because a level is only expanded when every earlier level was kept whole, the walk can stop
at the level where the limit is reached and still equal "sort all reachable nodes, keep the
first ``limit``". Work per level is bounded by the edges of the frontier, never by the
number of paths (a path walk of a dense graph grows exponentially with depth).

* PostgreSQL: one call of ``dictamesh_graph_walk`` (migration 0007): the per-level loop runs
  in the database (no round trip per level), as ``SECURITY INVOKER`` so row-level security
  still applies, with custom plans only (a generic plan misjudges the frontier arrays).
* SQLite: the loop runs here, one statement per level; deduplication and the top-N are done
  in Python over the level's distinct neighbours.

The walk has a deadline that holds inside the database, not only around the await: SQLite
gets a progress handler that interrupts a statement once ``timeout_seconds`` have passed
(and the loop checks the clock between levels), PostgreSQL a transaction-local
``statement_timeout``. Either way the caller gets :class:`QueryLimitExceeded` (a 400,
"narrow the walk"), and the connection is free again at once.
"""

from __future__ import annotations

import contextlib
import json
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

Node = tuple[str, str]
Edge = tuple[str, str, str, str, str]

_PG_WALK = text(
    "SELECT node_types, node_ids, node_depths, edge_subject_types, edge_subject_ids,"
    " edge_relationship_types, edge_object_types, edge_object_ids, truncated"
    " FROM dictamesh_graph_walk(:tenant, :root_type, :root_id, :direction, :max_depth, :limit)"
)

# SQLite: the frontier arrives as one JSON array of [type, id] pairs (no limit on bound
# parameters); CROSS JOIN keeps it the outer loop, so each node is one index lookup.
_FRONTIER = """
WITH f(t, i) AS (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:nodes)
)
"""
_OUT_HOP = """
SELECT r.object_type, r.object_id FROM f CROSS JOIN dictamesh_entity_relationships r
WHERE r.tenant_id = :tenant AND r.valid_to IS NULL AND r.subject_type = f.t
  AND r.subject_id = f.i
"""
_IN_HOP = """
SELECT r.subject_type, r.subject_id FROM f CROSS JOIN dictamesh_entity_relationships r
WHERE r.tenant_id = :tenant AND r.valid_to IS NULL AND r.object_type = f.t
  AND r.object_id = f.i
"""
_SQLITE_HOPS = {
    "out": text(_FRONTIER + _OUT_HOP),
    "in": text(_FRONTIER + _IN_HOP),
    "both": text(_FRONTIER + _OUT_HOP + " UNION " + _IN_HOP),
}
# Edges leave from a kept subject; whether the object is kept is checked in Python.
_SQLITE_EDGES = text(
    _FRONTIER
    + """
SELECT r.subject_type, r.subject_id, r.relationship_type, r.object_type, r.object_id
FROM f CROSS JOIN dictamesh_entity_relationships r
WHERE r.tenant_id = :tenant AND r.valid_to IS NULL AND r.subject_type = f.t
  AND r.subject_id = f.i
"""
)


@dataclass(slots=True)
class GraphRows:
    #: (type, id, depth) of the kept nodes, ordered by depth, type, id; at most ``limit``
    nodes: list[tuple[str, str, int]]
    #: (subject_type, subject_id, relationship_type, object_type, object_id), sorted
    edges: list[Edge]
    #: more than ``limit`` nodes lie within ``max_depth``
    truncated: bool


class _PastDeadline(Exception):
    """The SQLite loop saw the clock pass the deadline between two statements."""


async def walk_graph(
    conn: AsyncConnection,
    *,
    tenant: str,
    root_type: str,
    root_id: str,
    direction: GraphDirection,
    max_depth: int,
    limit: int,
    timeout_seconds: float = GRAPH_TIMEOUT_SECONDS,
) -> GraphRows:
    """The kept nodes, their edges and the truncation flag, as the module docstring says."""
    try:
        async with _deadline(conn, timeout_seconds) as ends:
            if conn.dialect.name == "postgresql":
                return await _walk_postgres(
                    conn, tenant, (root_type, root_id), direction, max_depth, limit
                )
            return await _walk_stepwise(
                conn, tenant, (root_type, root_id), direction, max_depth, limit, ends
            )
    except (OperationalError, DBAPIError, _PastDeadline) as exc:
        if not isinstance(exc, _PastDeadline) and not _cancelled(exc):
            raise
        raise QueryLimitExceeded(
            f"the relationship graph took longer than {timeout_seconds:g} s; ask for fewer"
            " hops or a smaller limit",
            timeout_seconds=timeout_seconds,
            max_depth=max_depth,
        ) from None


async def _walk_postgres(
    conn: AsyncConnection,
    tenant: str,
    root: Node,
    direction: GraphDirection,
    max_depth: int,
    limit: int,
) -> GraphRows:
    result = await conn.execute(
        _PG_WALK,
        {
            "tenant": tenant,
            "root_type": root[0],
            "root_id": root[1],
            "direction": direction,
            "max_depth": max_depth,
            "limit": limit,
        },
    )
    return _graph_rows(result.one())


async def _walk_stepwise(
    conn: AsyncConnection,
    tenant: str,
    root: Node,
    direction: GraphDirection,
    max_depth: int,
    limit: int,
    ends: float,
) -> GraphRows:
    """The BFS with one statement per level (SQLite): same rule as ``dictamesh_graph_walk``."""
    kept: list[tuple[str, str, int]] = [(root[0], root[1], 0)]
    seen: set[Node] = {root}
    frontier: list[Node] = [root]
    truncated = False
    for depth in range(1, max_depth + 1):
        if not frontier:
            break
        _check_clock(ends)
        rows = await conn.execute(
            _SQLITE_HOPS[direction], {"nodes": json.dumps(frontier), "tenant": tenant}
        )
        level = sorted({(t, i) for t, i in rows.all()} - seen)
        room = limit - len(kept)
        if len(level) > room:
            level, truncated = level[:room], True
        kept.extend((t, i, depth) for t, i in level)
        seen.update(level)
        if truncated:
            break
        frontier = level
    _check_clock(ends)
    nodes = [(t, i) for t, i, _ in kept]
    rows = await conn.execute(_SQLITE_EDGES, {"nodes": json.dumps(nodes), "tenant": tenant})
    edges = sorted((st, si, rel, ot, oi) for st, si, rel, ot, oi in rows.all() if (ot, oi) in seen)
    return GraphRows(nodes=kept, edges=edges, truncated=truncated)


def _check_clock(ends: float) -> None:
    if time.monotonic() > ends:
        raise _PastDeadline


def _cancelled(exc: Exception) -> bool:
    message = str(getattr(exc, "orig", exc)).lower()
    return "interrupted" in message or "statement timeout" in message or "cancel" in message


@contextlib.asynccontextmanager
async def _deadline(conn: AsyncConnection, seconds: float) -> AsyncIterator[float]:
    """Yields the monotonic time the walk must end by."""
    ends = time.monotonic() + seconds
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT set_config('statement_timeout', :ms, true)"),
            {"ms": str(max(1, int(seconds * 1000)))},
        )
        yield ends
        return
    if conn.dialect.name != "sqlite":
        yield ends
        return
    raw: Any = (await conn.get_raw_connection()).driver_connection

    def past_deadline() -> int:
        return 1 if time.monotonic() > ends else 0  # non-zero interrupts the statement

    await raw.set_progress_handler(past_deadline, _PROGRESS_STEPS)
    try:
        yield ends
    finally:
        await raw.set_progress_handler(None, 0)  # the connection goes back to the pool


def _graph_rows(row: Sequence[Any]) -> GraphRows:
    """The one row of ``dictamesh_graph_walk``: nodes and edges as parallel arrays (a few
    arrays decode far faster than thousands of rows), and the truncation flag."""
    types, ids, depths, sts, sis, rels, ots, ois, truncated = row
    # Python's str order is code-point order, the same as the function's COLLATE "C".
    nodes = sorted(zip(types, ids, depths, strict=True), key=lambda n: (n[2], n[0], n[1]))
    edges = sorted(zip(sts, sis, rels, ots, ois, strict=True))
    return GraphRows(nodes=nodes, edges=edges, truncated=bool(truncated))
