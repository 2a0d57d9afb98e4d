"""The catalog contract on SQLite: a WAL database file per test, and in memory.

Both start from a copy of the session's migrated template (``tests/catalog_fixtures.py``):
a fresh, isolated catalog at head for every test, without migrating each time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dictamesh.catalog import CatalogService
from tests.catalog_fixtures import open_memory_catalog

from .catalog_contract import CatalogContract


class TestSqliteFileCatalog(CatalogContract):
    @pytest.fixture
    def catalog(self, sqlite_catalog: CatalogService) -> CatalogService:
        return sqlite_catalog


class TestSqliteMemoryCatalog(CatalogContract):
    @pytest.fixture
    async def catalog(self, sqlite_catalog_template: Path) -> AsyncIterator[CatalogService]:
        async with await open_memory_catalog(sqlite_catalog_template) as catalog:
            yield catalog
