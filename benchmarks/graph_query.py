"""Relationship-graph queries on PostgreSQL with 1 000 000 relationships: depth 3 and 5.

    python benchmarks/graph_query.py                  # build once (about a minute), then time
    python benchmarks/graph_query.py --rebuild        # regenerate the data first
    python benchmarks/graph_query.py --roots 500 --depths 1 3 5 7

The data lives in its own database (``dictamesh_bench``, created by the app role, which has
CREATEDB), so test data is never touched, and is reused by later runs. It is opened with
:meth:`CatalogService.open`, which migrates it to head: the figures include every index a
migration adds. The shape follows what catalog ingest derives from the sample sources, at
scale, in tenant ``default``:

* ``invoice --billed_to--> customer``: 100 000 invoices over 20 000 customers, skewed (a
  few customers have hundreds of invoices, most have a handful);
* ``invoice --has_item--> invoice_item``: 1 to 6 items per invoice (350 000);
* ``invoice_item --references--> product``: 5 000 products, skewed (best-sellers are
  referenced by thousands of items);
* cross links: ``customer --favourite--> product`` (5 each), ``product --related_to-->
  product`` (10 each) and ``customer --referred--> customer``, topped up to exactly N.

Then ``ANALYZE``, and :meth:`CatalogService.query_relationship_graph` (the REST/GraphQL
defaults: direction ``both``, limit 1000 nodes) from the same random customers at each
depth: p50/p95/max, nodes returned and how often the node limit cut the walk. In the same
run, depth 1 is the baseline (one indexed hop through the same code), and a bare one-hop
``SELECT`` shows the floor under it.

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

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dictamesh.catalog.service import CatalogService
from dictamesh.core.models import EntityRef

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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def time_depth(
    catalog: CatalogService, roots: list[EntityRef], depth: int, direction: str
) -> tuple[list[float], list[int], int]:
    seconds: list[float] = []
    nodes: list[int] = []
    truncated = 0
    for root in roots:
        started = time.perf_counter()
        graph = await catalog.query_relationship_graph(root, max_depth=depth, direction=direction)
        seconds.append(time.perf_counter() - started)
        nodes.append(len(graph.nodes))
        truncated += graph.truncated
    return seconds, nodes, truncated


async def time_raw_hop(catalog: CatalogService, roots: list[EntityRef]) -> list[float]:
    """One hop as bare SQL on the same engine (the same index lookups, no CTE, no models)."""
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
            seconds.append(time.perf_counter() - started)
    return seconds


def report(label: str, seconds: list[float], nodes: list[int] | None, truncated: int) -> None:
    ms = [s * 1000 for s in seconds]
    line = (
        f"{label:<34} p50 {percentile(ms, 0.5):8.2f} ms  p95 {percentile(ms, 0.95):8.2f} ms"
        f"  max {max(ms):8.2f} ms"
    )
    if nodes is not None:
        line += f"  nodes avg {statistics.mean(nodes):6.0f}  truncated {truncated}/{len(ms)}"
    print(line)


async def main(args: argparse.Namespace) -> None:
    base = os.environ.get("DICTAMESH_POSTGRES_URL", DEFAULT_PG)
    await ensure_database(base, args.database)
    url = bench_url(base, args.database)
    # Migrate first (CatalogService.open), so the data is loaded into the head schema.
    async with await CatalogService.open(url):
        pass
    await build(asyncpg_dsn(url), args.relationships, rebuild=args.rebuild)

    async with await CatalogService.open(url) as catalog:
        customers = max(10, round(CUSTOMERS * args.relationships / 1_000_000))
        rng = random.Random(args.seed)
        roots = [
            EntityRef(type="customer", id=f"cus-{rng.randint(1, customers)}")
            for _ in range(args.roots)
        ]
        # Warm the pool, the plan cache and the buffer cache alike for every depth.
        for root in roots[:10]:
            for depth in args.depths:
                await catalog.query_relationship_graph(
                    root, max_depth=depth, direction=args.direction
                )
        print(
            f"{args.roots} random customer roots, direction {args.direction}, limit 1000 nodes,"
            f" {args.relationships:,} relationships"
        )
        report("bare one-hop SELECT (floor)", await time_raw_hop(catalog, roots), None, 0)
        for depth in sorted(set(args.depths)):
            seconds, nodes, truncated = await time_depth(catalog, roots, depth, args.direction)
            label = f"depth {depth}" + (" (baseline: one hop)" if depth == 1 else "")
            report(label, seconds, nodes, truncated)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relationships", type=int, default=1_000_000)
    parser.add_argument("--roots", type=int, default=200)
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--direction", choices=["both", "out", "in"], default="both")
    parser.add_argument("--database", default="dictamesh_bench")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the data")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
