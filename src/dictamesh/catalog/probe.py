"""Is the catalog database reachable, and at which migration? Read-only (``dictamesh check``).

Nothing is migrated and nothing is created: a SQLite file that does not exist yet is
reported as "not created yet" (the node creates it on start), and an existing one is opened
read-only. SQLite in WAL mode makes ``-wal``/``-shm`` files even for a read-only connection,
unless the file is opened ``immutable``; that is safe (and exact) when no ``-wal`` file
exists, since then every change is in the main file.

Example::

    result = await probe_catalog(settings.catalog, timeout=5.0)
    result.detail        # 'sqlite .dictamesh/catalog.sqlite3: not created yet'
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from dictamesh.catalog import migrate
from dictamesh.catalog._dialect import SUPPORTED, create_catalog_engine, is_memory_sqlite
from dictamesh.core.checks import CheckResult, CheckStatus, elapsed_ms
from dictamesh.core.errors import DictaMeshError
from dictamesh.core.settings import CatalogSettings

__all__ = ["probe_catalog"]

CHECK = "catalog"


def _read_only_sqlite(path: Path) -> AsyncEngine:
    import aiosqlite

    wal = path.with_name(path.name + "-wal")
    shm = path.with_name(path.name + "-shm")
    # with both files present a node is (or was) writing: read through them, creating nothing
    flags = "mode=ro" if wal.exists() and shm.exists() else "mode=ro&immutable=1"
    uri = f"file:{quote(str(path.absolute()))}?{flags}"

    def connect() -> aiosqlite.Connection:
        return aiosqlite.connect(uri, uri=True)

    return create_async_engine("sqlite+aiosqlite://", async_creator=connect, poolclass=NullPool)


async def probe_catalog(settings: CatalogSettings, *, timeout: float) -> CheckResult:
    """Connect to ``settings.url`` and read its migration revision (nothing written)."""
    url = settings.url.get_secret_value()
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy's ArgumentError says what is wrong
        return CheckResult(CHECK, CheckStatus.FAIL, f"invalid catalog URL: {exc}")
    backend = parsed.get_backend_name()
    shown = parsed.render_as_string(hide_password=True)
    if backend not in SUPPORTED:
        return CheckResult(
            CHECK, CheckStatus.FAIL, f"{backend!r} is not supported (use sqlite or postgresql)"
        )
    if backend == "sqlite":
        if is_memory_sqlite(url):
            return CheckResult(CHECK, CheckStatus.OK, "sqlite in memory: nothing to reach")
        path = Path(parsed.database or "").expanduser()
        shown = f"sqlite {path}"
        if not path.exists():
            return CheckResult(
                CHECK, CheckStatus.OK, f"{shown}: not created yet (the node creates it on start)"
            )
        engine = _read_only_sqlite(path)
    else:
        try:
            engine = create_catalog_engine(url, pool=settings.pool)
        except DictaMeshError as exc:
            return CheckResult(CHECK, CheckStatus.FAIL, exc.message)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            state = await migrate.status_engine(engine)
    except TimeoutError:
        return CheckResult(
            CHECK, CheckStatus.FAIL, f"{shown}: no answer within {timeout:g} s", elapsed_ms(started)
        )
    except DictaMeshError as exc:
        return CheckResult(CHECK, CheckStatus.FAIL, f"{shown}: {exc.message}", elapsed_ms(started))
    except Exception as exc:  # the driver's own (a refused connection): reported, not raised
        problem = f"{shown}: {type(exc).__name__}: {exc}"
        return CheckResult(CHECK, CheckStatus.FAIL, problem, elapsed_ms(started))
    finally:
        await engine.dispose()
    ms = elapsed_ms(started)
    if not state.pending:
        return CheckResult(CHECK, CheckStatus.OK, f"{shown}: at revision {state.current}", ms)
    where = f"{shown}: at revision {state.current or 'none'}, {len(state.pending)} pending"
    if settings.migrate_on_start:
        return CheckResult(CHECK, CheckStatus.WARN, f"{where} (migrated when the node starts)", ms)
    return CheckResult(
        CHECK,
        CheckStatus.FAIL,
        f"{where}: run `dictamesh migrate up` (catalog.migrate_on_start is off)",
        ms,
    )
