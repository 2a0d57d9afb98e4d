"""Lease rows and the fenced shared change state, on SQLite and on PostgreSQL (the
application role, under row-level security)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.cluster.change_state import CatalogChangeStateStore
from dictamesh.cluster.leases import LeaseLost, LeaseStore


async def test_one_holder_at_a_time_and_every_acquisition_raises_the_token(
    database: CatalogDatabase,
) -> None:
    store = LeaseStore(database)
    first = await store.acquire("capture:crm", "a", 30)
    assert first is not None
    assert first.token == 1
    assert first.holder == "a"
    assert await store.acquire("capture:crm", "b", 30) is None
    assert await store.acquire("capture:crm", "a", 30) is None  # held, even by itself
    assert await store.acquire("capture:other", "b", 30) is not None  # names are separate

    await store.release(first)
    second = await store.acquire("capture:crm", "b", 30)
    assert second is not None
    assert second.token == 2
    current = await store.current("capture:crm")
    assert current == (second, True)


async def test_two_contenders_at_once_one_wins(
    database: CatalogDatabase, other_database: CatalogDatabase
) -> None:
    stores = [LeaseStore(database), LeaseStore(other_database)]
    for round_ in range(1, 6):
        won = await asyncio.gather(
            *(s.acquire("capture:race", f"node-{i}", 30) for i, s in enumerate(stores))
        )
        winners = [lease for lease in won if lease is not None]
        assert len(winners) == 1, won
        assert winners[0].token == round_
        await stores[0].release(winners[0])


async def test_renew_only_by_the_holder_with_the_same_token(database: CatalogDatabase) -> None:
    store = LeaseStore(database)
    lease = await store.acquire("capture:crm", "a", 30)
    assert lease is not None
    assert await store.renew(lease, 30)
    assert not await store.renew(replace(lease, holder="b"), 30)
    assert not await store.renew(replace(lease, token=lease.token + 1), 30)


async def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_renew(
    database: CatalogDatabase, other_database: CatalogDatabase
) -> None:
    old = await LeaseStore(database).acquire("capture:crm", "a", 1.0)
    assert old is not None
    taker = LeaseStore(other_database)
    assert await taker.acquire("capture:crm", "b", 30) is None
    started = time.monotonic()
    new = None
    while new is None:
        await asyncio.sleep(0.05)
        new = await taker.acquire("capture:crm", "b", 30)
    waited = time.monotonic() - started
    assert 0.7 < waited < 2.0, waited  # by the database's clock, within a poll
    assert new.token == old.token + 1
    assert not await LeaseStore(database).renew(old, 30)


async def test_fenced_commit_refused_for_a_stale_token(
    database: CatalogDatabase, other_database: CatalogDatabase
) -> None:
    old_store, new_store = LeaseStore(database), LeaseStore(other_database)
    old = await old_store.acquire("capture:crm", "a", 0.5)
    assert old is not None
    old_state = CatalogChangeStateStore(database, leases=old_store)
    with pytest.raises(LeaseLost):  # no lease held for the adapter yet
        await old_state.commit("crm", "w1", [])
    old_state.hold("crm", old)
    await old_state.commit("crm", "w1", [("c-1", 1, {"n": 1})])

    await asyncio.sleep(0.6)
    new = await new_store.acquire("capture:crm", "b", 30)
    assert new is not None
    new_state = CatalogChangeStateStore(other_database, leases=new_store)
    new_state.hold("crm", new)
    assert await new_state.get_watermark("crm") == "w1"  # resumes where the old one was
    assert await new_state.get_seen("crm", "c-1") == (1, {"n": 1})

    with pytest.raises(LeaseLost):
        await old_state.commit("crm", "w-stale", [("c-1", 9, None)])
    assert await new_state.get_watermark("crm") == "w1"  # nothing of it landed
    assert await new_state.get_seen("crm", "c-1") == (1, {"n": 1})
    await new_state.commit("crm", "w2", [("c-1", 2, None), ("c-2", 1, {"n": [1, "x"]})])
    assert await old_state.get_watermark("crm") == "w2"
    assert await old_state.get_seen("crm", "c-1") == (2, None)  # a tombstone reads as None
    assert await old_state.get_seen("crm", "c-2") == (1, {"n": [1, "x"]})


async def test_unfenced_state_commits_without_a_lease(database: CatalogDatabase) -> None:
    state = CatalogChangeStateStore(database)
    await state.commit("crm", None, [("c-1", 1, {"a": "b"})])
    assert await state.get_watermark("crm") is None  # None leaves the watermark
    await state.commit("crm", "w", [])
    assert await state.get_watermark("crm") == "w"
    assert await state.get_seen("crm", "missing") is None


async def test_bad_durations_are_refused(database: CatalogDatabase) -> None:
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive"):
            await LeaseStore(database).acquire("x", "a", bad)
