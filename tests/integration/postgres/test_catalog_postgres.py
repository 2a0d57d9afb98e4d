"""The catalog contract on a real PostgreSQL server (same models, same migrations)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from dictamesh.catalog import CatalogService
from dictamesh.catalog.migrate import downgrade, status, upgrade
from dictamesh.catalog.models import Base
from tests.unit.catalog.catalog_contract import CatalogContract

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url: str) -> str:
    """Start every run from a known schema: down to base, then up to head."""

    async def reset() -> None:
        await upgrade(postgres_url)
        await downgrade(postgres_url, "base")
        await upgrade(postgres_url)

    asyncio.run(reset())
    return postgres_url


class TestPostgresCatalog(CatalogContract):
    @pytest.fixture
    async def catalog(self, migrated_postgres: str) -> AsyncIterator[CatalogService]:
        catalog = await CatalogService.open(migrated_postgres, migrate=False)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with catalog.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        async with catalog:
            yield catalog


async def test_migrations_are_at_head_on_postgres(migrated_postgres: str) -> None:
    current = await status(migrated_postgres)
    assert current.current == current.head
    assert current.pending == []
