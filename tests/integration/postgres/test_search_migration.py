"""Migrations 0012_search and 0013_search_tuning on PostgreSQL: without pgvector the first
stops and says what to do; with it, the vector table has its HNSW index (rebuilt by 0013),
the domain index, row-level security and the app role's rights."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from dictamesh.catalog.migrate import current, upgrade

pytestmark = pytest.mark.postgres


async def _autocommit(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_without_pgvector_the_migration_stops_and_names_the_fix(postgres_url: str) -> None:
    # template0 has no extension: a database whose superuser never created pgvector
    name = f"dictamesh_novector_{uuid.uuid4().hex[:10]}"
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    await _autocommit(postgres_url, f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        with pytest.raises(Exception, match=r"pgvector.*CREATE EXTENSION vector") as caught:
            await upgrade(url)
        assert "superuser" in str(caught.value)
        # the upgrade is one transaction: it left nothing half-done behind
        assert await current(url) is None
    finally:
        await _autocommit(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_the_vector_table_is_indexed_and_tenant_protected(migrated_postgres: str) -> None:
    engine = create_async_engine(migrated_postgres)
    try:
        async with engine.connect() as conn:
            index = (
                await conn.execute(
                    text(
                        "SELECT indexdef FROM pg_indexes"
                        " WHERE indexname = 'ix_dictamesh_search_vectors_hnsw_256'"
                    )
                )
            ).scalar_one()
            domain = (
                await conn.execute(
                    text(
                        "SELECT indexdef FROM pg_indexes"
                        " WHERE indexname = 'ix_dictamesh_search_vectors_tenant_id_domain'"
                    )
                )
            ).scalar_one()
            rls = (
                await conn.execute(
                    text(
                        "SELECT relrowsecurity FROM pg_class"
                        " WHERE relname = 'dictamesh_search_vectors'"
                    )
                )
            ).scalar_one()
            rights = {
                p: (
                    await conn.execute(
                        text("SELECT has_table_privilege('dictamesh_search_vectors', :p)"),
                        {"p": p},
                    )
                ).scalar_one()
                for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
            }
    finally:
        await engine.dispose()
    assert "USING hnsw" in index
    assert "vector_cosine_ops" in index
    assert "(dimensions = 256)" in index
    assert "(m='16', ef_construction='200')" in index
    assert domain.endswith("USING btree (tenant_id, domain)")
    assert rls is True
    assert rights == {
        "SELECT": True,
        "INSERT": True,
        "UPDATE": True,
        "DELETE": True,
        "TRUNCATE": False,
    }
