"""Every change reaches the catalog exactly once across a capture takeover: leader A is
stopped abruptly mid-burst (its last event ingested but not committed, its lease never
released), leader B takes over after the expiry, resumes from the shared watermark and
re-emits with the same event ids; the catalog's event log holds each change once."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from dictamesh.catalog import CatalogService
from dictamesh.catalog.ingest import CatalogIngestor
from dictamesh.catalog.tables import EVENTS
from dictamesh.cluster.change_state import CatalogChangeStateStore
from dictamesh.cluster.leader import LeaderElector
from dictamesh.cluster.leases import Lease, LeaseStore
from dictamesh.testing.adapters import FakeAdapter, FakeStore

CHANGES = 60
NAME = "capture:fake_widgets"


async def test_a_takeover_mid_burst_loses_and_doubles_nothing(catalog_url: str) -> None:
    source = FakeStore()
    for i in range(CHANGES):
        source.put(f"w-{i:03d}", name=f"n{i}")
    async with (
        await CatalogService.open(catalog_url, migrate=False) as cat_a,
        await CatalogService.open(catalog_url, migrate=False) as cat_b,
    ):
        leases_a = LeaseStore(cat_a.database)
        state_a = CatalogChangeStateStore(cat_a.database, leases=leases_a)
        adapter_a = FakeAdapter(store=source, state=state_a)
        await cat_a.register_entity_type(adapter_a.get_schema())
        ingest_a = CatalogIngestor(cat_a, {"widget": adapter_a.get_schema()})
        lease = await leases_a.acquire(NAME, "a", 1.0)
        assert lease is not None
        state_a.hold("fake_widgets", lease)
        ingested_a = 0
        crashed = asyncio.Event()

        async def capture_a() -> None:
            nonlocal ingested_a
            async for event in adapter_a.stream_changes():
                await ingest_a.handle(event, "t")
                ingested_a += 1
                if ingested_a == CHANGES // 2:
                    crashed.set()
                    await asyncio.Event().wait()  # "dies" before asking for the next one

        task = asyncio.create_task(capture_a())
        await asyncio.wait_for(crashed.wait(), 20)
        task.cancel()  # nothing of A runs any more: no commit, no release
        await asyncio.gather(task, return_exceptions=True)
        await adapter_a.aclose()

        leases_b = LeaseStore(cat_b.database)
        state_b = CatalogChangeStateStore(cat_b.database, leases=leases_b)
        adapter_b = FakeAdapter(store=source, state=state_b)
        ingest_b = CatalogIngestor(cat_b, {"widget": adapter_b.get_schema()})
        outcomes: list[bool] = []
        done = asyncio.Event()

        async def capture_b(lease: Lease) -> None:
            state_b.hold("fake_widgets", lease)
            async for event in adapter_b.stream_changes():
                outcomes.append(await ingest_b.handle(event, "t"))
                if sum(outcomes) + ingested_a >= CHANGES:
                    done.set()

        stop = asyncio.Event()
        elector = LeaderElector(leases_b, NAME, holder="b", lease_seconds=1.0, retry_seconds=0.05)
        runner = asyncio.create_task(elector.run(capture_b, stop))
        await asyncio.wait_for(done.wait(), 30)
        await asyncio.sleep(0.3)  # anything more would be a duplicate emission
        stop.set()
        await asyncio.wait_for(runner, 10)
        await adapter_b.aclose()

        async with cat_b.database.read() as conn:
            rows = (
                await conn.execute(
                    select(EVENTS.c.entity_id, func.count()).group_by(EVENTS.c.entity_id)
                )
            ).all()
    counts = dict(rows)
    assert sorted(counts) == sorted(source.rows)  # every change, ...
    assert set(counts.values()) == {1}  # ... once
    assert outcomes.count(False) == 1  # A's uncommitted last event: re-emitted, deduped
    assert len(outcomes) == CHANGES - ingested_a + 1
