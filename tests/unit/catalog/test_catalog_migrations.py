"""Migrations: they build exactly the models' schema, go down and up again, report status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from dictamesh.catalog import CatalogService, migrate
from dictamesh.catalog._dialect import create_catalog_engine
from dictamesh.catalog.models import metadata
from dictamesh.cluster.tables import cluster_metadata
from dictamesh.core.errors import CatalogError, ConfigurationError
from dictamesh.governance.tables import consent_metadata
from dictamesh.notifications.tables import notification_metadata
from dictamesh.quality.tables import quality_metadata
from dictamesh.saga.store import saga_metadata
from dictamesh.search.tables import search_metadata

TABLES = {
    "dictamesh_entity_catalog",
    "dictamesh_entity_relationships",
    "dictamesh_schemas",
    "dictamesh_schema_config",
    "dictamesh_event_log",
    "dictamesh_data_lineage",
    "dictamesh_cache_status",
    "dictamesh_quality_runs",
    "dictamesh_quality_results",
}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}"


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "version_table": migrate.VERSION_TABLE},
    )
    # layer 7's tables live in the catalog database too (migration 0006)
    # and the cluster layer's leases and shared change state (0011), the search vectors
    # (0012, 0013), the quality runs and results (0014), the consent records (0015)
    return list(
        compare_metadata(
            context,
            [
                metadata,
                saga_metadata,
                notification_metadata,
                cluster_metadata,
                search_metadata,
                quality_metadata,
                consent_metadata,
            ],
        )
    )


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _inspect(url: str, fn: Any) -> Any:
    engine = create_catalog_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


async def test_migrations_match_the_models(url: str) -> None:
    await migrate.upgrade(url)
    assert await _inspect(url, _diff) == []


async def test_upgrade_downgrade_upgrade(url: str) -> None:
    head = migrate.head()
    assert head == "0015_consent"
    assert await migrate.current(url) is None
    before = await migrate.status(url)
    assert (before.current, before.head) == (None, head)
    assert before.pending == [
        "0001_initial",
        "0002_postgres_specifics",
        "0003_governance",
        "0004_row_level_security",
        "0005_search_hidden_fields",
        "0006_sagas",
        "0007_graph_walk",
        "0008_ingest_indexes",
        "0009_notifications",
        "0010_system_outbox",
        "0011_cluster",
        "0012_search",
        "0013_search_tuning",
        "0014_quality",
        head,
    ]
    assert not before.up_to_date

    await migrate.upgrade(url)
    assert await migrate.current(url) == head
    assert await _inspect(url, _tables) >= TABLES
    assert (await migrate.status(url)).up_to_date

    await migrate.downgrade(url, "base")
    assert await migrate.current(url) is None
    assert not (await _inspect(url, _tables) & TABLES)

    await migrate.upgrade(url)
    assert await _inspect(url, _diff) == []
    await migrate.upgrade(url)  # already at head: nothing to do


async def test_open_migrates_unless_told_not_to(url: str) -> None:
    with pytest.raises(CatalogError, match="not migrated"):
        await CatalogService.open(url, migrate=False)
    async with await CatalogService.open(url) as catalog:
        assert await catalog.ping()
    async with await CatalogService.open(url, migrate=False) as catalog:
        assert await catalog.count_entities() == 0


async def test_bad_revision_and_url_are_typed_errors(url: str) -> None:
    with pytest.raises(CatalogError):
        await migrate.upgrade(url, "no-such-revision")
    with pytest.raises(ConfigurationError):
        await migrate.upgrade("mysql+aiomysql://localhost/x")
    with pytest.raises(ConfigurationError):
        await CatalogService.open("not a url")


def test_script_location_is_inside_the_package() -> None:
    config = migrate.alembic_config()
    location = Path(config.get_main_option("script_location") or "")
    assert location == migrate.MIGRATIONS_DIR
    assert (location / "env.py").is_file()
    assert (location / "versions" / "0001_initial.py").is_file()
