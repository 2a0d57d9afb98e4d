"""Kafka → PostgreSQL catalog ingest, events/second, against a bare aiokafka + asyncpg loop.

    python benchmarks/kafka_pg_ingest.py                 # 20 000 events
    python benchmarks/kafka_pg_ingest.py --events 50000 --batch-size 500

One run, three figures side by side:

(a) DictaMesh: N customer change events are published to a fresh topic, then the catalog
    ingest consumer — ``run_consumer`` with :func:`dictamesh.node.catalog_ingest_handler`,
    the code :class:`MeshNode` runs — drains them into a PostgreSQL catalog (migrated to
    head, so with every index, trigger and policy of the real schema). Timed from the first
    consumed batch to the last commit. The catalog already holds ``--warmup`` other
    customers and has been ANALYZEd, as a running catalog has: (a') is the same on a
    brand-new catalog, which has no statistics until autovacuum's first ANALYZE, and
    (a'') the same catalog writes without Kafka (``CatalogIngestor.handle_batch`` called
    directly, same batches, into another warmed-up catalog): the gap to (a) is what the
    consumer adds. The scratch databases belong to the connecting role, so row-level
    security, which binds the application role only (ADR 0004), is not in these figures;
    measured under it, the ingest is as fast.
(b) Baseline, the same client libraries and the same messages: an aiokafka consumer
    (``getmany``, manual commits), ``json.loads`` for the event id, and one asyncpg
    ``executemany`` ``INSERT ... ON CONFLICT (event_id) DO NOTHING`` into a plain table per
    batch, then the offsets committed. Same batch size, same interval.
(c) The embedded default: ``ingest_embedded.through_bus`` (publish + embedded bus + SQLite
    catalog ingest), for scale.

Addresses: ``DICTAMESH_POSTGRES_URL`` and ``DICTAMESH_KAFKA_BOOTSTRAP`` (default: the
``scripts/services.sh`` ones); every Kafka client, the bare ones of (b) too, connects with
``bus.kafka`` from the environment (``DICTAMESH_BUS__KAFKA__SECURITY_PROTOCOL=SASL_SSL``,
...). Everything lives in a database and a topic created for this run (databases
``dictamesh_bench_ingest_<run>[_fresh|_direct]``, topic
``bench.k<run>.entity_changed``) and is dropped at the end, so runs are repeatable and leave
nothing behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import ingest_embedded
from _kpi import Kpi, record
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import make_url

from dictamesh.catalog.ingest import CatalogIngestor
from dictamesh.catalog.service import CatalogService
from dictamesh.core.bus_config import KafkaClientSettings
from dictamesh.core.models import (
    ChangeEvent,
    EntitySchema,
    FieldSpec,
    FieldType,
    SourceRef,
)
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.bus import Message
from dictamesh.events.consume import ConsumerStats, run_consumer
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.kafka_client import aiokafka_security, librdkafka_config
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.events.topics import TopicSpec
from dictamesh.node import catalog_ingest_handler

DEFAULT_PG = "postgresql+asyncpg://dictamesh:dictamesh@127.0.0.1:5432/dictamesh"
DEFAULT_KAFKA = "127.0.0.1:9092"
PARTITIONS = 3  # what scripts/services.sh's broker and DEFAULT_TOPICS use

SCHEMA = EntitySchema(
    entity_type="customer",
    domain="bench",
    fields=[
        FieldSpec(name="email", type=FieldType.STRING),
        FieldSpec(name="country", type=FieldType.STRING),
    ],
)


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def scratch_database(url: str, name: str) -> AsyncIterator[str]:
    """A database for this run only (the app role has CREATEDB), dropped afterwards."""
    admin = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(url, name)
        finally:
            # Not WITH (FORCE): that needs the right to signal autovacuum workers, which
            # the app role lacks. A plain DROP stops them itself; retry while our own
            # closed connections are still going away.
            for attempt in range(20):
                try:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    break
                except asyncpg.ObjectInUseError:
                    if attempt == 19:
                        raise
                    await asyncio.sleep(0.25)
    finally:
        await admin.close()


@functools.cache
def kafka_settings() -> KafkaClientSettings:
    """``bus.kafka`` from the environment: security for every client of this benchmark."""
    return DictaMeshSettings().bus.kafka


async def drop_kafka_leftovers(bootstrap: str, topic: str, groups: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **aiokafka_security(kafka_settings()))
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()
    # aiokafka's admin cannot delete groups; confluent-kafka's can (empty groups would
    # otherwise linger until offsets.retention.minutes).
    with contextlib.suppress(ImportError):
        from confluent_kafka.admin import AdminClient

        # alive until its futures end
        client = AdminClient(librdkafka_config(kafka_settings(), bootstrap))
        futures = client.delete_consumer_groups(groups, request_timeout=10)
        for future in futures.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.wrap_future(future), 15)


async def dictamesh_ingest(
    bus: KafkaBus, catalog_url: str, topic: str, group: str, n: int, batch: int
) -> float:
    """(a): seconds from the first consumed batch to the commit of the N-th event."""
    async with await CatalogService.open(catalog_url) as catalog:
        before = await catalog.count_entities("customer")
        handler = catalog_ingest_handler(
            CatalogIngestor(catalog, {"customer": SCHEMA}), JsonEventSerializer()
        )
        first: float | None = None

        async def timed(messages: list[Message]) -> None:
            nonlocal first
            if first is None:
                first = time.perf_counter()
            await handler(messages)

        stats = ConsumerStats()
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_consumer(bus, group, [topic], timed, stop=stop, stats=stats, batch_size=batch)
        )
        while stats.committed < n:
            if task.done():
                task.result()
                raise SystemExit(f"consumer ended after {stats.committed} of {n}")
            await asyncio.sleep(0.001)
        last = time.perf_counter()
        stop.set()
        await task
        ingested = await catalog.count_entities("customer") - before
        if ingested != n:
            raise SystemExit(f"catalog gained {ingested} customers, expected {n}")
        assert first is not None
        return last - first


async def direct_ingest(
    catalog_url: str, events: list[ChangeEvent], topic: str, batch: int
) -> float:
    """(a''): the same events straight into ``handle_batch``, batch by batch (no Kafka)."""
    async with await CatalogService.open(catalog_url) as catalog:
        before = await catalog.count_entities("customer")
        ingestor = CatalogIngestor(catalog, {"customer": SCHEMA})
        started = time.perf_counter()
        for i in range(0, len(events), batch):
            await ingestor.handle_batch([(e, topic) for e in events[i : i + batch]])
        elapsed = time.perf_counter() - started
        ingested = await catalog.count_entities("customer") - before
        if ingested != len(events):
            raise SystemExit(f"catalog gained {ingested} customers, expected {len(events)}")
        return elapsed


async def baseline_ingest(
    bootstrap: str, dsn: str, topic: str, group: str, n: int, batch: int
) -> float:
    """(b): the same messages, bare aiokafka + asyncpg; same interval as (a)."""
    conn = await asyncpg.connect(dsn)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **aiokafka_security(kafka_settings()),
    )
    try:
        await conn.execute(
            "CREATE TABLE bench_events (event_id uuid PRIMARY KEY, entity_type text NOT NULL,"
            " entity_id text NOT NULL, version bigint NOT NULL, payload jsonb NOT NULL)"
        )
        insert = (
            "INSERT INTO bench_events (event_id, entity_type, entity_id, version, payload)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING"
        )
        await consumer.start()
        done = 0
        first: float | None = None
        while done < n:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=batch)
            if not fetched:
                continue
            if first is None:
                first = time.perf_counter()
            rows = []
            for records in fetched.values():
                for record in records:
                    body = json.loads(record.value)
                    entity = body["entity"]
                    rows.append(
                        (
                            body["event_id"],
                            entity["type"],
                            entity["id"],
                            entity["version"],
                            record.value.decode(),
                        )
                    )
            async with conn.transaction():
                await conn.executemany(insert, rows)
            offsets: dict[TopicPartition, int] = {
                tp: records[-1].offset + 1 for tp, records in fetched.items()
            }
            await consumer.commit(offsets)
            done += len(rows)
        last = time.perf_counter()
        stored = await conn.fetchval("SELECT count(*) FROM bench_events")
        if stored != n:
            raise SystemExit(f"baseline table holds {stored} rows, expected {n}")
        assert first is not None
        return last - first
    finally:
        await consumer.stop()
        await conn.close()


async def warm_up(catalog_url: str, n: int, batch: int) -> None:
    """Give the catalog ``n`` other customers (same ingest code, no bus) and statistics."""
    source = SourceRef(domain="bench", system="warmup")
    events = [
        e.model_copy(update={"entity": e.entity.model_copy(update={"id": f"w-{e.entity.id}"})})
        for e in ingest_embedded.make_events(n, source)
    ]
    async with await CatalogService.open(catalog_url) as catalog:
        ingestor = CatalogIngestor(catalog, {"customer": SCHEMA})
        for i in range(0, n, batch):
            await ingestor.handle_batch(
                [(e, "bench.warmup.entity_changed") for e in events[i : i + batch]]
            )
    conn = await asyncpg.connect(asyncpg_dsn(catalog_url))
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def main(n: int, batch: int, warmup: int, pg_url: str, bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    source = SourceRef(domain="bench", system=f"k{run}")
    topic = f"bench.k{run}.entity_changed"
    groups = [f"bench-dictamesh-{run}", f"bench-fresh-{run}", f"bench-baseline-{run}"]
    events = ingest_embedded.make_events(n, source)
    print(
        f"events: {n}, batch size: {batch}, topic {topic} ({PARTITIONS} partitions),"
        f" warm catalog: {warmup} customers + ANALYZE"
    )

    async with (
        scratch_database(pg_url, f"dictamesh_bench_ingest_{run}") as catalog_url,
        scratch_database(pg_url, f"dictamesh_bench_ingest_{run}_fresh") as fresh_url,
        scratch_database(pg_url, f"dictamesh_bench_ingest_{run}_direct") as direct_url,
    ):
        await warm_up(catalog_url, warmup, batch)
        await warm_up(direct_url, warmup, batch)
        try:
            async with KafkaBus(
                bootstrap, settings=kafka_settings(), client_id="dictamesh-bench", topic_specs=()
            ) as bus:
                await bus.ensure_topic(TopicSpec(name=topic, partitions=PARTITIONS))
                publisher = EventPublisher(bus)
                started = time.perf_counter()
                for i in range(0, n, 1000):
                    await publisher.publish_events(events[i : i + 1000])
                publish_s = time.perf_counter() - started
                dm_s = await dictamesh_ingest(bus, catalog_url, topic, groups[0], n, batch)
                fresh_s = await dictamesh_ingest(bus, fresh_url, topic, groups[1], n, batch)
            base_s = await baseline_ingest(
                bootstrap, asyncpg_dsn(catalog_url), topic, groups[2], n, batch
            )
            direct_s = await direct_ingest(direct_url, events, topic, batch)
        finally:
            await drop_kafka_leftovers(bootstrap, topic, groups)

    with tempfile.TemporaryDirectory(prefix="dictamesh-bench-") as tmp:
        embedded_s = await ingest_embedded.through_bus(
            ingest_embedded.make_events(n), Path(tmp), batch
        )

    rows = [
        (
            "publish to Kafka, EventPublisher.publish_events (for reference)",
            n / publish_s,
            publish_s,
        ),
        ("(a) DictaMesh Kafka → PostgreSQL catalog ingest", n / dm_s, dm_s),
        ("(a') the same into a brand-new catalog (no statistics yet)", n / fresh_s, fresh_s),
        ("(a'') the same catalog writes without Kafka (handle_batch)", n / direct_s, direct_s),
        ("(b) baseline aiokafka + asyncpg executemany, plain table", n / base_s, base_s),
        (
            "(c) embedded bus → SQLite catalog (publish + consume + ingest)",
            n / embedded_s,
            embedded_s,
        ),
    ]
    for label, rate, seconds in rows:
        print(f"{label:<66} {rate:>9,.0f} events/s ({seconds:6.2f} s)")
    print(f"ratio (a) DictaMesh / (b) baseline: {base_s / dm_s:.2f}")
    ratio = base_s / dm_s
    record(
        Kpi(
            figure="ingest Kafka -> PostgreSQL vs bare aiokafka+asyncpg loop",
            value=ratio,
            unit="x",
            goal=">= 0.7",
            baseline=f"bare {n / base_s:.0f} ev/s",
            ratio=ratio,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="change events (N)")
    parser.add_argument(
        "--batch-size", type=int, default=100, help="records per poll (MeshNode's ingest: 100)"
    )
    parser.add_argument(
        "--warmup", type=int, default=2000, help="customers in the catalog before (a)"
    )
    args = parser.parse_args()
    asyncio.run(
        main(
            args.events,
            args.batch_size,
            args.warmup,
            os.environ.get("DICTAMESH_POSTGRES_URL", DEFAULT_PG),
            os.environ.get("DICTAMESH_KAFKA_BOOTSTRAP", DEFAULT_KAFKA),
        )
    )
    sys.exit(0)
