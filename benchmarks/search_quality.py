"""Search quality of text, semantic and hybrid search on the demo's sample data, and latency.

    python benchmarks/search_quality.py                    # embedded SQLite catalog
    python benchmarks/search_quality.py --postgres         # PostgreSQL (trigram + pgvector)
    python benchmarks/search_quality.py --repeat 20 --show-misses

The sample data (``dictamesh.sources.seed.generate(42)``: the live customers, the products
and the invoices) is mapped by the reference adapters exactly as a demo node ingests it,
registered in a fresh catalog and embedded by the search indexer with the ``wordllama``
provider (the fields no caller could be kept from reading: customers' names, e-mails and
addresses are PII, so they are searchable by text only).

Each labelled query of ``benchmarks/search_queries.yaml`` is asked in the three modes
through :class:`~dictamesh.search.hybrid.SearchService` (what ``GET /api/v1/search``
answers from), limit 10, by two callers: an admin (nothing hidden) and an anonymous caller
under the built-in policy (PII values neither match nor score). Scores:

* **recall@10**: wanted entities in the first 10 hits over ``min(10, wanted)``;
* **MRR**: the mean of ``1 / rank`` of the first wanted hit (0 when none is in the 10).

Text is the baseline: each mode's figures are also given as a ratio to text's, measured in
the same process on the same catalog. Latency: every query ``--repeat`` times per mode
(after one warm-up round), in process (no HTTP), p50 and p95 in milliseconds.

PostgreSQL: a database of its own (``dictamesh_bench_search``, created by the app role,
which has CREATEDB; emptied at each run) at ``DICTAMESH_POSTGRES_URL`` (default: the
``scripts/services.sh`` one; only the database name is replaced).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from sqlalchemy.engine import make_url

from dictamesh.adapters.reference.customers_directus import DirectusCustomersAdapter
from dictamesh.adapters.reference.invoices_ecommerce import EcommerceInvoicesAdapter
from dictamesh.adapters.reference.products_rest import ThirdPartyProductsAdapter
from dictamesh.catalog.service import CatalogService
from dictamesh.core.models import EntitySchema
from dictamesh.core.settings import AdapterConfig, EmbeddingSettings, SearchSettings
from dictamesh.embeddings.registry import provider_from_settings
from dictamesh.governance.enforce import CHANNEL_REST, Governance
from dictamesh.search.fields import FieldChooser
from dictamesh.search.hybrid import SearchScope, SearchService
from dictamesh.search.indexer import SearchIndexer
from dictamesh.search.request import SearchMode, SearchRequest
from dictamesh.search.store import VectorStore
from dictamesh.sources.seed import generate

QUERIES = Path(__file__).with_name("search_queries.yaml")
DEFAULT_PG = "postgresql+asyncpg://dictamesh:dictamesh@127.0.0.1:5432/dictamesh"
BENCH_DB = "dictamesh_bench_search"
MODES = (SearchMode.TEXT, SearchMode.SEMANTIC, SearchMode.HYBRID)
K = 10


@dataclass
class Labelled:
    q: str
    kind: str
    want: list[str]


@dataclass
class Score:
    recall: list[float] = field(default_factory=list)
    rr: list[float] = field(default_factory=list)
    millis: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def load_queries(path: Path) -> list[Labelled]:
    raw = yaml.safe_load(path.read_text())
    return [
        Labelled(str(q["q"]), str(q["kind"]), [str(w) for w in q["want"]]) for q in raw["queries"]
    ]


def entities() -> tuple[dict[str, EntitySchema], list[Any]]:
    """The seed data as the reference adapters map it (archived customers are deletions)."""
    data = generate(42)
    config = AdapterConfig(name="bench", kind="bench", base_url="http://127.0.0.1:9")
    sets = (
        (DirectusCustomersAdapter, [c for c in data.customers if c["status"] == "published"]),
        (ThirdPartyProductsAdapter, data.products),
        (EcommerceInvoicesAdapter, data.invoices),
    )
    schemas: dict[str, EntitySchema] = {}
    out = []
    for cls, rows in sets:
        adapter = cls(config)
        schemas[adapter.entity_type] = adapter.schema
        out.extend(adapter.transform(row) for row in rows)
    return schemas, out


async def postgres_url() -> str:
    base = make_url(os.environ.get("DICTAMESH_POSTGRES_URL", DEFAULT_PG))
    plain = base.set(drivername="postgresql")
    conn = await asyncpg.connect(plain.render_as_string(hide_password=False))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {BENCH_DB}")
    finally:
        await conn.close()
    return base.set(database=BENCH_DB).render_as_string(hide_password=False)


@dataclass
class Bench:
    catalog: CatalogService
    service: SearchService
    schemas: dict[str, EntitySchema]
    entries: int
    index_seconds: float
    vectors: int


async def build(url: str) -> Bench:
    catalog = await CatalogService.open(url)
    schemas, items = entities()
    for schema in schemas.values():
        await catalog.register_schema(schema)
    for entity in items:
        await catalog.register_entity(entity)
    settings = SearchSettings()
    provider = provider_from_settings(EmbeddingSettings())
    assert provider is not None, "the wordllama provider is needed: pip install 'dictamesh[search]'"
    store = VectorStore.from_settings(
        catalog.database, settings, provider=provider.name, model=provider.model
    )
    indexer = SearchIndexer(
        catalog.database,
        store,
        provider,
        FieldChooser(Governance().policy, settings.fields),
        lambda: schemas,
    )
    started = time.perf_counter()
    await indexer.reconcile()
    index_seconds = time.perf_counter() - started
    sources = {"customer": "directus", "product": "products_api", "invoice": "ecommerce"}
    service = SearchService(
        catalog, settings, provider=provider, store=store, type_sources=lambda: sources
    )
    return Bench(catalog, service, schemas, len(items), index_seconds, await store.count())


def scope(bench: Bench, caller: str) -> SearchScope:
    async def lookup(entity_type: str) -> EntitySchema | None:
        return bench.schemas.get(entity_type)

    governance = None if caller == "admin" else Governance()  # the built-in policy
    return SearchScope(governance, None, CHANNEL_REST, lookup, list(bench.schemas))


async def measure(
    bench: Bench, queries: Sequence[Labelled], caller: str, repeat: int
) -> dict[SearchMode, Score]:
    who = scope(bench, caller)
    scores = {mode: Score() for mode in MODES}
    for mode in MODES:
        for query in queries:
            request = SearchRequest.checked(query.q, mode=mode, limit=K)
            await bench.service.search(request, who)  # warm-up (model load, caches)
            answer = None
            for _ in range(repeat):
                started = time.perf_counter()
                answer = await bench.service.search(request, who)
                scores[mode].millis.append((time.perf_counter() - started) * 1000)
            assert answer is not None
            found = [f"{h.entity_type}:{h.entity_id}" for h in answer.hits]
            wanted = set(query.want)
            hit = len(wanted.intersection(found[:K]))
            scores[mode].recall.append(hit / min(K, len(wanted)))
            first = next((i for i, key in enumerate(found[:K], 1) if key in wanted), None)
            scores[mode].rr.append(0.0 if first is None else 1.0 / first)
            if first is None:
                scores[mode].misses.append(f"{query.kind:<8} {query.q!r}: {found[:3]}")
    return scores


def p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def ratio(value: float, base: float) -> str:
    return "n/a" if base == 0 else f"{value / base:.2f}x"


def table(scores: Mapping[SearchMode, Score], title: str, show_misses: bool) -> None:
    base = scores[SearchMode.TEXT]
    base_recall, base_mrr = statistics.fmean(base.recall), statistics.fmean(base.rr)
    print(f"\n{title}")
    print(f"{'mode':<9} {'recall@10':>9} {'vs text':>8} {'MRR':>6} {'vs text':>8}"
          f" {'p50 ms':>7} {'p95 ms':>7}")  # fmt: skip
    for mode, score in scores.items():
        recall, mrr = statistics.fmean(score.recall), statistics.fmean(score.rr)
        print(
            f"{mode.value:<9} {recall:>9.3f} {ratio(recall, base_recall):>8} {mrr:>6.3f}"
            f" {ratio(mrr, base_mrr):>8} {statistics.median(score.millis):>7.1f}"
            f" {p95(score.millis):>7.1f}"
        )
    if show_misses:
        for mode, score in scores.items():
            for miss in score.misses:
                print(f"  miss {mode.value:<8} {miss}")


def by_kind(queries: Sequence[Labelled], scores: Mapping[SearchMode, Score]) -> None:
    kinds = sorted({q.kind for q in queries})
    print(f"\nrecall@10 by kind (admin)\n{'kind':<9} {'n':>3}" + "".join(
        f" {m.value:>9}" for m in MODES))  # fmt: skip
    for kind in kinds:
        idx = [i for i, q in enumerate(queries) if q.kind == kind]
        cells = "".join(
            f" {statistics.fmean(scores[m].recall[i] for i in idx):>9.2f}" for m in MODES
        )
        print(f"{kind:<9} {len(idx):>3}{cells}")


async def main(args: argparse.Namespace) -> None:
    queries = load_queries(args.queries)
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            url, where = await postgres_url(), f"PostgreSQL ({BENCH_DB})"
        else:
            url, where = f"sqlite+aiosqlite:///{tmp}/catalog.sqlite3", "embedded SQLite"
        bench = await build(url)
        try:
            print(
                f"{where}: {bench.entries} entries, {bench.vectors} vectors"
                f" (wordllama l2_supercat 256), indexed in {bench.index_seconds:.1f} s;"
                f" {len(queries)} labelled queries, limit {K}, {args.repeat} timed runs each"
            )
            admin = await measure(bench, queries, "admin", args.repeat)
            table(admin, "admin (nothing hidden)", args.show_misses)
            by_kind(queries, admin)
            anonymous = await measure(bench, queries, "anonymous", args.repeat)
            table(anonymous, "anonymous, built-in policy (PII hidden)", args.show_misses)
        finally:
            await bench.catalog.aclose()
            provider = bench.service.provider
            if provider is not None:
                await provider.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query and mode")
    parser.add_argument("--queries", type=Path, default=QUERIES)
    parser.add_argument("--show-misses", action="store_true", help="queries with no hit")
    sys.exit(asyncio.run(main(parser.parse_args())))
