"""Fresh, migrated SQLite catalogs without running the migrations for every test.

Running the Alembic migrations is most of the cost of opening a new catalog, so the suite
migrates ONE template database per session and copies it for each test: every test still
gets its own, isolated, fully migrated and empty catalog.

* ``sqlite_catalog_url`` — the URL of a fresh copy in ``tmp_path`` (hand it to
  ``CatalogService.open`` or to a node's settings; opening it finds it at head);
* ``sqlite_catalog`` — a :class:`CatalogService` open on such a copy;
* :func:`fresh_sqlite_catalog` / :func:`open_memory_catalog` — the same at a path of the
  test's choosing, or as an in-memory database (for fixtures that need that).

Registered for the whole suite by ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool

from dictamesh.catalog import CatalogService
from dictamesh.catalog.migrate import status_engine, upgrade

__all__ = [
    "fresh_sqlite_catalog",
    "open_memory_catalog",
    "sqlite_catalog",
    "sqlite_catalog_template",
    "sqlite_catalog_url",
    "sqlite_url",
]


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _run_in_thread(coro: Coroutine[Any, Any, None]) -> None:
    # A thread of its own: asyncio.run() in the main thread would replace (then unset) the
    # event loop pytest-asyncio may already have installed for the test.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def sqlite_catalog_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One catalog file migrated to head, never opened by a test (tests get copies)."""
    path = tmp_path_factory.mktemp("catalog-template") / "catalog.sqlite3"
    _run_in_thread(upgrade(sqlite_url(path)))
    # The migration's last connection has closed, so WAL content is checkpointed into the
    # file and the -wal/-shm files removed: a plain file copy is then the whole database.
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert not leftovers, f"template catalog left {leftovers}: copies would be incomplete"
    return path


def fresh_sqlite_catalog(template: Path, path: Path) -> str:
    """Copy ``template`` to ``path`` (parents created); its URL. Refuses to overwrite."""
    if path.exists():
        raise FileExistsError(f"{path} exists: a fresh catalog needs a new path")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return sqlite_url(path)


async def open_memory_catalog(template: Path) -> CatalogService:
    """A :class:`CatalogService` on a new in-memory database holding a copy of ``template``."""
    # One shared connection, as CatalogService.open gives ``:memory:``. The service is made
    # first so its connection set-up (foreign keys, ...) applies to that connection.
    engine = create_async_engine("sqlite+aiosqlite:///:memory:", poolclass=StaticPool)
    catalog = CatalogService(engine, owns_engine=True)
    try:
        async with engine.connect() as conn:
            target = (await conn.get_raw_connection()).driver_connection
            assert isinstance(target, aiosqlite.Connection)
            async with aiosqlite.connect(template) as source:
                await source.backup(target)
        if (await status_engine(engine)).pending:
            raise AssertionError("the in-memory copy is not at head")
    except BaseException:
        await catalog.aclose()
        raise
    return catalog


@pytest.fixture
def sqlite_catalog_url(tmp_path: Path, sqlite_catalog_template: Path) -> str:
    """The URL of a fresh migrated catalog file (``tmp_path / "catalog.sqlite3"``)."""
    return fresh_sqlite_catalog(sqlite_catalog_template, tmp_path / "catalog.sqlite3")


@pytest.fixture
async def sqlite_catalog(sqlite_catalog_url: str) -> AsyncIterator[CatalogService]:
    """A :class:`CatalogService` on a fresh migrated catalog file; closed afterwards."""
    async with await CatalogService.open(sqlite_catalog_url, migrate=False) as catalog:
        yield catalog
