"""The vector store contract, run on SQLite and on PostgreSQL (pgvector).

Vectors have 256 dimensions, the size migration 0012's HNSW index is built for, so on
PostgreSQL the HNSW path is the one exercised.
"""

from __future__ import annotations

import math
import random

import pytest
from sqlalchemy import text

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.core.errors import ValidationError
from dictamesh.search.store import MAX_LIMIT, EntityVectors, VectorStore, erase_vectors

DIMS = 256


def unit(values: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in values))
    return [x / norm for x in values]


def axis(i: int, tilt: float = 0.0, j: int = 1) -> list[float]:
    """A unit vector along axis ``i``, tilted towards axis ``j`` by ``tilt``."""
    v = [0.0] * DIMS
    v[i] = 1.0
    v[j] += tilt
    return unit(v)


def entry(
    entity_id: str,
    *vectors: list[float],
    entity_type: str = "customer",
    domain: str = "crm",
    tenant: str = "default",
    text_hash: str = "h",
) -> EntityVectors:
    return EntityVectors(tenant, entity_type, entity_id, domain, "src", text_hash, list(vectors))


class VectorStoreContract:
    @pytest.fixture
    def store(self, database: CatalogDatabase) -> VectorStore:
        return VectorStore(database, provider="hashing", model="words-v1", dimensions=DIMS)

    @pytest.fixture(params=[False, True], ids=["index", "exact"])
    def exact(self, request: pytest.FixtureRequest) -> bool:
        return bool(request.param)

    async def test_nearest_orders_by_cosine_similarity(
        self, store: VectorStore, exact: bool
    ) -> None:
        await store.upsert(
            [entry("far", axis(1)), entry("near", axis(0, 0.1)), entry("mid", axis(0, 1.0))]
        )
        hits = await store.nearest(axis(0), limit=3, exact=exact)
        assert [h.entity_id for h in hits] == ["near", "mid", "far"]
        assert hits[0].score == pytest.approx(1 / math.sqrt(1.01), abs=1e-5)
        assert hits[1].score == pytest.approx(1 / math.sqrt(2), abs=1e-5)
        assert hits[2].score == pytest.approx(0.0, abs=1e-5)
        assert hits[0].domain == "crm"
        assert hits[0].entity_type == "customer"

    async def test_an_entity_scores_by_its_best_chunk_once(
        self, store: VectorStore, exact: bool
    ) -> None:
        await store.upsert(
            [entry("long", axis(5), axis(0, 0.2), axis(6)), entry("short", axis(0, 0.5))]
        )
        hits = await store.nearest(axis(0), limit=10, exact=exact)
        assert [h.entity_id for h in hits] == ["long", "short"]
        assert hits[0].score == pytest.approx(1 / math.sqrt(1.04), abs=1e-5)

    async def test_ties_are_ordered_by_type_then_id(self, store: VectorStore, exact: bool) -> None:
        same = axis(0)
        await store.upsert(
            [
                entry("b", same, entity_type="invoice"),
                entry("a", same, entity_type="invoice"),
                entry("z", same, entity_type="customer"),
            ]
        )
        hits = await store.nearest(same, limit=3, exact=exact)
        assert [(h.entity_type, h.entity_id) for h in hits] == [
            ("customer", "z"),
            ("invoice", "a"),
            ("invoice", "b"),
        ]

    async def test_ties_at_the_limit_keep_the_first_by_type_and_id(
        self, store: VectorStore, exact: bool
    ) -> None:
        await store.upsert([entry(f"c{i:02d}", axis(0)) for i in reversed(range(12))])
        await store.upsert([entry("near", axis(0, 0.01), entity_type="another")])
        hits = await store.nearest(axis(0), limit=5, exact=exact)
        assert [h.entity_id for h in hits] == ["c00", "c01", "c02", "c03", "c04"]

    async def test_filters_apply_inside_the_query(self, store: VectorStore, exact: bool) -> None:
        rnd = random.Random(7)
        # many close customers, a few far products: a filtered query must still fill its
        # limit with products (filtering the unfiltered top hits would find none)
        close = [entry(f"c{i}", axis(0, rnd.random() * 0.1)) for i in range(60)]
        far = [
            entry(f"p{i}", axis(2 + i, 0.3), entity_type="product", domain="shop") for i in range(8)
        ]
        await store.upsert([*close, *far])
        hits = await store.nearest(axis(0), entity_types=["product"], limit=5, exact=exact)
        assert len(hits) == 5
        assert {h.entity_type for h in hits} == {"product"}
        hits = await store.nearest(axis(0), domains=["shop"], limit=8, exact=exact)
        assert sorted(h.entity_id for h in hits) == sorted(f"p{i}" for i in range(8))
        assert await store.nearest(axis(0), entity_types=["nothing"], limit=5, exact=exact) == []

    async def test_tenants_never_see_each_others_vectors(
        self, store: VectorStore, exact: bool
    ) -> None:
        await store.upsert([entry("a1", axis(0), tenant="acme")])
        await store.upsert([entry("g1", axis(1), tenant="globex")])
        acme = await store.nearest(axis(1), tenant="acme", limit=10, exact=exact)
        assert [h.entity_id for h in acme] == ["a1"]
        assert await store.nearest(axis(0), tenant="other", limit=10, exact=exact) == []
        assert await store.vectors_of("customer", "a1", tenant="globex") == []
        assert await store.count(tenant="acme") == 1
        assert await store.count(tenant="globex") == 1

    async def test_upsert_replaces_every_chunk(self, store: VectorStore) -> None:
        await store.upsert([entry("c1", axis(0), axis(1), axis(2))])
        assert await store.count() == 3
        await store.upsert([entry("c1", axis(3), text_hash="h2")])
        assert await store.count() == 1
        [vector] = await store.vectors_of("customer", "c1")
        assert vector == pytest.approx(axis(3), abs=1e-6)
        prints = await store.fingerprints([("customer", "c1"), ("customer", "none")])
        assert list(prints) == [("customer", "c1")]
        assert prints[("customer", "c1")].text_hash == "h2"
        assert store.current(prints[("customer", "c1")], "h2")
        assert not store.current(prints[("customer", "c1")], "h1")
        assert not store.current(None, "h2")

    async def test_delete_and_erase(self, store: VectorStore, database: CatalogDatabase) -> None:
        await store.upsert([entry("c1", axis(0), axis(1)), entry("c2", axis(2))])
        assert await store.delete("customer", "c1") == 2
        assert await store.nearest(axis(0), limit=5) != []
        assert [h.entity_id for h in await store.nearest(axis(0), limit=5)] == ["c2"]
        async with database.write("default") as conn:
            assert await store.erase(conn, "default", "customer", "c2") == 1
        async with database.write("default") as conn:  # the plain step: nothing left
            assert await erase_vectors(conn, "default", "customer", "c2") == 0
        assert await store.count() == 0
        assert await store.nearest(axis(0), limit=5) == []

    async def test_another_models_vectors_are_not_compared(
        self, store: VectorStore, database: CatalogDatabase
    ) -> None:
        await store.upsert([entry("old", axis(0))])
        newer = VectorStore(database, provider="hashing", model="words-v2", dimensions=DIMS)
        assert await newer.nearest(axis(0), limit=5) == []
        assert await newer.vectors_of("customer", "old") == []
        print_ = (await newer.fingerprints([("customer", "old")]))[("customer", "old")]
        assert not newer.current(print_, "h")  # so the indexer embeds it again

    async def test_keys_page_in_order(self, store: VectorStore) -> None:
        await store.upsert([entry(f"c{i}", axis(0), axis(1)) for i in range(5)])
        first = await store.keys(limit=3)
        rest = await store.keys(after=first[-1], limit=3)
        assert [k[1] for k in first + rest] == [f"c{i}" for i in range(5)]

    async def test_similar_entities_exclude_the_entity_itself(self, store: VectorStore) -> None:
        await store.upsert([entry("c1", axis(0)), entry("c2", axis(0, 0.3)), entry("c3", axis(1))])
        [vector] = await store.vectors_of("customer", "c1")
        hits = await store.nearest(vector, limit=1, exclude=("customer", "c1"))
        assert [h.entity_id for h in hits] == ["c2"]

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"limit": 0},
            {"limit": MAX_LIMIT + 1},
            {"limit": True},
            {"entity_types": []},
            {"entity_types": [f"t{i}" for i in range(101)]},
            {"domains": ["x" * 129]},
        ],
    )
    async def test_bad_queries_are_refused(self, store: VectorStore, kwargs: dict) -> None:
        with pytest.raises(ValidationError):
            await store.nearest(axis(0), **kwargs)

    @pytest.mark.parametrize(
        "vector",
        [
            [1.0] * (DIMS - 1),
            [1.0] * (DIMS + 1),
            [math.nan] * DIMS,
            [math.inf] * DIMS,
            ["x"] * DIMS,
        ],
    )
    async def test_bad_vectors_are_refused(self, store: VectorStore, vector: list) -> None:
        with pytest.raises(ValidationError):
            await store.nearest(vector, limit=5)
        with pytest.raises(ValidationError):
            await store.upsert([entry("c1", vector)])
        assert await store.count() == 0


async def raw_count(database: CatalogDatabase, tenant: str) -> int:
    """Rows the database itself shows ``tenant`` (row-level security on PostgreSQL)."""
    async with database.read(tenant) as conn:
        return int(
            (await conn.execute(text("SELECT count(*) FROM dictamesh_search_vectors"))).scalar_one()
        )
