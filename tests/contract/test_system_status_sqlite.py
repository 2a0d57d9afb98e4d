"""The system-status contract (outbox notices, cache status) on SQLite."""

from __future__ import annotations

import pytest

from dictamesh.catalog import CatalogService

from .system_status_contract import SystemStatusContract


class TestSqliteSystemStatus(SystemStatusContract):
    @pytest.fixture
    def catalog(self, sqlite_catalog: CatalogService) -> CatalogService:
        return sqlite_catalog
