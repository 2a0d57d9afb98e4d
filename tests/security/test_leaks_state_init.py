"""Item 8: a fresh change-state file shared by many capture tasks at once.

Switching a brand-new SQLite file to WAL from several connections at the same moment
fails with SQLITE_BUSY at once ("database is locked"): the first ``dictamesh demo --check``
hit it. The store initialises the file once, under a lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from dictamesh.adapters.state import SqliteChangeStateStore

TASKS = 32


async def _capture(state: SqliteChangeStateStore, n: int) -> None:
    # what a capture task does first: read its watermark, then commit a change
    await state.get_watermark(f"adapter-{n}")
    await state.commit(f"adapter-{n}", f"w{n}", [(f"e-{n}", 1, {"n": n})])


async def test_many_capture_tasks_on_a_brand_new_file(tmp_path: Path) -> None:
    for attempt in range(2):  # a race: more than one fresh file
        state = SqliteChangeStateStore(tmp_path / f"try{attempt}" / "changes.sqlite3")
        await asyncio.gather(*(_capture(state, n) for n in range(TASKS)))
        for n in range(TASKS):
            assert await state.get_watermark(f"adapter-{n}") == f"w{n}"
            assert await state.get_seen(f"adapter-{n}", f"e-{n}") == (1, {"n": n})


async def test_the_new_file_is_set_up_once_before_concurrent_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every connection records its statements; a slow connect widens the window in which
    # unlocked tasks would all run the WAL switch on the new file at once
    state = SqliteChangeStateStore(tmp_path / "fresh" / "changes.sqlite3")
    statements: list[str] = []
    connect = state._connect

    def traced() -> sqlite3.Connection:
        time.sleep(0.02)
        db = connect()
        db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(state, "_connect", traced)
    await asyncio.gather(*(_capture(state, n) for n in range(TASKS)))
    assert [s for s in statements if "journal_mode" in s] == ["PRAGMA journal_mode=WAL"]
    assert await state.get_watermark("adapter-0") == "w0"


async def test_separate_stores_on_one_new_file(tmp_path: Path) -> None:
    # several store objects (as several processes would) sharing one new file
    path = tmp_path / "shared" / "changes.sqlite3"
    stores = [SqliteChangeStateStore(path) for _ in range(TASKS)]
    await asyncio.gather(*(_capture(s, n) for n, s in enumerate(stores)))
    assert await stores[0].get_watermark(f"adapter-{TASKS - 1}") == f"w{TASKS - 1}"


async def test_initialize_is_idempotent(tmp_path: Path) -> None:
    state = SqliteChangeStateStore(tmp_path / "changes.sqlite3")
    await asyncio.gather(state.initialize(), state.initialize())
    await state.initialize()
    assert await state.get_watermark("none") is None
