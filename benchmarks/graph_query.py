"""Relationship-graph queries on PostgreSQL with 1 000 000 relationships: exact, and how fast.

    python benchmarks/graph_query.py                  # build once (about a minute), then time
    python benchmarks/graph_query.py --rebuild        # regenerate the data first
    python benchmarks/graph_query.py --roots 200 --depths 1 3 5 --directions out both

The data lives in its own database (``dictamesh_bench``, created by the app role, which has
CREATEDB), so test data is never touched, and is reused by later runs. It is opened with
:meth:`CatalogService.open`, which migrates it to head: the figures include every index and
function a migration adds. The shape follows what catalog ingest derives from the sample
sources, at scale, in tenant ``default``:

* ``invoice --billed_to--> customer``: 100 000 invoices over 20 000 customers, skewed (a
  few customers have hundreds of invoices, most have a handful);
* ``invoice --has_item--> invoice_item``: 1 to 6 items per invoice (350 000);
* ``invoice_item --references--> product``: 5 000 products, skewed (best-sellers are
  referenced by thousands of items);
* cross links: ``customer --favourite--> product`` (5 each), ``product --related_to-->
  product`` (10 each) and ``customer --referred--> customer``, topped up to exactly N.

Then ``ANALYZE``, and for each direction and depth, from the same random customers:

* **exactness**: :meth:`CatalogService.query_relationship_graph` (limit 1000 nodes) against
  a reference breadth-first search done here in Python (plain one-hop ``SELECT``s per level;
  deduplication, the level/``(type, id)`` order and the limit in Python). Every mismatching
  root is printed; the count is a KPI (goal 0). The old ``WITH RECURSIVE`` walk is checked
  the same way, for comparison;
* **latency**: p50/p95/max of the catalog call, and of the old walk (its SQL is kept below
  as ``OLD_CTE``, run through the same engine, so the new/old ratio comes from one run). A
  bare one-hop ``SELECT`` shows the floor.

Address: ``DICTAMESH_POSTGRES_URL`` (default: the ``scripts/services.sh`` one); only the
database name is replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dictamesh.catalog.service import CatalogService
from dictamesh.core.models import EntityRef

sys.path.insert(0, str(Path(__file__).parent))
from _kpi import Kpi, record

DEFAULT_PG = "postgresql+asyncpg://dictamesh:dictamesh@127.0.0.1:5432/dictamesh"
TENANT = "default"
SHAPE = "v1"  # bump when the generator changes, so old data is rebuilt

# Per 1 000 000 relationships (scaled with --relationships).
CUSTOMERS = 20_000
INVOICES = 100_000
PRODUCTS = 5_000
FAVOURITES = 5  # per customer, distinct: 977*j mod PRODUCTS differ for j = 1..5
RELATED = 10  # per product, distinct: 487*j mod PRODUCTS differ for j = 1..10

_INSERT = """
INSERT INTO dictamesh_entity_relationships
    (tenant_id, subject_type, subject_id, relationship_type, object_type, object_id,
     metadata, valid_from)
"""

# Each statement is one INSERT ... SELECT over generate_series; ids are '<prefix>-<n>'.
# random() is seeded once per build, so the same N gives the same graph.
_BUILD = [
    # Skew: customer = floor(C * r^2), so low-numbered customers get the most invoices.
    _INSERT
    + """
SELECT 'default', 'invoice', 'inv-' || i, 'billed_to', 'customer',
       'cus-' || (1 + floor($1::int * random() ^ 2))::int, '{"via": "customer_id"}', now()
FROM generate_series(1, $2::int) AS i
""",
    _INSERT
    + """
SELECT 'default', 'invoice', 'inv-' || i, 'has_item', 'invoice_item', 'inv-' || i || ':' || k,
       '{"field": "items"}', now()
FROM generate_series(1, $1::int) AS i, generate_series(1, 1 + i % 6) AS k
""",
    # Best-sellers: product = floor(P * r^3).
    _INSERT
    + """
SELECT 'default', 'invoice_item', 'inv-' || i || ':' || k, 'references', 'product',
       'prd-' || (1 + floor($2::int * random() ^ 3))::int, '{"via": "product_id"}', now()
FROM generate_series(1, $1::int) AS i, generate_series(1, 1 + i % 6) AS k
""",
    _INSERT
    + """
SELECT 'default', 'customer', 'cus-' || c, 'favourite', 'product',
       'prd-' || (1 + (c * 31 + j * 977) % $2::int), '{}', now()
