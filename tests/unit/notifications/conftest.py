from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dictamesh.catalog.database import CatalogDatabase


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    # the same tests on both engines: SKIP LOCKED claims and RLS only exist on PostgreSQL
    fixture = "sqlite_catalog_url" if request.param == "sqlite" else "empty_catalog_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[CatalogDatabase]:
    db = await CatalogDatabase.open(database_url, migrate=False)
    try:
        yield db
    finally:
        await db.aclose()
