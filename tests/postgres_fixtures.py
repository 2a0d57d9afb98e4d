"""PostgreSQL fixtures: the test database as the application role and as the tables' owner.

Shared by ``tests/integration/postgres`` and the catalog contract on PostgreSQL
(``tests/contract``); registered for the whole suite by ``tests/conftest.py``. Every fixture
here depends on ``postgres_url``, so without a server they skip (or fail in CI) as
``tests/conftest.py`` says.

``scripts/postgres-init.sql`` sets up two roles (ADR 0004): ``dictamesh_owner`` owns the
catalog's tables and runs migrations; ``dictamesh`` (the application, ``postgres_url``) may
only read and write rows, under row-level security. So migrating and ``TRUNCATE`` (which
ignores row-level security) happen as the owner here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from dictamesh.catalog import CatalogService
from dictamesh.catalog.migrate import downgrade, upgrade
from dictamesh.catalog.models import Base
from dictamesh.cluster.tables import cluster_metadata
from dictamesh.governance.tables import consent_metadata
from dictamesh.notifications.tables import notification_metadata
from dictamesh.quality.tables import quality_metadata
from dictamesh.saga.store import QUEUE, SAGAS, STEPS
from dictamesh.search.tables import search_metadata

OWNER_ENV = "DICTAMESH_TEST_POSTGRES_OWNER_URL"
ADMIN_ENV = "DICTAMESH_TEST_POSTGRES_ADMIN_URL"

SAGA_TABLES = (SAGAS, STEPS, QUEUE)  # layer 7's tables, in the catalog database

LOCK_TIMEOUT = "30s"
OPEN_TRANSACTIONS = """
SELECT pid, usename, state, xact_start, left(query, 200) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
"""


def _as_role(url: str, env: str, role: str) -> str:
    explicit = os.environ.get(env)
    if explicit:
        return explicit
    return make_url(url).set(username=role).render_as_string(hide_password=False)


def owner_url(url: str) -> str:
    """``url`` as the catalog tables' owner (or ``$DICTAMESH_TEST_POSTGRES_OWNER_URL``)."""
    return _as_role(url, OWNER_ENV, "dictamesh_owner")


def admin_url(url: str) -> str:
    """``url`` as the superuser of scripts/postgres-init.sql (or the env's)."""
    return _as_role(url, ADMIN_ENV, "dictamesh_admin")


async def truncate_catalog(url: str) -> None:
    """Empty every catalog table (as ``url``'s role, which must own them)."""
    tables = ", ".join(
        t.name
        for t in [
            *Base.metadata.sorted_tables,
            *SAGA_TABLES,
            *notification_metadata.sorted_tables,
            *cluster_metadata.sorted_tables,
            *search_metadata.sorted_tables,
            *quality_metadata.sorted_tables,
            *consent_metadata.sorted_tables,
        ]
    )
    engine = create_async_engine(url)
    try:
        try:
            async with engine.begin() as conn:
                # a transaction an earlier test left open would block TRUNCATE for ever
                await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        except DBAPIError as exc:
            if "lock timeout" not in str(exc):
                raise
            async with engine.connect() as conn:
                holders = (await conn.execute(text(OPEN_TRANSACTIONS))).all()
            pytest.fail(f"cannot empty the catalog: transactions left open: {holders}")
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_owner_url(postgres_url: str) -> str:
    url = owner_url(postgres_url)

    async def check() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(check())
    except (DBAPIError, OSError) as exc:
        pytest.fail(
            f"cannot connect as the catalog owner ({make_url(url).username}): {exc}."
            " Re-apply scripts/postgres-init.sql (`scripts/services.sh up` does) or set"
            f" {OWNER_ENV}"
        )
    return url


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url: str, postgres_owner_url: str) -> str:
    """Start every run from a known schema: down to base, then up to head (as the owner).

    Returns the *application* role's URL.
    """

    async def reset() -> None:
        await upgrade(postgres_owner_url)
        # emptied first: a downgrade may refuse data only the newer schema allows (0004:
        # one event id in two tenants)
        await truncate_catalog(postgres_owner_url)
        await downgrade(postgres_owner_url, "base")
        await upgrade(postgres_owner_url)

    asyncio.run(reset())
    return postgres_url


@pytest.fixture
async def empty_catalog_url(migrated_postgres: str, postgres_owner_url: str) -> str:
    """``migrated_postgres`` with every catalog table emptied; the application's URL."""
    await truncate_catalog(postgres_owner_url)
    return migrated_postgres


@pytest.fixture
async def postgres_catalog(empty_catalog_url: str) -> AsyncIterator[CatalogService]:
    """A :class:`CatalogService` on the emptied test catalog, as the application role."""
    async with await CatalogService.open(empty_catalog_url, migrate=False) as catalog:
        yield catalog
