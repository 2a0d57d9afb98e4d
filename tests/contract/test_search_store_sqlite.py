"""The vector store contract on SQLite: NumPy (this Python cannot load sqlite-vec), and
the sqlite-vec query path with ``vec_distance_cosine`` registered as a Python function
(the SQL the store sends where the extension loads)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dictamesh.catalog import CatalogService
from dictamesh.catalog.database import CatalogDatabase
from dictamesh.search.store import VectorStore

from .search_store_contract import DIMS, VectorStoreContract, axis, entry


class TestVectorStoreOnSqlite(VectorStoreContract):
    @pytest.fixture
    def database(self, sqlite_catalog: CatalogService) -> CatalogDatabase:
        return sqlite_catalog.database


def _cosine_distance(a: bytes, b: bytes) -> float:
    x, y = np.frombuffer(a, dtype="<f4"), np.frombuffer(b, dtype="<f4")
    return float(1.0 - np.dot(x, y) / math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y))))


class SqlVecStore(VectorStore):
    """The store's sqlite-vec path, the extension's function stood in by Python."""

    async def _load_sqlite_vec(self, conn) -> bool:  # type: ignore[no-untyped-def]
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if not getattr(driver, "_test_vec", False):
            await driver.create_function("vec_distance_cosine", 2, _cosine_distance)
            driver._test_vec = True
        return True


class TestVectorStoreSqlitePath(VectorStoreContract):
    @pytest.fixture
    def database(self, sqlite_catalog: CatalogService) -> CatalogDatabase:
        return sqlite_catalog.database

    @pytest.fixture
    def store(self, database: CatalogDatabase) -> VectorStore:
        return SqlVecStore(database, provider="hashing", model="words-v1", dimensions=DIMS)


async def test_without_sqlite_vec_search_falls_back_to_numpy_and_says_so_once(
    sqlite_catalog: CatalogService, caplog: pytest.LogCaptureFixture
) -> None:
    store = VectorStore(
        sqlite_catalog.database, provider="hashing", model="words-v1", dimensions=DIMS
    )
    await store.upsert([entry("c1", axis(0))])
    with caplog.at_level("INFO", logger="dictamesh.search.store"):
        for _ in range(3):
            assert [h.entity_id for h in await store.nearest(axis(0), limit=1)] == ["c1"]
    loaded = store._sqlite_vec
    notes = [r for r in caplog.records if "sqlite-vec" in r.getMessage()]
    assert len(notes) == (0 if loaded else 1)


async def test_numpy_matrix_follows_writes_of_another_store(
    sqlite_catalog: CatalogService,
) -> None:
    one = VectorStore(
        sqlite_catalog.database, provider="p", model="m", dimensions=DIMS, matrix_ttl=0
    )
    two = VectorStore(sqlite_catalog.database, provider="p", model="m", dimensions=DIMS)
    await one.upsert([entry("c1", axis(0))])
    assert [h.entity_id for h in await one.nearest(axis(1), limit=5)] == ["c1"]
    await two.upsert([entry("c2", axis(1))])  # one's cached matrix must not hide it
    assert [h.entity_id for h in await one.nearest(axis(1), limit=5)] == ["c2", "c1"]
    await two.delete("customer", "c2")
    assert [h.entity_id for h in await one.nearest(axis(1), limit=5)] == ["c1"]
