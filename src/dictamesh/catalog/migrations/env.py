"""Alembic environment of the catalog (async; no ``alembic.ini`` needed).

:mod:`dictamesh.catalog.migrate` builds the Alembic ``Config`` in code and either hands over
an open connection (``config.attributes["connection"]``, so an in-memory SQLite database or
a caller's transaction is migrated in place) or a URL (``config.attributes["url"]``).

With the ``alembic`` CLI, point ``script_location`` at this directory and set
``sqlalchemy.url``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from dictamesh.catalog._dialect import WRITE_OPTION, create_catalog_engine
from dictamesh.catalog.models import metadata

VERSION_TABLE = "dictamesh_alembic_version"

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # `dictamesh migrate new`: the catalog's and a project's tables, filtered to the
        # project's (catalog.migrate.new_revision)
        target_metadata=config.attributes.get("target_metadata", metadata),
        include_object=config.attributes.get("include_object"),
        version_table=VERSION_TABLE,
        # SQLite can alter little in place: batch mode recreates tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str) -> None:
    engine = create_catalog_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(**{WRITE_OPTION: True})
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


def _run_offline(url: str) -> None:
    context.configure(
        url=url,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = config.attributes.get("connection")
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        if not url:
            raise RuntimeError("offline migrations need a database URL")
        _run_offline(url)
    elif connection is not None:
        _run(connection)
    elif url:
        asyncio.run(_run_from_url(url))
    else:
        raise RuntimeError("no database connection or URL given to the catalog migrations")


main()
