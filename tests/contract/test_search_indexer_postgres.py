"""The search indexer contract on PostgreSQL (pgvector, row-level security)."""

from __future__ import annotations

import pytest

from dictamesh.catalog import CatalogService

from .search_indexer_contract import SearchIndexerContract

pytestmark = pytest.mark.postgres


class TestSearchIndexerOnPostgres(SearchIndexerContract):
    @pytest.fixture
    def catalog(self, postgres_catalog: CatalogService) -> CatalogService:
        return postgres_catalog
