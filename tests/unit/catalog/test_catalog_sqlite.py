"""The catalog contract on SQLite: a WAL database file per test, and in memory."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.unit.catalog.catalog_contract import CatalogContract

from dictamesh.catalog import CatalogService
from dictamesh.catalog.migrate import upgrade


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database file, copied for each test (migrating each time is slower)."""
    path = tmp_path_factory.mktemp("catalog") / "template.sqlite3"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


class TestSqliteFileCatalog(CatalogContract):
    @pytest.fixture
    async def catalog(
        self, tmp_path: Path, migrated_template: Path
    ) -> AsyncIterator[CatalogService]:
        path = tmp_path / "catalog.sqlite3"
        shutil.copy(migrated_template, path)
        catalog = await CatalogService.open(f"sqlite+aiosqlite:///{path}", migrate=False)
        async with catalog:
            yield catalog


class TestSqliteMemoryCatalog(CatalogContract):
    @pytest.fixture
    async def catalog(self) -> AsyncIterator[CatalogService]:
        async with await CatalogService.open("sqlite+aiosqlite:///:memory:") as catalog:
            yield catalog


async def test_wal_and_foreign_keys_are_on(tmp_path: Path) -> None:
    catalog = await CatalogService.open(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    async with catalog, catalog.engine.connect() as conn:
        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
    assert (mode, fks) == ("wal", 1)


async def test_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "catalog.db"
    async with await CatalogService.open(f"sqlite+aiosqlite:///{path}") as catalog:
        assert await catalog.ping()
    assert path.exists()


async def test_concurrent_writers_on_one_file(tmp_path: Path) -> None:
    from tests.unit.catalog.catalog_contract import SCHEMAS, TOPIC, invoice_event

    from dictamesh.catalog import CatalogIngestor

    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    async with await CatalogService.open(url) as a, await CatalogService.open(url) as b:
        ia, ib = CatalogIngestor(a, SCHEMAS), CatalogIngestor(b, SCHEMAS)
        events = [invoice_event(f"i-{n}") for n in range(12)]
        results = await asyncio.gather(
            *[(ia if n % 2 else ib).handle(e, TOPIC) for n, e in enumerate(events)],
            *[ia.handle(e, TOPIC) for e in events[:4]],  # duplicates racing the originals
        )
        assert sum(results) == 12
        assert await a.count_entities("invoice") == 12
