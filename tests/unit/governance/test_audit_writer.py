"""The AuditWriter: batches, flush on interval / size / close, backpressure and drops."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import pytest
from sqlalchemy import event

from dictamesh.catalog.service import CatalogService
from dictamesh.governance.audit import AuditEntry, AuditLog
from dictamesh.governance.audit_writer import AuditWriter, AuditWriterCollector


def entry(i: int, tenant: str | None = None) -> AuditEntry:
    return AuditEntry(
        subject=f"user-{i}",
        roles=("support",),
        auth_method="jwt",
        channel="graphql",
        action="read",
        entity_type="customer",
        entity_id=str(i),
        field="email",
        classification="pii_email",
        decision="allow",
        mask="partial",
        rules=("support-contact-masked",),
        reason="allowed masked by rule",
        tenant=tenant,
    )


class Recorder:
    """Counts ``record`` calls (one transaction each); can be made to fail or stall."""

    def __init__(self) -> None:
        self.batches: list[list[AuditEntry]] = []
        self.fail = 0
        self.gate: asyncio.Event | None = None

    async def record(self, entries: Sequence[AuditEntry]) -> int:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise ConnectionError("catalog down")
        self.batches.append(list(entries))
        return len(entries)


async def test_n_accesses_make_at_most_ceil_n_over_batch_transactions(
    sqlite_catalog: CatalogService,
) -> None:
    catalog = sqlite_catalog
    commits = 0

    @event.listens_for(catalog.engine.sync_engine, "commit")
    def count(conn: object) -> None:
        nonlocal commits
        commits += 1

    writer = AuditWriter(AuditLog(catalog), batch_size=50, flush_interval=60)
    n = 237
    for i in range(n):  # one access at a time, as resolvers submit them
        assert await writer.submit([entry(i)])
    await writer.flush()
    assert writer.stats.written == n
    assert commits <= math.ceil(n / 50)
    assert writer.stats.batches == math.ceil(n / 50)
    rows = await AuditLog(catalog).query(limit=1000)
    assert len(rows) == n
    await writer.aclose()


async def test_a_partial_batch_is_written_after_the_flush_interval() -> None:
    recorder = Recorder()
    writer = AuditWriter(recorder, batch_size=100, flush_interval=0.05)
    await writer.submit([entry(1), entry(2)])
    assert recorder.batches == []
    for _ in range(100):
        if recorder.batches:
            break
        await asyncio.sleep(0.01)
    assert [len(b) for b in recorder.batches] == [2]
    await writer.aclose()


async def test_close_drains_the_queue() -> None:
    recorder = Recorder()
    writer = AuditWriter(recorder, batch_size=10, flush_interval=60)
    await writer.submit([entry(i) for i in range(25)])
    await writer.aclose()
    assert [len(b) for b in recorder.batches] == [10, 10, 5]
    assert writer.stats.lost == 0


async def test_each_tenant_is_written_in_its_own_transaction() -> None:
    recorder = Recorder()
    writer = AuditWriter(recorder, batch_size=4, flush_interval=60)
    await writer.submit([entry(1, "acme"), entry(2, "globex"), entry(3, "acme"), entry(4)])
    await writer.flush()
    assert sorted(sorted(e.entity_id or "" for e in b) for b in recorder.batches) == [
        ["1", "3"],
        ["2"],
        ["4"],
    ]
    await writer.aclose()


async def test_failed_writes_are_retried_not_dropped() -> None:
    recorder = Recorder()
    recorder.fail = 2
    writer = AuditWriter(recorder, batch_size=5, flush_interval=60, retry_max_seconds=0.01)
    await writer.submit([entry(i) for i in range(5)])
    await writer.flush()
    assert writer.stats.failures == 2
    assert writer.stats.written == 5
    assert writer.stats.dropped == 0
    await writer.aclose()


async def test_a_full_queue_makes_callers_wait_then_counts_drops() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()  # the database stalls
    writer = AuditWriter(recorder, batch_size=2, flush_interval=60, max_pending=4, max_wait=0.1)
    assert await writer.submit([entry(0), entry(1)])  # taken by the stalled write
    await asyncio.sleep(0.01)
    assert await writer.submit([entry(i) for i in range(2, 6)])  # fills the queue
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert not await writer.submit([entry(6)])  # waited max_wait, then dropped
    assert loop.time() - started >= 0.09
    assert not writer.submit_nowait([entry(7)])  # cannot wait: dropped at once
    assert writer.stats.dropped == 2

    # a caller that waits while the database recovers gets its entry queued
    writer.max_wait = 5
    waiting = asyncio.ensure_future(writer.submit([entry(8)]))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    recorder.gate.set()
    assert await waiting
    await writer.aclose()
    assert writer.stats.written == 7
    assert writer.stats.dropped == 2


async def test_the_collector_reports_the_writer() -> None:
    recorder = Recorder()
    writer = AuditWriter(recorder, batch_size=2, flush_interval=60)
    await writer.submit([entry(1), entry(2), entry(3)])
    await writer.flush()
    metrics = {m.name: m for m in AuditWriterCollector(writer, withheld=lambda: 7).collect()}
    written = {s.labels["outcome"]: s.value for s in metrics["dictamesh_audit_entries"].samples}
    assert written == {"written": 3, "dropped": 0, "lost": 0}
    assert metrics["dictamesh_audit_batches"].samples[0].value == 2
    assert metrics["dictamesh_governance_withheld_values"].samples[0].value == 7
    await writer.aclose()


def test_a_queue_smaller_than_a_batch_is_refused() -> None:
    with pytest.raises(ValueError):
        AuditWriter(Recorder(), batch_size=10, max_pending=5)
