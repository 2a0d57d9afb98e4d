"""The scheduled runs: two nodes sharing a state directory (the file lease of an embedded
catalog), only the one holding ``quality:schedule`` runs the rules; when it stops, the
other takes over. And the on-ingest counts are stored by a flush."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.quality_support import RULES, good_data, ingest

from dictamesh.catalog import CatalogService
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.quality.runtime import NodeQuality
from dictamesh.quality.store import QualityStore


def _settings(tmp_path: Path, name: str, election: str = "file") -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": name,
            "state_dir": str(tmp_path / "state"),
            "capture": {"leader_election": election, "lease_seconds": 1, "retry_seconds": 0.1},
            "quality": {"rules": RULES, "interval_seconds": 1},
        }
    )


async def _until(check: object, seconds: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.05)


async def test_one_node_runs_the_schedule(sqlite_catalog: CatalogService, tmp_path: Path) -> None:
    await one_node_runs_the_schedule(sqlite_catalog, tmp_path, "file")


async def one_node_runs_the_schedule(
    catalog: CatalogService, tmp_path: Path, election: str
) -> None:
    """(also on PostgreSQL with the lease row: tests/integration/postgres)"""
    await ingest(catalog, good_data())
    async with EmbeddedBus(tmp_path / "bus.sqlite3") as bus:
        a, b = (
            NodeQuality.build(_settings(tmp_path, n, election), catalog.database, bus, ingest=True)
            for n in ("a", "b")
        )
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        task_a = asyncio.create_task(a.schedule(stop_a))
        await _until(lambda: a.runs_done >= 1)
        task_b = asyncio.create_task(b.schedule(stop_b))
        await _until(lambda: a.runs_done >= 3)
        assert b.runs_done == 0  # the lease is a's
        stop_a.set()
        await task_a
        await _until(lambda: b.runs_done >= 1)  # a released it: b leads now
        stop_b.set()
        await task_b
        runs = await QualityStore(catalog.database).runs("default", limit=100)
        assert {r["node"] for r in runs} == {"a", "b"}
        assert all(r["trigger"] == "schedule" and r["failed"] == 0 for r in runs)


async def test_ingest_counts_are_flushed(sqlite_catalog: CatalogService, tmp_path: Path) -> None:
    async with EmbeddedBus(tmp_path / "bus.sqlite3") as bus:
        quality = NodeQuality.build(
            _settings(tmp_path, "n"), sqlite_catalog.database, bus, ingest=True
        )
        assert quality.checker is not None
        quality.checker.ingested(await ingest(sqlite_catalog, good_data()))
        assert await quality.flush() == 1
        assert await quality.flush() == 0  # nothing new
        latest = await quality.store.latest("default", ingest=True)
        assert {r.rule_id: r.checked for r in latest}["invoice-status"] == 2
