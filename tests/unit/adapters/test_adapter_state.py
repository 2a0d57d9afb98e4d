"""Change-detection state stores: memory and SQLite (durable, atomic commit)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dictamesh.adapters.state import (
    ChangeStateStore,
    MemoryChangeStateStore,
    SqliteChangeStateStore,
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ChangeStateStore:
    if request.param == "memory":
        return MemoryChangeStateStore()
    return SqliteChangeStateStore(tmp_path / "state" / "changes.sqlite3")


async def test_empty_then_committed(store: ChangeStateStore) -> None:
    assert isinstance(store, ChangeStateStore)
    assert await store.get_watermark("a") is None
    assert await store.get_seen("a", "c-1") is None
    await store.commit("a", "2026-01-01T00:00:01Z", [("c-1", 2, {"email": "x@y.z"})])
    assert await store.get_watermark("a") == "2026-01-01T00:00:01Z"
    assert await store.get_seen("a", "c-1") == (2, {"email": "x@y.z"})
    assert await store.get_watermark("other") is None  # state is per adapter
    assert await store.get_seen("other", "c-1") is None


async def test_none_watermark_keeps_it_and_tombstones(store: ChangeStateStore) -> None:
    await store.commit("a", "w1", [("c-1", 1, {"n": 1})])
    await store.commit("a", None, [("c-1", 2, None)])
    assert await store.get_watermark("a") == "w1"
    assert await store.get_seen("a", "c-1") == (2, None)


async def test_returned_snapshots_are_copies(store: ChangeStateStore) -> None:
    await store.commit("a", None, [("c-1", 1, {"tags": ["x"]})])
    seen = await store.get_seen("a", "c-1")
    assert seen is not None
    assert seen[1] is not None
    seen[1]["tags"].append("mutated")
    assert await store.get_seen("a", "c-1") == (1, {"tags": ["x"]})


async def test_sqlite_survives_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "changes.sqlite3"
    await SqliteChangeStateStore(path).commit("a", "w9", [("c-1", 4, {"n": 4})])
    reopened = SqliteChangeStateStore(path)
    assert await reopened.get_watermark("a") == "w9"
    assert await reopened.get_seen("a", "c-1") == (4, {"n": 4})


async def test_sqlite_commit_is_atomic(tmp_path: Path) -> None:
    store = SqliteChangeStateStore(tmp_path / "changes.sqlite3")
    await store.commit("a", "w1", [("c-1", 1, {"n": 1})])
    with pytest.raises(sqlite3.IntegrityError):
        # the watermark is written first, then the second row violates NOT NULL:
        # nothing of this commit may land
        await store.commit("a", "w2", [("c-2", 1, {"n": 2}), ("c-3", None, {"n": 3})])  # type: ignore[list-item]
    assert await store.get_watermark("a") == "w1"
    assert await store.get_seen("a", "c-2") is None
    with pytest.raises(TypeError):
        await store.commit("a", "w3", [("c-4", 1, {"bad": object()})])
    assert await store.get_watermark("a") == "w1"
