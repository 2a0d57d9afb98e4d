"""The system-status contract (outbox notices, cache status) on PostgreSQL, as the
application role under row-level security (marker ``postgres``)."""

from __future__ import annotations

import pytest

from dictamesh.catalog import CatalogService

from .system_status_contract import SystemStatusContract

pytestmark = pytest.mark.postgres


class TestPostgresSystemStatus(SystemStatusContract):
    @pytest.fixture
    def catalog(self, postgres_catalog: CatalogService) -> CatalogService:
        return postgres_catalog
