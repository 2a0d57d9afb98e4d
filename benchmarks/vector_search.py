"""Vector search over 100 000 catalog entries: HNSW against exact on PostgreSQL, and the
embedded SQLite store at 10 000.

    python benchmarks/vector_search.py                  # build once, then time
    python benchmarks/vector_search.py --rebuild        # regenerate the data first
    python benchmarks/vector_search.py --entries 20000 --queries 100 --sqlite-entries 5000

Entries are catalog-like texts made from word lists (customers, products, invoices,
support tickets, suppliers in five domains; ids and every value drawn from a seeded
random generator), embedded with the default provider (``wordllama``, 256 dimensions,
shipped in its wheel) and written through :class:`dictamesh.search.store.VectorStore` in
batches of 1 000, as the indexer writes. On PostgreSQL the bulk load runs without the HNSW
index, which is then built at once from migration 0012's definition (timed), and the
indexer's rate with the index in place is measured on 2 000 more rows. Embedding and
writing times are printed.

Then, for queries a user would type (made the same way, another seed), each timed through
``VectorStore.nearest`` (limit 10): exact, and HNSW at each ``--ef`` (``hnsw.ef_search``;
iterative scan), unfiltered, filtered by type (``product``, a fifth of the entries) and by
domain (``support``, one in twenty). Printed: p50/p95 of each, the HNSW/exact p95 ratio of
the same run, recall@10 of HNSW against exact (the share of exact's ten that HNSW returns)
and the same counting a hit as found when it scores as well as exact's tenth (generated
text has many equal distances, which make "which ten" arbitrary).

SQLite: the same at ``--sqlite-entries`` on a temporary file catalog, exact (sqlite-vec
where the Python build loads extensions, else NumPy, as the store decides).

PostgreSQL data lives in its own database (``dictamesh_bench_vectors``, created by the
application role, which has CREATEDB, so it owns the tables: no row-level security in the
way, and it may ``ANALYZE``); ``DICTAMESH_POSTGRES_URL`` gives the server (default the
``scripts/services.sh`` one), only the database name is replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.core.settings import EmbeddingSettings, SearchSettings
from dictamesh.embeddings.base import EmbeddingProvider
from dictamesh.search.runtime import provider_from_settings
from dictamesh.search.store import EntityVectors, VectorHit, VectorStore

sys.path.insert(0, str(Path(__file__).parent))
from _kpi import Kpi, record

DEFAULT_PG = "postgresql+asyncpg://dictamesh:dictamesh@127.0.0.1:5432/dictamesh"
DATABASE = "dictamesh_bench_vectors"
TENANT = "default"
SHAPE = "v1"  # bump when the generator changes, so old data is rebuilt
LIMIT = 10
HNSW = "ix_dictamesh_search_vectors_hnsw_256"
DEFAULT_EF = SearchSettings().hnsw_ef_search

ADJECTIVES = [
    "blue",
    "red",
    "green",
    "black",
    "silver",
    "steel",
    "wooden",
    "organic",
    "premium",
    "compact",
    "heavy",
    "light",
    "waterproof",
    "wireless",
    "vintage",
    "modern",
    "rugged",
    "smart",
    "eco",
    "portable",
]
NOUNS = [
    "widget",
    "gadget",
    "lamp",
    "chair",
    "table",
    "bottle",
    "backpack",
    "jacket",
    "drill",
    "kettle",
    "speaker",
    "monitor",
    "keyboard",
    "bicycle",
    "tent",
    "blender",
    "router",
    "camera",
    "sofa",
    "shelf",
]
CITIES = [
    "Berlin",
    "Lisbon",
    "Paris",
    "Madrid",
    "Rome",
    "Vienna",
    "Prague",
    "Warsaw",
    "Oslo",
    "Dublin",
    "Athens",
    "Helsinki",
    "Zurich",
    "Amsterdam",
    "Brussels",
    "Copenhagen",
    "Budapest",
    "Porto",
    "Lyon",
    "Munich",
]
FIRST = [
    "Anna",
    "Bruno",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Luca",
    "Maya",
    "Nils",
    "Olga",
    "Pedro",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
]
LAST = [
    "Schmidt",
    "Silva",
    "Dupont",
    "Garcia",
    "Rossi",
    "Novak",
    "Berg",
    "Murphy",
    "Papadopoulos",
    "Virtanen",
    "Jensen",
    "Kovacs",
    "Weber",
    "Costa",
    "Martin",
    "Keller",
    "Moreau",
    "Fischer",
]
ISSUES = [
    "refund",
    "delayed",
    "delivery",
    "broken",
    "damaged",
    "missing",
    "invoice",
    "login",
    "password",
    "warranty",
    "return",
    "exchange",
    "billing",
    "address",
    "payment",
    "card",
    "shipping",
    "tracking",
]
MATERIALS = [
    "aluminium",
    "cotton",
    "leather",
    "plastic",
    "glass",
    "bamboo",
    "ceramic",
    "wool",
    "carbon",
    "oak",
]

#: entity type -> (domain, share of entries)
TYPES = {
    "customer": ("crm", 0.35),
    "product": ("shop", 0.20),
    "invoice": ("billing", 0.30),
    "ticket": ("support", 0.05),
    "supplier": ("procurement", 0.10),
}


def entity_text(rng: random.Random, entity_type: str) -> str:
    pick = rng.choice
    if entity_type == "customer":
        return f"customer {pick(FIRST)} {pick(LAST)} {pick(CITIES)} {pick(ADJECTIVES)} buyer"
    if entity_type == "product":
        return (
            f"product {pick(ADJECTIVES)} {pick(ADJECTIVES)} {pick(NOUNS)} made of"
            f" {pick(MATERIALS)} shipped from {pick(CITIES)}"
        )
    if entity_type == "invoice":
        return (
            f"invoice for {rng.randint(1, 9)} {pick(NOUNS)}s billed to {pick(FIRST)}"
            f" {pick(LAST)} in {pick(CITIES)} {pick(['paid', 'unpaid', 'overdue'])}"
        )
    if entity_type == "ticket":
        return (
            f"support ticket {pick(ISSUES)} {pick(ISSUES)} for {pick(ADJECTIVES)}"
            f" {pick(NOUNS)} customer in {pick(CITIES)}"
        )
    return f"supplier of {pick(MATERIALS)} {pick(NOUNS)}s based in {pick(CITIES)}"


def query_text(rng: random.Random) -> str:
    """What a user types: two to four words of the vocabulary."""
    pools = [ADJECTIVES, NOUNS, CITIES, ISSUES, MATERIALS, LAST]
    return " ".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(2, 4)))


def entries(count: int, seed: int) -> list[tuple[str, str, str, str]]:
    """(entity type, id, domain, text) for ``count`` entries."""
    rng = random.Random(seed)
    types = list(TYPES)
    weights = [share for _, share in TYPES.values()]
    out = []
    for n in range(count):
        entity_type = rng.choices(types, weights)[0]
        out.append(
            (
                entity_type,
                f"{entity_type[:3]}-{n}",
                TYPES[entity_type][0],
                entity_text(rng, entity_type),
            )
        )
    return out


async def embed_all(provider: EmbeddingProvider, texts: Sequence[str]) -> list[list[float]]:
    vectors: list[list[float]] = []
    for start in range(0, len(texts), 256):
        vectors.extend(await provider.embed(texts[start : start + 256]))
    return vectors


async def write(store: VectorStore, rows: Sequence[Any], vectors: Sequence[list[float]]) -> float:
    """Upsert in batches of 1 000 as the indexer does; the seconds it took."""
    started = time.perf_counter()
    for start in range(0, len(rows), 1000):
        await store.upsert(
            [
                EntityVectors(TENANT, t, i, d, "bench", SHAPE, [v])
                for (t, i, d, _), v in zip(
                    rows[start : start + 1000], vectors[start : start + 1000], strict=True
                )
            ]
        )
    return time.perf_counter() - started


async def build(store: VectorStore, provider: EmbeddingProvider, count: int) -> None:
    """Embed and write ``count`` entries. PostgreSQL: the bulk load without the HNSW index,
    which is then built at once (timed), and the indexer's rate with the index in place
    measured on 2 000 more rows (removed again)."""
    rows = entries(count + 2000, seed=15)
    started = time.perf_counter()
    vectors = await embed_all(provider, [r[3] for r in rows])
    embedded = time.perf_counter() - started
    print(f"embedded {len(rows)} texts in {embedded:.1f} s ({len(rows) / embedded:.0f}/s)")
    if store.dialect != "postgresql":
        written = await write(store, rows[:count], vectors[:count])
        print(f"wrote {count} vectors in {written:.1f} s ({count / written:.0f}/s)", flush=True)
        return
    async with store.database.engine.begin() as conn:
        definition = (
            await conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": HNSW}
            )
        ).scalar_one()
        await conn.execute(text(f"DROP INDEX {HNSW}"))
    written = await write(store, rows[:count], vectors[:count])
    print(f"wrote {count} vectors without the HNSW index in {written:.1f} s", flush=True)
    started = time.perf_counter()
    async with store.database.engine.begin() as conn:
        await conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        await conn.execute(text(definition))
    print(f"built the HNSW index (migration 0012's) in {time.perf_counter() - started:.1f} s")
    extra = rows[count:]
    written = await write(store, extra, vectors[count:])
    print(
        f"indexer's rate with the index in place: {len(extra) / written:.0f} vectors/s",
        flush=True,
    )
    await store.delete_many([(t, i) for t, i, _, _ in extra], tenant=TENANT)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def timed(
    run: Callable[[list[float]], Awaitable[list[VectorHit]]], queries: Sequence[list[float]]
) -> tuple[list[float], list[list[VectorHit]]]:
    await run(queries[0])  # warm: plans, the NumPy matrix
    times, results = [], []
    for vector in queries:
        began = time.perf_counter()
        results.append(await run(vector))
        times.append((time.perf_counter() - began) * 1000)
    return times, results


def recall_with_ties(approx: Sequence[list[VectorHit]], exact: Sequence[list[VectorHit]]) -> float:
    """As :func:`recall`, a hit scoring as well as exact's tenth counting as found (equal
    distances make "which ten" arbitrary; generated text has many)."""
    shares = []
    for got, truth in zip(approx, exact, strict=True):
        if truth:
            floor = truth[-1].score - 1e-6
            shares.append(min(len(truth), sum(h.score >= floor for h in got)) / len(truth))
    return statistics.fmean(shares) if shares else 1.0


def recall(approx: Sequence[list[VectorHit]], exact: Sequence[list[VectorHit]]) -> float:
    shares = []
    for got, truth in zip(approx, exact, strict=True):
        wanted = {(h.entity_type, h.entity_id) for h in truth}
        if wanted:
            shares.append(len(wanted & {(h.entity_type, h.entity_id) for h in got}) / len(wanted))
    return statistics.fmean(shares) if shares else 1.0


FILTERS: dict[str, dict[str, Any]] = {
    "unfiltered": {},
    "type=product (20%)": {"entity_types": ["product"]},
    "domain=support (5%)": {"domains": ["support"]},
}


async def postgres(
    args: argparse.Namespace, provider: EmbeddingProvider, queries: list[list[float]]
) -> None:
    server = make_url(os.environ.get("DICTAMESH_POSTGRES_URL", DEFAULT_PG))
    url = server.set(database=DATABASE).render_as_string(hide_password=False)
    admin = await asyncpg.connect(
        user=server.username, password=server.password, host=server.host, port=server.port,
        database=server.database,
    )  # fmt: skip
    try:
        if args.rebuild:
            await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await admin.execute(f'CREATE DATABASE "{DATABASE}"')  # from template1: pgvector
    finally:
        await admin.close()
    database = await CatalogDatabase.open(url)
    try:
        store = VectorStore(
            database, provider=provider.name, model=f"{provider.model}-{SHAPE}", dimensions=256
        )
        if await store.count(tenant=TENANT) != args.entries:
            async with database.write(TENANT) as conn:
                await conn.execute(text("DELETE FROM dictamesh_search_vectors"))
            await build(store, provider, args.entries)
        async with database.engine.begin() as conn:  # fresh statistics: the planner's choice
            await conn.execute(text("ANALYZE dictamesh_search_vectors"))
        print(f"\nPostgreSQL, {args.entries} entries, {len(queries)} queries, limit {LIMIT}")
        print(
            f"{'filter':<22} {'ef':>4} {'HNSW p50':>9} {'p95':>8} {'exact p50':>10} {'p95':>8}"
            f" {'p95 ratio':>9} {'recall@10':>9} {'w/ ties':>7}"
        )
        for name, where in FILTERS.items():
            exact_ms, exact = await timed(
                lambda v, w=where: store.nearest(v, tenant=TENANT, limit=LIMIT, exact=True, **w),
                queries,
            )
            for ef in args.ef:
                store.ef_search = ef
                hnsw_ms, hnsw = await timed(
                    lambda v, w=where: store.nearest(v, tenant=TENANT, limit=LIMIT, **w), queries
                )
                share, tied = recall(hnsw, exact), recall_with_ties(hnsw, exact)
                ratio = percentile(hnsw_ms, 0.95) / percentile(exact_ms, 0.95)
                print(
                    f"{name:<22} {ef:>4} {percentile(hnsw_ms, 0.5):>7.2f}ms"
                    f" {percentile(hnsw_ms, 0.95):>6.2f}ms {percentile(exact_ms, 0.5):>8.2f}ms"
                    f" {percentile(exact_ms, 0.95):>6.2f}ms {ratio:>8.2f}x {share:>9.3f}"
                    f" {tied:>7.3f}",
                    flush=True,
                )
                if ef != DEFAULT_EF:
                    continue
                if name == "unfiltered":
                    record(
                        Kpi(
                            f"vector search p95, HNSW, {args.entries} entries (PostgreSQL)",
                            percentile(hnsw_ms, 0.95), "ms", "<= 50",
                            baseline="exact scan, same run", ratio=ratio,
                        )
                    )  # fmt: skip
                record(Kpi(f"HNSW recall@10 vs exact (ties count), {name}", tied, "", ">= 0.9"))
    finally:
        await database.aclose()


async def sqlite(
    args: argparse.Namespace, provider: EmbeddingProvider, queries: list[list[float]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database = await CatalogDatabase.open(f"sqlite+aiosqlite:///{folder}/bench.sqlite3")
        try:
            store = VectorStore(
                database, provider=provider.name, model=provider.model, dimensions=256
            )
            await build(store, provider, args.sqlite_entries)
            how = "sqlite-vec" if await store._has_sqlite_vec() else "NumPy (no extension loading)"
            print(f"\nSQLite, {args.sqlite_entries} entries, exact in {how}")
            for name, where in FILTERS.items():
                ms, _ = await timed(
                    lambda v, w=where: store.nearest(v, tenant=TENANT, limit=LIMIT, **w), queries
                )
                print(
                    f"{name:<22} p50 {percentile(ms, 0.5):6.2f}ms"
                    f"  p95 {percentile(ms, 0.95):6.2f}ms",
                    flush=True,
                )
                if name == "unfiltered":
                    record(
                        Kpi(
                            f"vector search p95, {args.sqlite_entries} entries (SQLite)",
                            percentile(ms, 0.95), "ms", "<= 50",
                        )
                    )  # fmt: skip
        finally:
            await database.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--sqlite-entries", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument(
        "--ef", type=int, nargs="+", default=[40, DEFAULT_EF, 128, 256], help="hnsw.ef_search"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    provider = provider_from_settings(EmbeddingSettings())
    if provider is None:
        raise SystemExit("no embedding provider")
    try:
        rng = random.Random(151)
        texts = [query_text(rng) for _ in range(args.queries)]
        queries = await embed_all(provider, texts)
        if not args.skip_postgres:
            await postgres(args, provider, queries)
        await sqlite(args, provider, queries)
    finally:
        await provider.aclose()


if __name__ == "__main__":
    asyncio.run(main())
