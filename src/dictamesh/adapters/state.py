"""Change-detection state: each adapter's polling watermark and last-seen entity snapshots.

:class:`~dictamesh.adapters.base.AdapterBase` reads the state to decide whether a record
is new, changed or already emitted, and commits it *after* the consumer of
``stream_changes()`` has handled the event (ADR 0002). ``commit`` writes the watermark and
the seen rows in one transaction, so a crash leaves either the old state or the new one.

A snapshot is the entity's attributes in JSON form, or ``None`` for a deletion (tombstone).

Example::

    state = SqliteChangeStateStore(".dictamesh/changes.sqlite3")
    await state.commit("customers_directus", "2026-01-01T00:00:00Z",
                       [("c-1", 3, {"email": "a@b.io"})])
    await state.get_watermark("customers_directus")   # '2026-01-01T00:00:00Z'
    await state.get_seen("customers_directus", "c-1")  # (3, {'email': 'a@b.io'})
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ChangeStateStore",
    "MemoryChangeStateStore",
    "SeenRow",
    "SqliteChangeStateStore",
    "SqliteStateFile",
]

Snapshot = dict[str, Any] | None
#: ``(entity_id, version, snapshot)``
SeenRow = tuple[str, int, Snapshot]


@runtime_checkable
class ChangeStateStore(Protocol):
    async def get_watermark(self, adapter: str) -> str | None:
        """The last committed watermark (``None`` before the first commit)."""
        ...

    async def get_seen(self, adapter: str, entity_id: str) -> tuple[int, Snapshot] | None:
        """``(version, snapshot)`` last emitted for the entity, or ``None`` if never seen."""
        ...

    async def commit(self, adapter: str, watermark: str | None, seen: Sequence[SeenRow]) -> None:
        """Atomically record the new watermark (``None``: leave it) and seen rows."""
        ...


class MemoryChangeStateStore:
    """Process-local state (tests, and nodes that accept re-emission after a restart)."""

    def __init__(self) -> None:
        self._watermarks: dict[str, str] = {}
        self._seen: dict[tuple[str, str], tuple[int, Snapshot]] = {}
        self.commits = 0

    async def get_watermark(self, adapter: str) -> str | None:
        return self._watermarks.get(adapter)

    async def get_seen(self, adapter: str, entity_id: str) -> tuple[int, Snapshot] | None:
        found = self._seen.get((adapter, entity_id))
        if found is None:
            return None
        version, snapshot = found
        return version, _copy(snapshot)

    async def commit(self, adapter: str, watermark: str | None, seen: Sequence[SeenRow]) -> None:
        self.commits += 1
        if watermark is not None:
            self._watermarks[adapter] = watermark
        for entity_id, version, snapshot in seen:
            self._seen[(adapter, entity_id)] = (version, _copy(snapshot))


def _copy(snapshot: Snapshot) -> Snapshot:
    # callers must not be able to mutate stored state through a returned dict
    return None if snapshot is None else json.loads(json.dumps(snapshot))


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS dm_change_watermarks (
        adapter TEXT PRIMARY KEY,
        watermark TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS dm_change_seen (
        adapter TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        snapshot TEXT,
        PRIMARY KEY (adapter, entity_id)
    )""",
)


class SqliteStateFile:
    """A SQLite file of node-local state, set up once: WAL, then ``schema``'s statements.

    Subclasses run each job as a short ``sqlite3`` connection of its own in a worker thread
    (:meth:`_connect` per job). Switching a new file to WAL from several connections at
    once fails with SQLITE_BUSY *at once* (SQLite does not call the busy handler for that
    lock upgrade), so the set-up runs under a lock, and is retried while another *process*
    does the same.
    """

    #: statements that create the tables (``IF NOT EXISTS``)
    schema: tuple[str, ...] = ()

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._ready = False
        self._init_lock = threading.Lock()  # jobs run in worker threads, not on the loop

    async def initialize(self) -> None:
        """Create the file, switch it to WAL and create the tables (idempotent)."""
        await asyncio.to_thread(self._ensure)

    def _connect(self) -> sqlite3.Connection:
        # autocommit off by hand: every job opens its transaction explicitly
        return sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._init_lock:
            if self._ready:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(self._connect()) as db:
                busy_retry(lambda: db.execute("PRAGMA journal_mode=WAL"), self.busy_timeout)
                for statement in self.schema:
                    db.execute(statement)
            self._ready = True


class SqliteChangeStateStore(SqliteStateFile):
    """Durable state in a SQLite file, shareable by every adapter of a node.

    Each operation is one short, self-contained ``sqlite3`` job (connect, run, commit,
    close) in a worker thread (``asyncio.to_thread``). So the store holds no connection an
    owner could forget to close, and a cancelled caller (node shutdown) cannot cut a commit
    in half or leave a connection thread writing to a closed event loop — the job finishes
    in its thread and the transaction either lands whole or not at all. (aiosqlite's
    per-connection thread showed exactly that failure when capture tasks were cancelled.)
    Several processes may share the file: WAL mode, and SQLite serialises writers.

    The node calls :meth:`initialize` before its capture tasks start (a fresh demo whose
    tasks raced to set the file up hit "database is locked").
    """

    schema = _SCHEMA

    def _read(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        self._ensure()
        with contextlib.closing(self._connect()) as db:
            row: tuple[Any, ...] | None = db.execute(sql, params).fetchone()
            return row

    def _write(self, adapter: str, watermark: str | None, rows: list[tuple[Any, ...]]) -> None:
        self._ensure()
        with contextlib.closing(self._connect()) as db:
            # one transaction: the watermark never moves past a record whose seen row is lost
            db.execute("BEGIN IMMEDIATE")
            try:
                if watermark is not None:
                    db.execute(
                        "INSERT INTO dm_change_watermarks (adapter, watermark) VALUES (?, ?)"
                        " ON CONFLICT (adapter) DO UPDATE SET watermark = excluded.watermark",
                        (adapter, watermark),
                    )
                db.executemany(
                    "INSERT INTO dm_change_seen (adapter, entity_id, version, snapshot)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (adapter, entity_id) DO UPDATE SET"
                    " version = excluded.version, snapshot = excluded.snapshot",
                    rows,
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    async def get_watermark(self, adapter: str) -> str | None:
        row = await asyncio.to_thread(
            self._read, "SELECT watermark FROM dm_change_watermarks WHERE adapter = ?", (adapter,)
        )
        return None if row is None else str(row[0])

    async def get_seen(self, adapter: str, entity_id: str) -> tuple[int, Snapshot] | None:
        row = await asyncio.to_thread(
            self._read,
            "SELECT version, snapshot FROM dm_change_seen WHERE adapter = ? AND entity_id = ?",
            (adapter, entity_id),
        )
        if row is None:
            return None
        return int(row[0]), None if row[1] is None else json.loads(row[1])

    async def commit(self, adapter: str, watermark: str | None, seen: Sequence[SeenRow]) -> None:
        # serialise here, before any SQL runs: a row that cannot be stored fails the commit
        rows = [
            (
                adapter,
                entity_id,
                version,
                None if snap is None else json.dumps(snap, sort_keys=True),
            )
            for entity_id, version, snap in seen
        ]
        await asyncio.to_thread(self._write, adapter, watermark, rows)


def busy_retry(job: Any, timeout: float) -> Any:
    """Run ``job`` again while SQLite answers "database is locked", up to ``timeout``s."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return job()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
