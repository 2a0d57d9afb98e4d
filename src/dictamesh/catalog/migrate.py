"""Catalog database migrations (Alembic), driven from code: no ``alembic.ini`` needed.

The migration scripts ship inside the package (``dictamesh/catalog/migrations``), so this
works from an installed wheel. Revisions are recorded in ``dictamesh_alembic_version``.

Example::

    await upgrade("sqlite+aiosqlite:///catalog.db")           # to head
    (await status(url)).pending                               # []
    await downgrade(url, "base")

The same functions exist for an open engine (``upgrade_engine`` …), which is how
:meth:`CatalogService.open` migrates an in-memory SQLite database in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from dictamesh.catalog._dialect import WRITE_OPTION, create_catalog_engine
from dictamesh.core.errors import CatalogError

__all__ = [
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "MigrationStatus",
    "alembic_config",
    "current",
    "current_engine",
    "downgrade",
    "downgrade_engine",
    "head",
    "status",
    "status_engine",
    "upgrade",
    "upgrade_engine",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "dictamesh_alembic_version"
_INSUFFICIENT_PRIVILEGE = "42501"


class MigrationStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    current: str | None
    head: str | None
    pending: list[str]

    @property
    def up_to_date(self) -> bool:
        return not self.pending


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` for the catalog's scripts (``url`` only for Alembic's CLI use)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.attributes["url"] = url
    return config


def head() -> str | None:
    """The newest revision shipped with this package."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``."""
    await _with_engine(url, upgrade_engine, revision)


async def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"-1"``, ``"base"``, an id)."""
    await _with_engine(url, downgrade_engine, revision)


async def current(url: str) -> str | None:
    """The revision the database at ``url`` is at (None: never migrated)."""
    result: str | None = await _with_engine(url, current_engine)
    return result


async def status(url: str) -> MigrationStatus:
    result: MigrationStatus = await _with_engine(url, status_engine)
    return result


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    await _run_command(engine, command.upgrade, revision)


async def downgrade_engine(engine: AsyncEngine, revision: str) -> None:
    await _run_command(engine, command.downgrade, revision)


async def current_engine(engine: AsyncEngine) -> str | None:
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current_revision)
    except SQLAlchemyError as exc:
        raise CatalogError(f"cannot read the catalog's migration state: {exc}") from exc


async def status_engine(engine: AsyncEngine) -> MigrationStatus:
    now = await current_engine(engine)
    script = ScriptDirectory.from_config(alembic_config())
    newest = script.get_current_head()
    pending = [
        rev.revision for rev in script.iterate_revisions("heads", now or "base") if rev.revision
    ]
    pending.reverse()  # oldest first: the order they will be applied in
    return MigrationStatus(current=now, head=newest, pending=pending)


def _current_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def _run_command(engine: AsyncEngine, fn: Any, revision: str) -> None:
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        fn(config, revision)

    try:
        async with engine.connect() as conn:
            await conn.execution_options(**{WRITE_OPTION: True})
            await conn.run_sync(run)
            await conn.commit()
    except SQLAlchemyError as exc:
        hint = ""
        if getattr(getattr(exc, "orig", None), "sqlstate", None) == _INSUFFICIENT_PRIVILEGE:
            hint = (
                " — migrations run as the role owning the catalog's tables, not the"
                " application's (set catalog.migration_url, or `dictamesh migrate up --url`)"
            )
        raise CatalogError(f"catalog migration to {revision!r} failed: {exc}{hint}") from exc
    except Exception as exc:  # alembic's CommandError: unknown revision and the like
        if type(exc).__module__.startswith("alembic"):
            raise CatalogError(f"catalog migration to {revision!r} failed: {exc}") from exc
        raise


async def _with_engine(url: str, fn: Any, *args: Any) -> Any:
    engine = create_catalog_engine(url)
    try:
        return await fn(engine, *args)
    finally:
        await engine.dispose()
