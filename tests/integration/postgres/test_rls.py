"""Migration 0004 and the database roles: row-level security binds the application role.

* on the shared test database: every table with a ``tenant_id`` has RLS and the policy,
  the application role has row privileges only and cannot become the owner, and
  :func:`rls_status` tells an enforcing setup from one where the node connects as owner;
* in a scratch database owned by ``dictamesh_owner`` (made by the superuser): the
  migrations run as that non-superuser owner, the application role cannot run them (with a
  hint), ``CatalogService.open(migration_url=...)`` migrates as the owner and serves as the
  application, and 0004 goes down and up cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from dictamesh.catalog import CatalogService, Compatibility
from dictamesh.catalog.migrate import current, downgrade, upgrade
from dictamesh.core.errors import CatalogError
from dictamesh.node import _check_row_level_security
from dictamesh.tenancy.rls import POLICY, RLS_EXEMPT_TABLES, TENANT_TABLES, rls_status
from tests.postgres_fixtures import admin_url, owner_url

pytestmark = pytest.mark.postgres

APP_ROLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
NEVER = ("TRUNCATE", "TRIGGER", "REFERENCES")
#: append-only tables: the application may add rows, never change or remove them
APPEND_ONLY = {"dictamesh_consent_records": ("SELECT", "INSERT")}


async def _rows(conn: AsyncConnection, sql: str, **params: object) -> set[tuple[object, ...]]:
    return {tuple(r) for r in await conn.execute(text(sql), params)}


async def _protected(conn: AsyncConnection) -> dict[str, tuple[bool, bool]]:
    """table -> (RLS enabled, tenant policy present), for every table with a tenant_id
    (but the documented exemptions, ``RLS_EXEMPT_TABLES``)."""
    rows = await _rows(
        conn,
        """
        SELECT c.relname, c.relrowsecurity,
               EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = :p)
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
        WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
        """,
        p=POLICY,
    )
    return {
        str(name): (bool(rls), bool(policy))
        for name, rls, policy in rows
        if name not in RLS_EXEMPT_TABLES
    }


async def test_every_tenant_table_has_rls_and_the_policy(migrated_postgres: str) -> None:
    engine = create_async_engine(migrated_postgres)
    try:
        async with engine.connect() as conn:
            protected = await _protected(conn)
    finally:
        await engine.dispose()
    # found by the column, so a table added later without RLS fails here
    assert set(protected) == set(TENANT_TABLES)
    assert all(v == (True, True) for v in protected.values()), protected


async def test_the_app_role_has_row_privileges_only(migrated_postgres: str) -> None:
    engine = create_async_engine(migrated_postgres)
    try:
        async with engine.connect() as conn:
            role = (
                await conn.execute(
                    text(
                        "SELECT current_user, rolsuper, rolbypassrls,"
                        " pg_has_role(current_user, 'dictamesh_owner', 'MEMBER'),"
                        " has_schema_privilege('public', 'CREATE')"
                        " FROM pg_roles WHERE rolname = current_user"
                    )
                )
            ).one()
            privileges = {
                (table, privilege): (
                    await conn.execute(
                        text("SELECT has_table_privilege(:t, :p)"), {"t": table, "p": privilege}
                    )
                ).scalar()
                for table in TENANT_TABLES
                for privilege in APP_ROLE_PRIVILEGES + NEVER
            }
            version = await _rows(
                conn,
                "SELECT p FROM unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE']) AS p"
                " WHERE has_table_privilege('dictamesh_alembic_version', p)",
            )
    finally:
        await engine.dispose()
    name, superuser, bypass, may_become_owner, may_create = role
    assert (superuser, bypass, may_become_owner, may_create) == (False, False, False, False), name
    for (table, privilege), granted in privileges.items():
        allowed = APPEND_ONLY.get(table, APP_ROLE_PRIVILEGES)
        assert granted is (privilege in allowed), (table, privilege)
    assert version == {("SELECT",)}


async def test_rls_status_tells_the_app_role_from_the_owner(
    migrated_postgres: str, postgres_owner_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with await CatalogService.open(migrated_postgres, migrate=False) as app:
        status = await rls_status(app)
        assert status.enforced, status.reasons
        assert status.role == "dictamesh"
        with caplog.at_level(logging.WARNING, "dictamesh.node"):
            await _check_row_level_security(app)
        assert not caplog.records
    async with await CatalogService.open(postgres_owner_url, migrate=False) as owner:
        status = await rls_status(owner)
        assert not status.enforced
        assert len(status.reasons) == len(TENANT_TABLES)
        assert all("owns" in reason for reason in status.reasons)
        with caplog.at_level(logging.WARNING, "dictamesh.node"):
            await _check_row_level_security(owner)
        assert "row-level security does not separate tenants" in caplog.text


@pytest.mark.parametrize(
    ("function", "roles"),
    [
        # the owner (its function), the group, and its member; not PUBLIC
        ("dictamesh_catalog_tenants()", {"dictamesh_owner", "dictamesh_app", "dictamesh"}),
        (
            "dictamesh_search_entities(text, text, text, integer)",
            {"dictamesh_owner", "dictamesh_app", "dictamesh"},
        ),
        ("dictamesh_search_entities_any_tenant(text, text, text, integer)", {"dictamesh_owner"}),
    ],
)
async def test_definer_functions_are_executable_by_the_app_role_only(
    migrated_postgres: str, function: str, roles: set[str]
) -> None:
    engine = create_async_engine(migrated_postgres)
    try:
        async with engine.connect() as conn:
            executable = await _rows(
                conn,
                "SELECT r.rolname FROM pg_roles r"
                " WHERE has_function_privilege(r.oid, :f, 'EXECUTE')"
                " AND NOT r.rolsuper AND r.rolname LIKE 'dictamesh%'",
                f=function,
            )
            public = (
                await conn.execute(
                    text(
                        "SELECT bool_or(a.grantee = 0) FROM pg_proc p,"
                        " aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a"
                        " WHERE p.oid = CAST(:f AS regprocedure)"
                    ),
                    {"f": function},
                )
            ).scalar()
    finally:
        await engine.dispose()
    assert {str(r[0]) for r in executable} == roles
    assert public is False


# --- a scratch database owned by the owner role -----------------------------------------------


async def _autocommit(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def scratch(postgres_url: str) -> Iterator[tuple[str, str]]:
    """(app URL, owner URL) of a fresh, empty database owned by ``dictamesh_owner``."""
    name = f"dictamesh_rls_{uuid.uuid4().hex[:10]}"
    admin = admin_url(postgres_url)
    app = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    owner = make_url(owner_url(postgres_url)).set(database=name)
    asyncio.run(_autocommit(admin, f'CREATE DATABASE "{name}" OWNER dictamesh_owner'))
    try:
        yield app, owner.render_as_string(hide_password=False)
    finally:
        asyncio.run(_autocommit(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_the_app_role_cannot_migrate_and_is_told_why(scratch: tuple[str, str]) -> None:
    app, _ = scratch
    with pytest.raises(CatalogError, match="migration_url"):
        await upgrade(app)


@pytest.fixture
async def scratch_catalog(scratch: tuple[str, str]) -> AsyncIterator[CatalogService]:
    app, owner = scratch
    catalog = await CatalogService.open(app, migration_url=owner)
    async with catalog:
        yield catalog


async def test_open_migrates_as_the_owner_and_serves_as_the_app(
    scratch: tuple[str, str], scratch_catalog: CatalogService
) -> None:
    app, owner = scratch
    assert await current(app) == "0015_consent"
    status = await rls_status(scratch_catalog)
    assert status.enforced, status.reasons
    await scratch_catalog.set_compatibility(Compatibility.FULL)  # a row, as the app role
    assert await scratch_catalog.tenants() == ["default"]
    engine = create_async_engine(owner)
    try:
        async with engine.connect() as conn:
            owners = await _rows(
                conn,
                "SELECT DISTINCT tableowner FROM pg_tables WHERE tablename LIKE 'dictamesh%'",
            )
            extensions = await _rows(conn, "SELECT extname FROM pg_extension")
    finally:
        await engine.dispose()
    assert owners == {("dictamesh_owner",)}
    # migration 0002's trusted extensions, installed by the non-superuser owner
    assert {("pg_trgm",), ("fuzzystrmatch",)} <= extensions


async def test_0004_goes_down_and_up_cleanly(
    scratch: tuple[str, str], scratch_catalog: CatalogService
) -> None:
    _, owner = scratch
    await downgrade(owner, "0003_governance")
    engine = create_async_engine(owner)
    try:
        async with engine.connect() as conn:
            assert set((await _protected(conn)).values()) == {(False, False)}
            functions = await _rows(
                conn, "SELECT proname FROM pg_proc WHERE proname = 'dictamesh_catalog_tenants'"
            )
            assert functions == set()
            granted = await _rows(
                conn,
                "SELECT table_name FROM information_schema.role_table_grants"
                " WHERE grantee = 'dictamesh_app'",
            )
            assert granted == set()
        await upgrade(owner)
        async with engine.connect() as conn:
            assert set((await _protected(conn)).values()) == {(True, True)}
    finally:
        await engine.dispose()
    assert (await rls_status(scratch_catalog)).enforced
