"""Leader election over real lease rows (SQLite and PostgreSQL): one leader at a time,
takeover after a release or an expiry (measured), a lost lease stops the work at once."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from sqlalchemy import update
from tests.timing import LoopStalls

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.cluster.leader import LeaderElector
from dictamesh.cluster.leases import Lease, LeaseStore
from dictamesh.cluster.tables import LEASES

NAME = "capture:crm"


class Witness:
    """Records who works when; fails the test if two ever work at once."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.overlaps = 0
        self.started: dict[str, list[float]] = {}
        self.cancelled: dict[str, list[float]] = {}

    def work(self, who: str) -> Callable[[Lease], Coroutine[Any, Any, None]]:
        async def run(lease: Lease) -> None:
            if self.running:
                self.overlaps += 1
            self.running.add(who)
            self.started.setdefault(who, []).append(time.monotonic())
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.setdefault(who, []).append(time.monotonic())
                raise
            finally:
                self.running.discard(who)

        return run


async def wait_for(check: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


@contextlib.asynccontextmanager
async def running(
    elector: LeaderElector, work: Any, stop: asyncio.Event
) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(elector.run(work, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def elector(database: CatalogDatabase, who: str, lease: float = 1.5) -> LeaderElector:
    changes: list[bool] = []
    made = LeaderElector(
        LeaseStore(database),
        NAME,
        holder=who,
        lease_seconds=lease,
        retry_seconds=0.1,
        listener=changes.append,
    )
    made.changes = changes  # type: ignore[attr-defined]
    return made


async def test_one_leader_and_a_clean_stop_hands_over_at_once(
    database: CatalogDatabase, other_database: CatalogDatabase
) -> None:
    witness = Witness()
    a, b = elector(database, "a"), elector(other_database, "b")
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    async with running(a, witness.work("a"), stop_a) as task_a:
        await wait_for(lambda: a.is_leader, 5)
        async with running(b, witness.work("b"), stop_b):
            await asyncio.sleep(2.0)  # several renewals: b never gets in
            assert witness.running == {"a"}
            assert not b.is_leader
            stop_a.set()
            await task_a
            handover = await wait_for(lambda: b.is_leader, 5)
            assert handover < 0.5, handover  # released: no waiting for the expiry
            await wait_for(lambda: witness.running == {"b"}, 1)
    assert witness.overlaps == 0
    assert a.changes == [True, False]  # type: ignore[attr-defined]
    assert (await LeaseStore(database).current(NAME)) is not None


async def test_takeover_when_the_holder_stops_renewing(
    database: CatalogDatabase, other_database: CatalogDatabase
) -> None:
    lease_seconds = 2.0
    frozen = await LeaseStore(database).acquire(NAME, "frozen", lease_seconds)
    assert frozen is not None
    since = time.monotonic()
    witness = Witness()
    b = elector(other_database, "b", lease=lease_seconds)
    async with LoopStalls() as stalls, running(b, witness.work("b"), asyncio.Event()):
        await wait_for(lambda: b.is_leader, 10)
        takeover = time.monotonic() - since
    print(f"lease takeover after the holder stopped renewing: {takeover:.2f} s")
    # never before expiry; after it, within a retry plus what a loaded machine held us up
    assert lease_seconds - 0.3 < takeover < lease_seconds + 1.0 + stalls.total, takeover
    assert b.lease is None


async def test_a_lost_lease_cancels_the_work_at_once(
    database: CatalogDatabase, other_database: CatalogDatabase
) -> None:
    witness = Witness()
    a = elector(database, "a", lease=1.5)
    async with running(a, witness.work("a"), asyncio.Event()):
        await wait_for(lambda: "a" in witness.running, 5)
        # another node takes the lease over (as if a's had expired while it was paused)
        async with other_database.write() as conn:
            await conn.execute(update(LEASES).values(expires_at=0.0))
        stolen = await LeaseStore(other_database).acquire(NAME, "b", 30)
        assert stolen is not None
        taken = time.monotonic()
        await wait_for(lambda: "a" not in witness.running, 2)
        assert witness.cancelled["a"][0] - taken < 0.5 + 0.3  # by the next renewal
        assert not a.is_leader


async def test_the_leader_steps_down_before_expiry_when_the_database_is_unreachable(
    tmp_path: Any, sqlite_catalog_template: Any
) -> None:
    from tests.catalog_fixtures import fresh_sqlite_catalog

    path = tmp_path / "catalog.sqlite3"
    url = fresh_sqlite_catalog(sqlite_catalog_template, path)
    database = await CatalogDatabase.open(url, migrate=False)
    witness = Witness()
    a = elector(database, "a", lease=1.5)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        async with running(a, witness.work("a"), asyncio.Event()):
            await wait_for(lambda: "a" in witness.running, 5)
            acquired = witness.started["a"][0]
            blocker.execute("BEGIN EXCLUSIVE")  # no renewal can write now
            try:
                await wait_for(lambda: "a" not in witness.running, 3)
            finally:
                blocker.execute("ROLLBACK")
            stepped_down = witness.cancelled["a"][0] - acquired
            assert stepped_down < 1.5, stepped_down  # a third of the lease to spare
    finally:
        blocker.close()
        await database.aclose()


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
async def test_a_failing_work_releases_and_raises(database: CatalogDatabase) -> None:
    a = elector(database, "a")

    async def broken(lease: Lease) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await a.run(broken, asyncio.Event())
    current = await LeaseStore(database).current(NAME)
    assert current is not None
    assert current[1] is False  # released: the next node need not wait
