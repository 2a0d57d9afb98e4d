"""The governance store contract on SQLite, each test on a fresh copy of the migrated
template catalog (``tests/catalog_fixtures.py``)."""

from __future__ import annotations

import pytest

from dictamesh.catalog import CatalogService

from .governance_store_contract import GovernanceStoreContract


class TestGovernanceOnSqlite(GovernanceStoreContract):
    @pytest.fixture
    def catalog(self, sqlite_catalog: CatalogService) -> CatalogService:
        return sqlite_catalog
