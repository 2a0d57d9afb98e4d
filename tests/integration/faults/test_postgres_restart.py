"""The catalog's PostgreSQL crashes (``pg_ctl stop -m immediate``) mid-ingest and restarts.

Events flow through the embedded bus into a catalog on a private PostgreSQL cluster while a
producer keeps publishing. The server is down for a couple of seconds, far longer than the
per-message retries would last, so without the transient-failure handling of
``run_consumer`` events would end up in the DLQ. Checked: ingest resumes by itself, every
event is in the event log exactly once, every entity is at its last version, nothing is
dead-lettered, and no offset is committed for a message whose catalog write had not
succeeded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import CatalogUnavailable
from dictamesh.events.bus import Message
from dictamesh.events.consume import ConsumerStats, run_consumer
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.topics import TopicSpec
from tests.integration.faults.conftest import RECOVERY, PrivateServer
from tests.integration.faults.support import (
    Ingest,
    Timeline,
    check_exactly_once,
    event_stream,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KILL_AFTER = 600  # events in the catalog before the server is stopped
DOWN_FOR = 2.0  # seconds the server stays down


@pytest.fixture
async def catalog(private_postgres: PrivateServer) -> AsyncIterator[CatalogService]:
    address = f"127.0.0.1:{private_postgres.port}/dictamesh_test"
    # As a node runs it: the application role; migrations as the tables' owner.
    catalog = await CatalogService.open(
        f"postgresql+asyncpg://dictamesh:dictamesh@{address}",
        migration_url=f"postgresql+asyncpg://dictamesh_owner:dictamesh@{address}",
    )
    try:
        yield catalog
    finally:
        await catalog.aclose()


class CommitSpy:
    """Wraps the bus's consumers: every commit must cover only successfully handled
    messages (commits are cumulative: committing offset n acks every offset below it)."""

    def __init__(self, bus: EmbeddedBus, ingest: Ingest) -> None:
        self.ingest = ingest
        self.committed: dict[tuple[str, int], int] = {}
        self.violations: list[str] = []
        self._make = bus.consumer

    def consumer(self, group: str, topics: Any) -> Any:
        consumer = self._make(group, topics)
        commit_many = consumer.commit_many

        async def checked_commit_many(messages: Iterable[Message]) -> None:
            messages = list(messages)
            for m in messages:
                tp = (m.topic, m.partition)
                start = self.committed.get(tp, 0)
                unhandled = [
                    o
                    for o in range(start, m.offset + 1)
                    if (m.topic, m.partition, o) not in self.ingest.handled
                ]
                if unhandled:
                    self.violations.append(f"{tp}: commit up to {m.offset} acks {unhandled}")
                self.committed[tp] = max(start, m.offset + 1)
            await commit_many(messages)

        consumer.commit_many = checked_commit_many  # type: ignore[method-assign]
        return consumer


async def test_catalog_database_restart_mid_ingest(
    private_postgres: PrivateServer,
    catalog: CatalogService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic, streams = event_stream()
    total = sum(len(evs) for evs in streams.values())
    timeline = Timeline()
    ingest = Ingest(catalog, timeline)
    consumer_stats = ConsumerStats()
    stop = asyncio.Event()

    async with EmbeddedBus(tmp_path / "bus.db") as bus:
        await bus.ensure_topic(TopicSpec(name=topic, partitions=3))
        spy = CommitSpy(bus, ingest)
        monkeypatch.setattr(bus, "consumer", spy.consumer)
        publisher = EventPublisher(bus)
        published = 0

        async def produce() -> None:
            nonlocal published
            # Version by version across all entities, in small batches: a steady stream.
            rounds = list(zip(*streams.values(), strict=True))
            for batch in rounds:
                await publisher.publish_events(batch)
                published += len(batch)
                await asyncio.sleep(0.02)

        consumer = asyncio.create_task(
            run_consumer(
                bus,
                "dictamesh-catalog-ingest",
                [topic],
                ingest,
                stop=stop,
                stats=consumer_stats,
                batch_size=50,
            )
        )
        producer = asyncio.create_task(produce())
        try:
            await wait_for(
                lambda: ingest.ingestor.stats.events >= KILL_AFTER or consumer.done(),
                60,
                f"{KILL_AFTER} events in the catalog",
            )
            assert not consumer.done(), consumer
            assert ingest.ingestor.stats.events < total, "ingest ended before the restart"
            await asyncio.to_thread(private_postgres.kill)
            killed_at = time.monotonic()  # pg_ctl -w returns once the server is gone
            await asyncio.sleep(DOWN_FOR)
            restart = await asyncio.to_thread(private_postgres.up)
            back_at = time.monotonic()
            await asyncio.wait_for(producer, 60)
            await wait_for(
                lambda: consumer_stats.committed >= published or consumer.done(),
                120,
                "the consumer to commit every event",
            )
            caught_up = time.monotonic()
        finally:
            stop.set()
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
            await asyncio.wait_for(consumer, 60)
        assert await bus.lag("dictamesh-catalog-ingest") == {topic: {0: 0, 1: 0, 2: 0}}
        assert not spy.violations, spy.violations[:5]

    await check_exactly_once(catalog, streams)
    stats = ingest.ingestor.stats
    # A commit cut off by the crash may have happened server-side only: its events then
    # come back as duplicates, never as second applications.
    assert stats.events <= total
    assert consumer_stats.dead_lettered == 0
    assert ingest.errors, "no catalog write failed: the restart was not exercised"
    # Typed and transient: retried until the server was back, never dead-lettered.
    assert all(isinstance(e, CatalogUnavailable) for e in ingest.errors), ingest.errors[:3]
    assert consumer_stats.transient_failures == len(ingest.errors)

    first_ingest = timeline.first_after("ingested", killed_at)
    assert first_ingest is not None
    assert first_ingest > back_at - restart  # nothing got in while the server was down
    RECOVERY.append(
        f"postgres immediate stop, {DOWN_FOR:g}s down, restart (services.sh up"
        f" {restart:.1f}s): first catalog write {first_ingest - back_at:+.1f}s after the"
        f" server was back ({first_ingest - killed_at:.1f}s after the stop), caught up"
        f" {caught_up - killed_at:.1f}s after the stop; {len(ingest.errors)} failed catalog"
        f" writes retried, {stats.duplicates} duplicates skipped"
    )
