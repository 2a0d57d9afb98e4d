"""Catalog databases for the cluster tests: a fresh SQLite file, or the PostgreSQL test
database (emptied) as the application role, under row-level security."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.catalog_fixtures import fresh_sqlite_catalog

from dictamesh.catalog.database import CatalogDatabase


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_catalog_template: Path
) -> str:
    if request.param == "sqlite":
        return fresh_sqlite_catalog(sqlite_catalog_template, tmp_path / "catalog.sqlite3")
    url: str = request.getfixturevalue("empty_catalog_url")
    return url


@pytest.fixture
async def database(catalog_url: str) -> AsyncIterator[CatalogDatabase]:
    db = await CatalogDatabase.open(catalog_url, migrate=False)
    try:
        yield db
    finally:
        await db.aclose()


@pytest.fixture
async def other_database(catalog_url: str) -> AsyncIterator[CatalogDatabase]:
    """A second handle on the same database: another node's engine."""
    db = await CatalogDatabase.open(catalog_url, migrate=False)
    try:
        yield db
    finally:
        await db.aclose()