FROM generate_series(1, $1::int) AS c, generate_series(1, $3::int) AS j
""",
    _INSERT
    + """
SELECT 'default', 'product', 'prd-' || p, 'related_to', 'product',
       'prd-' || (1 + (p - 1 + j * 487) % $1::int), '{}', now()
FROM generate_series(1, $1::int) AS p, generate_series(1, $2::int) AS j
""",
    # The rest, to exactly N: customer k mod C refers customer (k - 1 + j * 7919) mod C,
    # with j = 1, 2, ... per round over all customers (distinct while 7919 * j < C * j).
    _INSERT
    + """
SELECT 'default', 'customer', 'cus-' || (1 + (n - 1) % $1::int), 'referred', 'customer',
       'cus-' || (1 + ((n - 1) % $1::int + (1 + (n - 1) / $1::int) * 7919) % $1::int),
       '{}', now()
FROM generate_series(1, $2::int) AS n
""",
]


def bench_url(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def ensure_database(url: str, database: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
            print(f"created database {database}")
    finally:
        await conn.close()


async def build(dsn: str, total: int, *, rebuild: bool) -> None:
    """Generate the graph unless the same shape and size is there already."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_graph_meta (shape text PRIMARY KEY, total int)"
        )
        # Row-level security (0004) hides and refuses rows of other tenants: act as ours.
        await conn.execute("SELECT set_config('dictamesh.tenant_id', $1, false)", TENANT)
        built = await conn.fetchval("SELECT total FROM bench_graph_meta WHERE shape = $1", SHAPE)
        if built == total and not rebuild:
            count = await conn.fetchval(
                "SELECT count(*) FROM dictamesh_entity_relationships WHERE valid_to IS NULL"
            )
            if count == total:
                print(f"reusing {count:,} relationships (--rebuild to regenerate)")
                return
        scale = total / 1_000_000
        customers = max(10, round(CUSTOMERS * scale))
        invoices = max(10, round(INVOICES * scale))
        products = max(20, round(PRODUCTS * scale))
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute("DELETE FROM bench_graph_meta")
            # DELETE, not TRUNCATE: the app role may not truncate (it bypasses RLS).
            await conn.execute("DELETE FROM dictamesh_entity_relationships")
            await conn.execute("SELECT setseed(0.42)")
            await conn.execute(_BUILD[0], customers, invoices)
            await conn.execute(_BUILD[1], invoices)
            await conn.execute(_BUILD[2], invoices, products)
            await conn.execute(_BUILD[3], customers, products, FAVOURITES)
            await conn.execute(_BUILD[4], products, RELATED)
            so_far = await conn.fetchval("SELECT count(*) FROM dictamesh_entity_relationships")
            rest = total - so_far
            if rest < 0 or rest > 3 * customers:
                raise SystemExit(f"shape gives {so_far} before referrals; N={total} too small")
            await conn.execute(_BUILD[5], customers, rest)
            await conn.execute(
                "INSERT INTO bench_graph_meta (shape, total) VALUES ($1, $2)", SHAPE, total
            )
        await conn.execute("VACUUM ANALYZE dictamesh_entity_relationships")
        count = await conn.fetchval("SELECT count(*) FROM dictamesh_entity_relationships")
        print(f"built {count:,} relationships in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()


LIMIT = 1000  # the REST/GraphQL default

# The walk before issue 17 (catalog/_graph.py at 0006, PostgreSQL branch), kept verbatim as
# the baseline: (node, depth) pairs by UNION, cut after max(10 000, 20 x limit) rows.
OLD_MAX_PATHS = max(10_000, 20 * LIMIT)
_OLD_IS_SUBJECT = "(r.subject_type = w.node_type AND r.subject_id = w.node_id)"
_OLD_IS_OBJECT = "(r.object_type = w.node_type AND r.object_id = w.node_id)"
_OLD_JOIN = {
    "out": _OLD_IS_SUBJECT,
    "in": _OLD_IS_OBJECT,
    "both": f"({_OLD_IS_SUBJECT} OR {_OLD_IS_OBJECT})",
}
_OLD_NEXT = {
    "out": ("r.object_type", "r.object_id"),
    "in": ("r.subject_type", "r.subject_id"),
    "both": (
        f"CASE WHEN {_OLD_IS_SUBJECT} THEN r.object_type ELSE r.subject_type END",
        f"CASE WHEN {_OLD_IS_SUBJECT} THEN r.object_id ELSE r.subject_id END",
    ),
}
OLD_CTE = """
WITH RECURSIVE walk(node_type, node_id, depth) AS (
    SELECT CAST(:root_type AS TEXT), CAST(:root_id AS TEXT), CAST(0 AS INTEGER)
    UNION
    SELECT CAST({next_type} AS TEXT), CAST({next_id} AS TEXT), w.depth + 1
    FROM walk w
    JOIN dictamesh_entity_relationships r
      ON r.tenant_id = :tenant AND r.valid_to IS NULL AND {join}
    WHERE w.depth < :max_depth
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
OLD_STATEMENTS = {
    way: text(OLD_CTE.format(join=_OLD_JOIN[way], next_type=nxt[0], next_id=nxt[1]))
    for way, nxt in _OLD_NEXT.items()
}

# The reference BFS fetches raw neighbours one level at a time; everything that decides the
# answer (dedupe, visited, order, limit, edges) is plain Python in ``reference_walk``.
_REF_OUT = """
SELECT r.object_type, r.object_id FROM unnest($1::text[], $2::text[]) AS f(t, i)
JOIN dictamesh_entity_relationships r ON r.tenant_id = $3 AND r.valid_to IS NULL
 AND r.subject_type = f.t AND r.subject_id = f.i
"""
_REF_IN = """
SELECT r.subject_type, r.subject_id FROM unnest($1::text[], $2::text[]) AS f(t, i)
JOIN dictamesh_entity_relationships r ON r.tenant_id = $3 AND r.valid_to IS NULL
 AND r.object_type = f.t AND r.object_id = f.i
"""
_REF_EDGES = """
SELECT r.subject_type, r.subject_id, r.relationship_type, r.object_type, r.object_id
FROM unnest($1::text[], $2::text[]) AS f(t, i)
JOIN dictamesh_entity_relationships r ON r.tenant_id = $3 AND r.valid_to IS NULL
 AND r.subject_type = f.t AND r.subject_id = f.i
"""

_REF_HOPS = {"out": [_REF_OUT], "in": [_REF_IN], "both": [_REF_OUT, _REF_IN]}

Node = tuple[str, str]


@dataclass(frozen=True)
class Answer:
    nodes: list[tuple[str, str, int]]
    edges: set[tuple[str, str, str, str, str]]
    truncated: bool


async def reference_walk(
    conn: asyncpg.Connection, root: Node, direction: str, max_depth: int, limit: int
) -> Answer:
    """Breadth-first search: levels in full, nodes by (level, type, id), the first limit."""
    depth_of: dict[Node, int] = {root: 0}
    level = [root]
    kept = 1
    for depth in range(1, max_depth + 1):
        if not level or kept > limit:
            break
        found: set[Node] = set()
        types, ids = [t for t, _ in level], [i for _, i in level]
        for sql in _REF_HOPS[direction]:
            found.update((t, i) for t, i in await conn.fetch(sql, types, ids, TENANT))
        level = sorted(found - depth_of.keys())
        depth_of.update((n, depth) for n in level)
        kept += len(level)
    ordered = sorted(depth_of, key=lambda n: (depth_of[n], n))
    nodes = ordered[:limit]
    keep = set(nodes)
    rows = await conn.fetch(_REF_EDGES, [t for t, _ in nodes], [i for _, i in nodes], TENANT)
    return Answer(
        nodes=[(t, i, depth_of[(t, i)]) for t, i in nodes],
        edges={tuple(r) for r in rows if (r[3], r[4]) in keep},  # type: ignore[misc]
        truncated=len(ordered) > limit,
    )


def answer_of(graph: Any) -> Answer:
    return Answer(
        nodes=[(n.type, n.id, n.depth) for n in graph.nodes],
        edges={
            (e.subject.type, e.subject.id, e.relationship_type, e.object.type, e.object.id)
            for e in graph.edges
        },
        truncated=graph.truncated,
    )


async def old_walk(conn: Any, root: EntityRef, depth: int, direction: str) -> Answer:
    """The old CTE, read as the old ``GraphStore.walk`` did."""
    rows = (
        await conn.execute(
            OLD_STATEMENTS[direction],
            {
                "tenant": TENANT,
                "root_type": root.type,
                "root_id": root.id,
                "max_depth": depth,
                "node_limit": LIMIT + 1,
                "max_paths": OLD_MAX_PATHS,
            },
        )
    ).all()
    nodes = [(r[1], r[2], int(r[3])) for r in rows if r[0] == "n"]
    nodes.sort(key=lambda n: (n[2], n[0], n[1]))
    paths = max((int(r[7]) for r in rows if r[0] == "n"), default=0)
    kept = nodes[:LIMIT]
    keys = {(t, i) for t, i, _ in kept}
    edges = {
        (r[1], r[2], r[4], r[5], r[6])
        for r in rows
        if r[0] == "e" and (r[1], r[2]) in keys and (r[5], r[6]) in keys
    }
    return Answer(kept, edges, len(nodes) > LIMIT or paths >= OLD_MAX_PATHS)


def differs(got: Answer, want: Answer) -> str:
    """'' if equal, else a short reason."""
    if got == want:
        return ""
    g, w = {n[:2]: n[2] for n in got.nodes}, {n[:2]: n[2] for n in want.nodes}
    return (
        f"nodes {len(got.nodes)} vs {len(want.nodes)} (missing {len(w.keys() - g.keys())},"
        f" extra {len(g.keys() - w.keys())}), edges {len(got.edges)} vs {len(want.edges)},"
        f" truncated {got.truncated} vs {want.truncated}"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Run:
    ms: list[float]
    nodes: list[int]
    truncated: int
    mismatches: int

    @property
    def p95(self) -> float:
        return percentile(self.ms, 0.95)


async def time_new(
    catalog: CatalogService, roots: list[EntityRef], depth: int, direction: str
) -> Run:
    run = Run([], [], 0, 0)
    for root in roots:
        started = time.perf_counter()
        graph = await catalog.query_relationship_graph(
            root, max_depth=depth, direction=direction, limit=LIMIT
        )
        run.ms.append((time.perf_counter() - started) * 1000)
        run.nodes.append(len(graph.nodes))
        run.truncated += graph.truncated
    return run


async def time_old(
    catalog: CatalogService, roots: list[EntityRef], depth: int, direction: str
) -> tuple[Run, list[Answer]]:
    run = Run([], [], 0, 0)
    answers: list[Answer] = []
    for root in roots:
        started = time.perf_counter()
        # The same per-call path the old GraphStore.walk took: a read transaction with the
        # tenant set, the statement_timeout, the statement.
        async with catalog.graph.database.read() as conn:
            await conn.execute(text("SELECT set_config('statement_timeout', '5000', true)"))
            answer = await old_walk(conn, root, depth, direction)
        run.ms.append((time.perf_counter() - started) * 1000)
        run.nodes.append(len(answer.nodes))
        run.truncated += answer.truncated
        answers.append(answer)
    return run, answers


async def check_exact(
    catalog: CatalogService,
    ref: asyncpg.Connection,
    roots: list[EntityRef],
    depth: int,
    direction: str,
    old: list[Answer],
) -> tuple[int, int]:
    """Mismatching roots of the new walk and of the old one, each printed."""
    new_bad = old_bad = 0
    for k, root in enumerate(roots):
        want = await reference_walk(ref, (root.type, root.id), direction, depth, LIMIT)
        graph = await catalog.query_relationship_graph(
            root, max_depth=depth, direction=direction, limit=LIMIT
        )
        why = differs(answer_of(graph), want)
        if why:
            new_bad += 1
            print(f"  MISMATCH new {root} depth {depth} {direction}: {why}")
        if k < len(old) and differs(old[k], want):
            old_bad += 1
    return new_bad, old_bad


async def time_raw_hop(catalog: CatalogService, roots: list[EntityRef]) -> list[float]:
    """One hop as bare SQL on the same engine (the same index lookups, no loop, no models)."""
    hop = text(
        "SELECT subject_type, subject_id, relationship_type, object_type, object_id"
        " FROM dictamesh_entity_relationships"
        " WHERE tenant_id = :t AND valid_to IS NULL AND subject_type = :ty AND subject_id = :id"
        " UNION ALL"
        " SELECT subject_type, subject_id, relationship_type, object_type, object_id"
        " FROM dictamesh_entity_relationships"
        " WHERE tenant_id = :t AND valid_to IS NULL AND object_type = :ty AND object_id = :id"
    )
    seconds: list[float] = []
    async with catalog.engine.connect() as conn:
        await conn.execute(
            text("SELECT set_config('dictamesh.tenant_id', :t, false)"), {"t": TENANT}
        )
        for root in roots:
            started = time.perf_counter()
            (await conn.execute(hop, {"t": TENANT, "ty": root.type, "id": root.id})).all()
            seconds.append((time.perf_counter() - started) * 1000)
    return seconds


def report(label: str, ms: list[float], nodes: list[int] | None = None, truncated: int = 0) -> None:
    line = (
        f"{label:<30} p50 {percentile(ms, 0.5):8.2f} ms  p95 {percentile(ms, 0.95):8.2f} ms"
        f"  max {max(ms):8.2f} ms"
    )
    if nodes is not None:
        line += f"  nodes avg {statistics.mean(nodes):6.0f}  truncated {truncated}/{len(ms)}"
    print(line, flush=True)


async def measure(
    catalog: CatalogService,
    ref: asyncpg.Connection,
    roots: list[EntityRef],
    args: argparse.Namespace,
) -> int:
    """Every direction and depth; returns the mismatching roots of the new walk in total."""
    mismatches = 0
    old_roots = roots[: args.baseline_roots]
    for direction in args.directions:
        # Warm the pool, the plan caches (past PostgreSQL's five custom plans) and the buffers.
        for root in roots[:10]:
            for depth in args.depths:
                await catalog.query_relationship_graph(root, max_depth=depth, direction=direction)
        print(f"\n-- direction {direction}: {len(roots)} roots (old walk: {len(old_roots)})")
        for depth in sorted(set(args.depths)):
            new = await time_new(catalog, roots, depth, direction)
            old, old_answers = await time_old(catalog, old_roots, depth, direction)
            bad, old_bad = await check_exact(catalog, ref, roots, depth, direction, old_answers)
            mismatches += bad
            report(f"depth {depth} new", new.ms, new.nodes, new.truncated)
            report(f"depth {depth} old CTE", old.ms, old.nodes, old.truncated)
            ratio = new.p95 / old.p95
            print(
                f"depth {depth} exact: new {bad}/{len(roots)} mismatching roots, old CTE"
                f" {old_bad}/{len(old_roots)}; p95 new/old {ratio:.3f}"
                f" ({1 / ratio:.1f}x faster)",
                flush=True,
            )
            if depth == 5:
                record(
                    Kpi(
                        figure=f"graph depth 5 p95, 1M relationships, direction {direction}",
                        value=new.p95,
                        unit="ms",
                        goal="<= 50",
                        baseline=f"old CTE p95 {old.p95:.0f} ms",
                        ratio=ratio,
                    )
                )
    return mismatches


async def main(args: argparse.Namespace) -> None:
    base = os.environ.get("DICTAMESH_POSTGRES_URL", DEFAULT_PG)
    await ensure_database(base, args.database)
    url = bench_url(base, args.database)
    # Migrate first (CatalogService.open), so the data is loaded into the head schema.
    async with await CatalogService.open(url):
        pass
    await build(asyncpg_dsn(url), args.relationships, rebuild=args.rebuild)

    ref = await asyncpg.connect(asyncpg_dsn(url))
    await ref.execute("SELECT set_config('dictamesh.tenant_id', $1, false)", TENANT)
    try:
        async with await CatalogService.open(url) as catalog:
            customers = max(10, round(CUSTOMERS * args.relationships / 1_000_000))
            rng = random.Random(args.seed)
            roots = [
                EntityRef(type="customer", id=f"cus-{rng.randint(1, customers)}")
                for _ in range(args.roots)
            ]
            print(
                f"{args.roots} random customer roots, limit {LIMIT} nodes,"
                f" {args.relationships:,} relationships"
            )
            report("bare one-hop SELECT (floor)", await time_raw_hop(catalog, roots))
            mismatches = await measure(catalog, ref, roots, args)
    finally:
        await ref.close()
    record(
        Kpi(
            figure="graph exact: mismatching roots",
            value=mismatches,
            unit="roots",
            goal="<= 0",
            baseline="reference BFS, every root, direction and depth",
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relationships", type=int, default=1_000_000)
    parser.add_argument("--roots", type=int, default=200)
    parser.add_argument(
        "--baseline-roots", type=int, default=40, help="roots the (slow) old walk is timed on"
    )
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--directions", choices=["both", "out", "in"], nargs="+", default=["out", "both"]
    )
    parser.add_argument("--database", default="dictamesh_bench")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the data")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
