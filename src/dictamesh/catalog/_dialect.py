"""The only place that knows which database engine the catalog runs on.

* :func:`create_catalog_engine` / :func:`configure_engine`: SQLite gets WAL, foreign keys,
  a busy timeout, and real transactions (``BEGIN``, or ``BEGIN IMMEDIATE`` on the write
  engine, so a read-then-write transaction never fails upgrading its lock).
* PostgreSQL gets a pooled engine (:class:`~dictamesh.core.settings.CatalogPoolSettings`):
  pre-ping on checkout, so a server restart leaves no dead pooled connections behind,
  bounded size/overflow, recycling, and an ``application_name`` for ``pg_stat_activity``.
* :func:`insert_for`: the dialect's ``INSERT`` with ``ON CONFLICT`` (SQLite and PostgreSQL
  spell upserts the same way, but SQLAlchemy has one construct per dialect).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from dictamesh.core.errors import ConfigurationError, MissingDependencyError
from dictamesh.core.settings import CatalogPoolSettings

__all__ = [
    "WRITE_OPTION",
    "configure_engine",
    "create_catalog_engine",
    "insert_for",
    "is_memory_sqlite",
    "postgres_engine_options",
]

WRITE_OPTION = "dictamesh_write"
"""Execution option marking a connection that will write (SQLite: ``BEGIN IMMEDIATE``)."""

SUPPORTED = ("sqlite", "postgresql")
_CONFIGURED = "_dictamesh_catalog_configured"


def is_memory_sqlite(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def postgres_engine_options(
    pool: CatalogPoolSettings | None = None, **kwargs: Any
) -> dict[str, Any]:
    """``create_async_engine`` keyword arguments for PostgreSQL; explicit ``kwargs`` win."""
    pool = pool or CatalogPoolSettings()
    options = dict(kwargs)
    options.setdefault("pool_pre_ping", pool.pre_ping)
    # A caller-chosen pool class (NullPool, say) may not accept size arguments.
    if "poolclass" not in options:
        options.setdefault("pool_size", pool.size)
        options.setdefault("max_overflow", pool.max_overflow)
        options.setdefault("pool_timeout", pool.timeout_seconds)
        options.setdefault("pool_recycle", pool.recycle_seconds)
    connect_args = dict(options.get("connect_args") or {})
    server_settings = dict(connect_args.get("server_settings") or {})
    server_settings.setdefault("application_name", pool.application_name)
    connect_args["server_settings"] = server_settings
    options["connect_args"] = connect_args
    return options


def create_catalog_engine(
    url: str, *, pool: CatalogPoolSettings | None = None, **kwargs: Any
) -> AsyncEngine:
    """An async engine for ``url``, configured for the catalog.

    ``sqlite+aiosqlite:///:memory:`` shares one connection (``StaticPool``): every session
    sees the same database, which is what tests want. For a file, missing parent
    directories are created. PostgreSQL gets a pooled engine configured by ``pool``
    (defaults: :class:`CatalogPoolSettings`); ``kwargs`` override single options.

    Example::

        engine = create_catalog_engine(
            "postgresql+asyncpg://app:secret@db/mesh", pool=CatalogPoolSettings(size=20)
        )
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a useful text
        raise ConfigurationError(f"invalid catalog database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise ConfigurationError(
            f"catalog database {backend!r} is not supported (use sqlite or postgresql)",
            url=parsed.render_as_string(hide_password=True),
        )
    if backend == "sqlite":
        if is_memory_sqlite(url):
            kwargs.setdefault("poolclass", StaticPool)
        elif parsed.database:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs = postgres_engine_options(pool, **kwargs)
    try:
        engine = create_async_engine(parsed, **kwargs)
    except ImportError as exc:
        if backend == "postgresql":
            raise MissingDependencyError("asyncpg", "postgres") from exc
        raise
    configure_engine(engine)
    return engine


def configure_engine(engine: AsyncEngine) -> AsyncEngine:
    """Install the SQLite connection/transaction hooks (idempotent; no-op elsewhere)."""
    sync_engine = engine.sync_engine
    if engine.dialect.name not in SUPPORTED:
        raise ConfigurationError(
            f"catalog database {engine.dialect.name!r} is not supported (use sqlite or postgresql)"
        )
    if engine.dialect.name != "sqlite" or getattr(sync_engine, _CONFIGURED, False):
        return engine
    memory = sync_engine.url.database in (None, "", ":memory:")

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    setattr(sync_engine, _CONFIGURED, True)
    return engine


def insert_for(dialect_name: str, table: Table) -> Any:
    """``INSERT`` supporting ``on_conflict_do_update/do_nothing`` and ``excluded``."""
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    raise ConfigurationError(f"catalog database {dialect_name!r} is not supported")
