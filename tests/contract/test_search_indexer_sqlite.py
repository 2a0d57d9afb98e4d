"""The search indexer contract on SQLite."""

from __future__ import annotations

import pytest

from dictamesh.catalog import CatalogService

from .search_indexer_contract import SearchIndexerContract


class TestSearchIndexerOnSqlite(SearchIndexerContract):
    @pytest.fixture
    def catalog(self, sqlite_catalog: CatalogService) -> CatalogService:
        return sqlite_catalog
