"""The catalog contract on a real PostgreSQL server (same models, same migrations)."""

from __future__ import annotations

import pytest

from dictamesh.catalog import CatalogService
from dictamesh.catalog.migrate import status
from tests.unit.catalog.catalog_contract import CatalogContract

pytestmark = pytest.mark.postgres


class TestPostgresCatalog(CatalogContract):
    @pytest.fixture
    def catalog(self, postgres_catalog: CatalogService) -> CatalogService:
        return postgres_catalog


async def test_migrations_are_at_head_on_postgres(migrated_postgres: str) -> None:
    current = await status(migrated_postgres)
    assert current.current == current.head
    assert current.pending == []
