"""The Kafka broker crashes (SIGKILL) mid-stream and restarts on the same data directory.

A producer publishes 2,000 keyed change events (20 entities x 100 versions) through
:class:`KafkaBus` while the catalog ingest consumes them as the node wires it
(``run_consumer`` + :class:`CatalogIngestor`, catalog on a temp SQLite file). Publishing
during the outage raises :class:`EventBusError` after ``delivery_timeout_ms``; the producer
then publishes the same event (same ``event_id``) again, so Kafka may hold duplicates, which
the ingest must recognise. Afterwards: every event once in the event log, every entity at
its last version, nothing applied twice, nothing dead-lettered.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import EventBusError
from dictamesh.core.models import ChangeEvent
from dictamesh.events.consume import ConsumerStats, run_consumer
from dictamesh.events.kafka import KafkaBus
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

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

KILL_AFTER = 600  # events acknowledged before the broker is killed
DELIVERY_TIMEOUT_MS = 2_000  # well below the outage (~6 s), so publishes do fail


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[CatalogService]:
    catalog = await CatalogService.open(f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}")
    try:
        yield catalog
    finally:
        await catalog.aclose()


async def test_broker_killed_mid_stream_loses_and_duplicates_nothing(
    private_kafka: PrivateServer, catalog: CatalogService
) -> None:
    topic, streams = event_stream()
    total = sum(len(evs) for evs in streams.values())
    bus = KafkaBus(
        f"127.0.0.1:{private_kafka.port}",
        client_id="fault-tests",
        topic_specs=(),
        delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
    )
    await bus.connect()
    await bus.ensure_topic(TopicSpec(name=topic, partitions=3))
    publisher = EventPublisher(bus)
    timeline = Timeline()
    ingest = Ingest(catalog, timeline)
    consumer_stats = ConsumerStats()
    stop = asyncio.Event()
    acked = 0
    publish_errors: list[EventBusError] = []

    async def produce(events: list[ChangeEvent]) -> None:
        nonlocal acked
        for event in events:
            while True:
                try:
                    await publisher.publish_event(event)
                except EventBusError as exc:
                    # The record may still be written later: re-publishing the same event
                    # (same event_id) is safe because the ingest dedupes.
                    publish_errors.append(exc)
                    timeline.mark("publish_failed")
                    await asyncio.sleep(0.2)
                    continue
                break
            acked += 1
            timeline.mark("acked")
            await asyncio.sleep(0.005)  # a steady stream, not one burst

    consumer = asyncio.create_task(
        run_consumer(
            bus, "dictamesh-catalog-ingest", [topic], ingest, stop=stop, stats=consumer_stats
        )
    )
    producers = [asyncio.create_task(produce(evs)) for evs in streams.values()]
    try:
        await wait_for(lambda: acked >= KILL_AFTER, 60, f"{KILL_AFTER} acknowledged events")
        assert acked < total, "the stream ended before the broker was killed"
        await asyncio.to_thread(private_kafka.kill)
        killed_at = time.monotonic()  # services.sh returns once the JVM is gone
        restart = await asyncio.to_thread(private_kafka.up)
        back_at = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*producers), 180)
        await wait_for(
            lambda: ingest.ingestor.stats.events >= total or consumer.done(),
            120,
            "the catalog to ingest every event",
        )
        caught_up = time.monotonic()
    finally:
        stop.set()
        for task in producers:
            task.cancel()
        await asyncio.gather(*producers, return_exceptions=True)
        await asyncio.wait_for(consumer, 60)
        await bus.aclose()

    await check_exactly_once(catalog, streams)
    stats = ingest.ingestor.stats
    assert stats.events == total  # each event applied exactly once...
    assert stats.events + stats.duplicates == consumer_stats.consumed  # ...the rest skipped
    assert consumer_stats.dead_lettered == 0
    assert publish_errors, "no publish failed: the outage was not exercised"
    assert all("not acknowledged" in e.message for e in publish_errors), publish_errors[0]

    # Recovery: from the SIGKILL to the first acknowledgement / catalog write after the
    # restart (the broker cannot answer within 1 s of dying: its JVM alone takes longer).
    first_ack = timeline.first_after("acked", killed_at + 1.0)
    first_ingest = timeline.first_after("ingested", killed_at + 1.0)
    assert first_ack is not None
    assert first_ingest is not None
    RECOVERY.append(
        f"kafka SIGKILL + restart: broker back {back_at - killed_at:.1f}s after the kill"
        f" (services.sh up {restart:.1f}s); first publish acked after"
        f" {first_ack - killed_at:.1f}s, first catalog write after"
        f" {first_ingest - killed_at:.1f}s, all {total} events ingested"
        f" {caught_up - killed_at:.1f}s after the kill; {len(publish_errors)} publish"
        f" timeouts re-published, {stats.duplicates} duplicate deliveries skipped"
    )


async def test_closing_the_bus_while_the_broker_is_down_does_not_hang(
    private_kafka: PrivateServer, caplog: pytest.LogCaptureFixture
) -> None:
    topic, streams = event_stream(entities=1, versions=2)
    first, second = next(iter(streams.values()))
    bus = KafkaBus(
        f"127.0.0.1:{private_kafka.port}",
        client_id="fault-tests",
        topic_specs=(),
        delivery_timeout_ms=1_000,
    )
    await bus.connect()
    publisher = EventPublisher(bus)
    await bus.ensure_topic(TopicSpec(name=topic, partitions=1))
    await publisher.publish_event(first)
    await asyncio.to_thread(private_kafka.kill)
    try:
        with pytest.raises(EventBusError, match="not acknowledged"):
            await publisher.publish_event(second)
        started = time.monotonic()
        # The unsent record used to keep the producer flushing until the broker came back.
        await asyncio.wait_for(bus.aclose(), 15)
        took = time.monotonic() - started
    finally:
        await asyncio.to_thread(private_kafka.up)
    assert took < 5
    assert "dropping them" in caplog.text
    gc.collect()  # an abandoned record's future must not report an unretrieved error
    assert "never retrieved" not in caplog.text
    assert "Exception in callback" not in caplog.text
    RECOVERY.append(
        f"kafka down, KafkaBus.aclose() with an unsent record: {took:.1f}s"
        " (delivery_timeout_ms=1000), instead of waiting for the broker"
    )
