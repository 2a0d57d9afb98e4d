"""SQLite specifics of the catalog: WAL and foreign keys, file creation, concurrent writers.

(The catalog contract on SQLite is ``tests/contract/test_catalog_sqlite.py``.) These tests
open new files on purpose, so they migrate instead of copying the session's template.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.contract.catalog_contract import SCHEMAS, TOPIC, invoice_event

from dictamesh.catalog import CatalogIngestor, CatalogService


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
