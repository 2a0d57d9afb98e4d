"""The catalog's database handle: one engine, its dialect, tenant-scoped transactions, the clock.

Every catalog store, and other layers' own store modules (governance's audit log, erasure,
retention), run their SQL on connections from here, so they share one engine, one notion of
"the current tenant" (row-level security on PostgreSQL) and one clock.

Example::

    database = await CatalogDatabase.open("sqlite+aiosqlite:///catalog.db")
    async with database.write() as conn:             # BEGIN IMMEDIATE on SQLite; commits
        await conn.execute(AUDIT.insert(), rows)
    async with database.read("acme") as conn:        # sees tenant acme's rows only
        ...
    stamp = database.now()                           # tz-aware UTC unless a clock is given
    await database.aclose()
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select, union
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dictamesh.catalog._dialect import WRITE_OPTION, configure_engine, create_catalog_engine
from dictamesh.catalog._errors import database_error
from dictamesh.catalog.models import DEFAULT_TENANT
from dictamesh.catalog.tables import (
    CACHE,
    ENTITY,
    EVENTS,
    LINEAGE,
    RELS,
    SCHEMAS,
    TENANT_TABLES,
)
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import CatalogError
from dictamesh.core.lifecycle import AsyncResource
from dictamesh.core.settings import CatalogPoolSettings

__all__ = ["CatalogDatabase"]

#: row-level security's tenant setting (migration 0004), set at the start of each transaction
_SET_TENANT = sql_text("SELECT set_config('dictamesh.tenant_id', :tenant, true)")


class CatalogDatabase(AsyncResource):
    """One catalog database: construct from an engine, or :meth:`open` a URL."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        owns_engine: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        configure_engine(engine)
        self.engine = engine
        self.dialect = engine.dialect.name
        # Same pool, marked so that SQLite opens write transactions with BEGIN IMMEDIATE.
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._owns_engine = owns_engine
        self._clock = clock or (lambda: datetime.now(UTC))
        # SQLite has one writer at a time: this process's writers queue here, in order,
        # instead of polling SQLite's lock (busy_timeout sleeps, whose waits make the tail
        # latency of concurrent writers seconds long). Other processes still meet the lock.
        self._sqlite_writers = asyncio.Lock() if self.dialect == "sqlite" else None
        self._writing: asyncio.Task[Any] | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        pool: CatalogPoolSettings | None = None,
        migration_url: str | None = None,
        clock: Callable[[], datetime] | None = None,
        migrations_dir: Path | None = None,
        **engine_options: Any,
    ) -> CatalogDatabase:
        """Connect to ``url``; migrate to head first unless ``migrate`` is False, in which
        case an unmigrated database is refused with a :class:`CatalogError`.

        ``migration_url`` (default ``url``) is the database as the role that owns the
        tables, which migrations run as; on PostgreSQL with row-level security the
        application's ``url`` must use another role (``docs/tenancy.md``).
        ``migrations_dir``: a project's own revisions, chained after the catalog's.
        ``pool`` sizes the PostgreSQL connection pool (ignored on SQLite); ``engine_options``
        go to ``create_async_engine`` as they are (``pool_size=20``, ``echo=True``, ...)."""
        import dictamesh.catalog.migrate as migrations

        engine = create_catalog_engine(url, pool=pool, **engine_options)
        try:
            if migrate and migration_url and migration_url != url:
                await migrations.upgrade(migration_url, versions=migrations_dir)
                migrate = False  # and check that it was this database that got migrated
            if migrate:
                await migrations.upgrade_engine(engine, versions=migrations_dir)
            else:
                state = await migrations.status_engine(engine, migrations_dir)
                if state.pending:
                    raise CatalogError(
                        f"catalog database is not migrated (at {state.current or 'nothing'},"
                        f" head {state.head}): run `dictamesh migrate up`",
                        pending=state.pending,
                    )
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, owns_engine=True, clock=clock)

    async def aclose(self) -> None:
        """Dispose of the engine if this handle created it (:meth:`open`)."""
        if self._owns_engine:
            await self.engine.dispose()

    def now(self) -> datetime:
        """The time rows are stamped with: tz-aware UTC, unless a clock was given."""
        return self._clock()

    @staticmethod
    def tenant(explicit: str | None = None) -> str:
        """The tenant a call acts for: ``explicit``, else the context's, else the default."""
        return explicit or current_tenant.get() or DEFAULT_TENANT

    async def set_tenant(self, conn: AsyncConnection, tenant: str | None = None) -> None:
        """Make ``tenant`` (resolved as :meth:`tenant`) the tenant of ``conn``'s transaction.

        PostgreSQL's row-level security (migration 0004) shows and accepts only rows of the
        transaction's ``dictamesh.tenant_id`` (set here, local to the transaction, so it
        never leaks to the next user of a pooled connection). :meth:`read` and :meth:`write`
        set it; work spanning tenants in one transaction (the ingest) calls this before each
        tenant's part. No-op on SQLite.
        """
        if self.dialect == "postgresql":
            await conn.execute(_SET_TENANT, {"tenant": self.tenant(tenant)})

    @asynccontextmanager
    async def read(self, tenant: str | None = None) -> AsyncIterator[AsyncConnection]:
        """A connection for reading as ``tenant`` (default: the current one)."""
        try:
            async with self.engine.connect() as conn:
                await self.set_tenant(conn, tenant)
                yield conn
        # OSError: asyncpg's connect failures (server down) are not wrapped by SQLAlchemy.
        except (SQLAlchemyError, OSError) as exc:
            raise database_error(exc) from exc

    @asynccontextmanager
    async def write(self, tenant: str | None = None) -> AsyncIterator[AsyncConnection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success.

        It acts for ``tenant`` (default: the current one, see :meth:`tenant`): on PostgreSQL
        row-level security refuses rows of any other tenant (:meth:`set_tenant`).
        :class:`IntegrityError` passes through unwrapped so callers can retry a lost race.
        """
        async with self._serialized():
            try:
                async with self._write_engine.begin() as conn:
                    await self.set_tenant(conn, tenant)
                    yield conn
            except IntegrityError:
                raise
            except (SQLAlchemyError, OSError) as exc:
                raise database_error(exc) from exc

    @asynccontextmanager
    async def _serialized(self) -> AsyncIterator[None]:
        """One in-process SQLite writer at a time (a task already writing is let through:
        its nested transaction meets SQLite's own lock, as before)."""
        lock, me = self._sqlite_writers, asyncio.current_task()
        if lock is None or (me is not None and self._writing is me):
            yield
            return
        async with lock:
            self._writing = me
            try:
                yield
            finally:
                self._writing = None

    # --- questions about the whole database --------------------------------------------------

    async def ping(self) -> bool:
        async with self.read() as conn:
            await conn.execute(select(1))
        return True

    async def tenants(self) -> list[str]:
        """Every tenant with rows in the catalog, sorted: for jobs that work across tenants
        (retention), which then act tenant by tenant.

        On PostgreSQL the application's role sees one tenant per transaction (row-level
        security), so this asks ``dictamesh_catalog_tenants()`` (migration 0004), which runs
        as the tables' owner and returns names only. Tenants with relationships only are
        not listed.
        """
        async with self.read() as conn:
            if self.dialect == "postgresql":
                rows = await conn.execute(
                    sql_text("SELECT t FROM dictamesh_catalog_tenants() AS t")
                )
            else:
                rows = await conn.execute(
                    union(*(select(table.c.tenant_id) for table in TENANT_TABLES))
                )
            return sorted(str(t) for t in rows.scalars())

    async def stats(self) -> dict[str, int]:
        """Row counts for health pages and metrics (current tenant; one query)."""
        tenant = self.tenant()

        def count(table: Table, *where: Any) -> Any:
            return (
                select(func.count())
                .select_from(table)
                .where(table.c.tenant_id == tenant, *where)
                .scalar_subquery()
            )

        query = select(
            count(ENTITY, ENTITY.c.status == "active").label("entities"),
            count(ENTITY, ENTITY.c.status == "deleted").label("entities_deleted"),
            count(RELS, RELS.c.valid_to.is_(None)).label("relationships"),
            count(RELS, RELS.c.valid_to.is_not(None)).label("relationships_ended"),
            count(SCHEMAS, SCHEMAS.c.deleted.is_(False)).label("schemas"),
            count(EVENTS).label("events"),
            count(LINEAGE).label("lineage"),
            count(CACHE).label("cache_status"),
        )
        async with self.read() as conn:
            row = (await conn.execute(query)).one()
        return {key: int(value) for key, value in row._mapping.items()}
