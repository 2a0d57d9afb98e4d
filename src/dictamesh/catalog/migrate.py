"""Catalog database migrations (Alembic), driven from code: no ``alembic.ini`` needed.

The migration scripts ship inside the package (``dictamesh/catalog/migrations``), so this
works from an installed wheel. Revisions are recorded in ``dictamesh_alembic_version``.

Example::

    await upgrade("sqlite+aiosqlite:///catalog.db")           # to head
    (await status(url)).pending                               # []
    await downgrade(url, "base")

The same functions exist for an open engine (``upgrade_engine`` …), which is how
:meth:`CatalogService.open` migrates an in-memory SQLite database in place.

A project that adds tables of its own keeps their revisions in its own directory
(``catalog.migrations_dir``), chained after the catalog's: every function takes it as
``versions``, and :func:`new_revision` autogenerates the next one from the project's
``MetaData``::

    new_revision("add loyalty", Path("migrations/versions"), "myproject.models:metadata")
    await upgrade(url, versions=Path("migrations/versions"))   # catalog's and project's
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import BaseModel, ConfigDict
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from dictamesh.catalog._dialect import WRITE_OPTION, create_catalog_engine
from dictamesh.core.errors import CatalogError, ConfigurationError

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
    "load_metadata",
    "new_revision",
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


def alembic_config(url: str | None = None, versions: Path | None = None) -> Config:
    """An Alembic ``Config`` for the catalog's scripts (``url`` only for Alembic's CLI use);
    ``versions``: a project's own revisions, read after the catalog's."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    locations = [str(MIGRATIONS_DIR / "versions")]
    if versions is not None:
        if not versions.is_dir():
            raise ConfigurationError(f"catalog.migrations_dir {str(versions)!r} is no directory")
        locations.append(str(versions.resolve()))
    # os.pathsep, not spaces: a project directory's path may hold a space
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(locations))
    if url is not None:
        config.attributes["url"] = url
    return config


def head(versions: Path | None = None) -> str | None:
    """The newest revision: the catalog's, or the project's chained after it."""
    return _head(ScriptDirectory.from_config(alembic_config(versions=versions)))


def _head(script: ScriptDirectory) -> str | None:
    heads = script.get_heads()
    if len(heads) > 1:
        raise ConfigurationError(
            f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}): join them"
            " with a merge revision in catalog.migrations_dir whose down_revision names"
            " both (docs/cli.md, migrate new)"
        )
    return heads[0] if heads else None


async def upgrade(url: str, revision: str = "head", *, versions: Path | None = None) -> None:
    """Migrate the database at ``url`` up to ``revision``."""
    await _with_engine(url, upgrade_engine, revision, versions)


async def downgrade(url: str, revision: str, *, versions: Path | None = None) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"-1"``, ``"base"``, an id)."""
    await _with_engine(url, downgrade_engine, revision, versions)


async def current(url: str) -> str | None:
    """The revision the database at ``url`` is at (None: never migrated)."""
    result: str | None = await _with_engine(url, current_engine)
    return result


async def status(url: str, *, versions: Path | None = None) -> MigrationStatus:
    result: MigrationStatus = await _with_engine(url, status_engine, versions)
    return result


async def upgrade_engine(
    engine: AsyncEngine, revision: str = "head", versions: Path | None = None
) -> None:
    await _run_command(engine, command.upgrade, revision, versions)


async def downgrade_engine(
    engine: AsyncEngine, revision: str, versions: Path | None = None
) -> None:
    await _run_command(engine, command.downgrade, revision, versions)


async def current_engine(engine: AsyncEngine) -> str | None:
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current_revision)
    except SQLAlchemyError as exc:
        raise CatalogError(f"cannot read the catalog's migration state: {exc}") from exc


async def status_engine(engine: AsyncEngine, versions: Path | None = None) -> MigrationStatus:
    script = ScriptDirectory.from_config(alembic_config(versions=versions))
    newest = _head(script)  # a broken chain is bad input: said before any connection
    now = await current_engine(engine)
    pending = [
        rev.revision for rev in script.iterate_revisions("heads", now or "base") if rev.revision
    ]
    pending.reverse()  # oldest first: the order they will be applied in
    return MigrationStatus(current=now, head=newest, pending=pending)


def _current_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def _run_command(
    engine: AsyncEngine, fn: Any, revision: str, versions: Path | None = None
) -> None:
    config = alembic_config(versions=versions)

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


def load_metadata(target: str) -> MetaData:
    """The ``MetaData`` named ``module:attribute`` (``catalog.migrations_metadata``)."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(
            f"catalog.migrations_metadata must be 'module:attribute', not {target!r}"
        )
    try:
        value = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot load {target!r}: {exc}") from exc
    if not isinstance(value, MetaData):
        raise ConfigurationError(f"{target!r} is a {type(value).__name__}, not a MetaData")
    return value


def new_revision(message: str, versions: Path, metadata: MetaData | str) -> Path:
    """Autogenerate the project's next revision into ``versions``: what ``metadata`` has
    that the revisions so far (the catalog's, then the project's) do not create. Returns
    the new file.

    The diff runs against a scratch SQLite database migrated to head, so no live database
    is needed and the catalog's own tables never appear in a project's revision.
    """
    import asyncio

    if not message.strip():
        raise ConfigurationError("a migration needs a message, e.g. 'add loyalty points'")
    project = load_metadata(metadata) if isinstance(metadata, str) else metadata
    config = alembic_config(versions=versions)
    base = _head(ScriptDirectory.from_config(config))

    with tempfile.TemporaryDirectory(prefix="dictamesh-migrate-") as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.sqlite3'}"
        # the catalog's tables are what its own revisions create (not one MetaData: the
        # saga and notification tables have their own)
        theirs = asyncio.run(_catalog_tables(url)) | {VERSION_TABLE}
        clash = sorted(theirs & set(project.tables))
        if clash:
            raise ConfigurationError(f"the project's tables clash with the catalog's: {clash}")
        asyncio.run(upgrade(url, versions=versions))

        def include(
            obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any
        ) -> bool:
            table = name if kind == "table" else getattr(getattr(obj, "table", None), "name", None)
            return table not in theirs

        config.attributes["url"] = url
        config.attributes["target_metadata"] = project
        config.attributes["include_object"] = include
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # Alembic's "Generating …" line
                written = command.revision(
                    config,
                    message=message.strip(),
                    autogenerate=True,
                    head=base or "base",
                    version_path=str(versions.resolve()),
                )
        except Exception as exc:
            if type(exc).__module__.startswith("alembic"):
                raise CatalogError(f"cannot generate the migration: {exc}") from exc
            raise
    scripts = written if isinstance(written, list) else [written]
    return Path(scripts[0].path)  # type: ignore[union-attr]


async def _catalog_tables(url: str) -> set[str]:
    """Migrate the database at ``url`` to the catalog's own head; the tables it has then."""
    from sqlalchemy import inspect

    engine = create_catalog_engine(url)
    try:
        await upgrade_engine(engine)
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()
