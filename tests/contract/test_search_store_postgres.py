"""The vector store contract on PostgreSQL (pgvector, HNSW), plus row-level security and
the index actually used."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from dictamesh.catalog import CatalogService
from dictamesh.catalog.database import CatalogDatabase
from dictamesh.search.store import VectorStore
from dictamesh.search.tables import pg_vector_text

from .search_store_contract import DIMS, VectorStoreContract, axis, entry, raw_count

pytestmark = pytest.mark.postgres


class TestVectorStoreOnPostgres(VectorStoreContract):
    @pytest.fixture
    def database(self, postgres_catalog: CatalogService) -> CatalogDatabase:
        return postgres_catalog.database

    @pytest.fixture
    def store(self, database: CatalogDatabase) -> VectorStore:
        # exact_below=0: filtered queries take the HNSW path too (the tables are tiny)
        return VectorStore(
            database, provider="hashing", model="words-v1", dimensions=DIMS, exact_below=0
        )

    async def test_a_selective_filter_is_answered_exactly(self, database: CatalogDatabase) -> None:
        exact_calls: list[bool] = []

        class Watched(VectorStore):
            async def _pg_exact(self, *args: Any, **kwargs: Any) -> Any:
                exact_calls.append(True)
                return await super()._pg_exact(*args, **kwargs)

        store = Watched(database, provider="hashing", model="words-v1", dimensions=DIMS)
        await store.upsert([entry(f"c{i}", axis(i % 5, 0.1)) for i in range(20)])
        hits = await store.nearest(axis(0), limit=3, entity_types=["customer"])
        assert exact_calls == [True]  # the planner expects few rows: no graph walk
        assert hits[0].entity_id in {"c0", "c5", "c10", "c15"}
        await store.nearest(axis(0), limit=3)  # unfiltered: the index
        assert exact_calls == [True]

    async def test_row_level_security_hides_other_tenants_rows(
        self, store: VectorStore, database: CatalogDatabase
    ) -> None:
        await store.upsert([entry("a1", axis(0), tenant="acme")])
        await store.upsert(
            [entry("g1", axis(0), tenant="globex"), entry("g2", axis(1), tenant="globex")]
        )
        # no tenant filter in the SQL: the database itself shows a tenant its rows only
        assert await raw_count(database, "acme") == 1
        assert await raw_count(database, "globex") == 2
        assert await raw_count(database, "nobody") == 0

    async def test_unfiltered_queries_use_the_hnsw_index(
        self, store: VectorStore, database: CatalogDatabase, postgres_owner_url: str
    ) -> None:
        await store.upsert([entry(f"c{i}", axis(i % 200, 0.1 * (i % 7))) for i in range(400)])
        async with database.read("default") as conn:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            await conn.execute(text("SET LOCAL enable_bitmapscan = off"))
            # at 400 rows a btree on tenant_id plus a sort costs less than the graph walk;
            # without sorts only an index that yields the order itself (HNSW) is left
            await conn.execute(text("SET LOCAL enable_sort = off"))
            plan = "\n".join(
                r[0]
                for r in await conn.execute(
                    text(
                        "EXPLAIN SELECT entity_id FROM dictamesh_search_vectors"
                        " WHERE tenant_id = 'default' AND provider = 'hashing'"
                        " AND model = 'words-v1' AND dimensions = 256"
                        " ORDER BY (embedding::vector(256)) <=> CAST(:q AS text)::vector(256)"
                        " LIMIT 10"
                    ),
                    {"q": pg_vector_text(axis(0))},
                )
            )
        assert "ix_dictamesh_search_vectors_hnsw_256" in plan, plan
