"""Kafka → PostgreSQL catalog ingest with several consumers at once (nodes / partitions).

    python benchmarks/ingest_concurrent.py                    # 30 000 events, 1 and 3 consumers
    python benchmarks/ingest_concurrent.py --consumers 1 3 --rounds 3

Every ingest consumer of a catalog counts the same lineage row (source dataset → data
product) for every batch. This benchmark shows what that shared row costs when several
consumers ingest at once: N customer change events on a 3-partition topic are drained by K
consumer *processes* (one group, ``run_consumer`` + :func:`dictamesh.node.
catalog_ingest_handler`, as K nodes would), each into the same warmed-up PostgreSQL
catalog. Printed per K: events/s, and how often a backend of the catalog was waiting for a
lock (``pg_stat_activity`` sampled every ~2 ms by this process: the share of samples with
at least one backend in ``wait_event_type = 'Lock'``). Each round fills a new topic once
every consumer has joined its group (a rebalance while draining would time the group
protocol); the rounds alternate the K values. The lineage total is checked against the
number of events.

Addresses as ``kafka_pg_ingest.py`` (``DICTAMESH_POSTGRES_URL``, ``DICTAMESH_KAFKA_BOOTSTRAP``);
everything it creates (databases, topic, groups) is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from multiprocessing.sharedctypes import Synchronized
from typing import Any

import asyncpg
import ingest_embedded
from kafka_pg_ingest import (
    DEFAULT_KAFKA,
    DEFAULT_PG,
    PARTITIONS,
    SCHEMA,
    asyncpg_dsn,
    drop_kafka_leftovers,
    kafka_settings,
    scratch_database,
    warm_up,
)

from dictamesh.catalog.ingest import CatalogIngestor
from dictamesh.catalog.service import CatalogService
from dictamesh.core.models import ChangeEvent, SourceRef
from dictamesh.events.bus import Message
from dictamesh.events.consume import ConsumerStats, run_consumer
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.events.topics import TopicSpec
from dictamesh.node import catalog_ingest_handler


async def _consume(
    bootstrap: str,
    catalog_url: str,
    topic: str,
    group: str,
    batch: int,
    committed: Any,
    first: Any,
    stop: Any,
) -> None:
    async with (
        KafkaBus(
            bootstrap, settings=kafka_settings(), client_id="dictamesh-bench", topic_specs=()
        ) as bus,
        await CatalogService.open(catalog_url) as catalog,
    ):
        ingestor = CatalogIngestor(catalog, {"customer": SCHEMA})
        handler = catalog_ingest_handler(ingestor, JsonEventSerializer())

        async def timed(messages: list[Message]) -> None:
            if first.value == 0.0:
                first.value = time.monotonic()
            await handler(messages)

        stats = ConsumerStats()
        committed.value = 0
        done = asyncio.Event()

        async def watch() -> None:
            while not stop.is_set():
                committed.value = stats.committed
                await asyncio.sleep(0.002)
            committed.value = stats.committed
            done.set()

        watcher = asyncio.create_task(watch())
        await run_consumer(bus, group, [topic], timed, stop=done, stats=stats, batch_size=batch)
        await watcher


def consumer_process(*args: Any) -> None:
    asyncio.run(_consume(*args))


async def one_round(
    ctx: Any,
    bootstrap: str,
    catalog_url: str,
    topic: str,
    group: str,
    n: int,
    k: int,
    batch: int,
    fill: Callable[[], Awaitable[None]],
    system: str,
) -> tuple[float, float]:
    """Events/s and the share of lock-wait samples for K consumers draining the topic."""
    counts: list[Synchronized[int]] = [ctx.Value("q", -1) for _ in range(k)]
    firsts: list[Synchronized[float]] = [ctx.Value("d", 0.0) for _ in range(k)]
    stop = ctx.Event()
    procs = [
        ctx.Process(
            target=consumer_process,
            args=(bootstrap, catalog_url, topic, group, batch, c, f, stop),
        )
        for c, f in zip(counts, firsts, strict=True)
    ]
    for p in procs:
        p.start()
    database = catalog_url.rsplit("/", 1)[-1]
    conn = await asyncpg.connect(asyncpg_dsn(catalog_url))
    samples = waiting = 0
    try:
        while any(c.value < 0 for c in counts):  # each sets 0 once its consumer runs
            if not all(p.is_alive() for p in procs):
                raise SystemExit("a consumer process ended early")
            await asyncio.sleep(0.05)
        await asyncio.sleep(6)  # the group's initial rebalance delay (3 s) and joins
        await fill()
        while True:
            if sum(c.value for c in counts) >= n and n == await conn.fetchval(
                "SELECT count(*) FROM dictamesh_event_log WHERE source_system = $1", system
            ):  # committed counts may include redeliveries: the log says what is in
                break
            if not all(p.is_alive() for p in procs):
                raise SystemExit("a consumer process ended early")
            started = [f.value for f in firsts if f.value]
            if started:
                samples += 1
                waiting += bool(
                    await conn.fetchval(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = $1 AND wait_event_type = 'Lock'",
                        database,
                    )
                )
            await asyncio.sleep(0.002)
        last = time.monotonic()
    finally:
        stop.set()
        for p in procs:
            p.join(30)
        await conn.close()
    first = min(f.value for f in firsts if f.value)
    return n / (last - first), waiting / max(samples, 1)


async def check_totals(catalog_url: str, system: str, expected: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(catalog_url))
    try:
        total = await conn.fetchval(
            "SELECT coalesce(sum(occurrences), 0) FROM dictamesh_data_lineage"
            " WHERE upstream_namespace = $1",
            system,
        )
    finally:
        await conn.close()
    if total != expected:
        raise SystemExit(f"lineage counts {total} occurrences, expected {expected}")


async def publish(bootstrap: str, events: list[ChangeEvent]) -> None:
    async with KafkaBus(
        bootstrap, settings=kafka_settings(), client_id="dictamesh-bench", topic_specs=()
    ) as bus:
        publisher = EventPublisher(bus)
        for i in range(0, len(events), 1000):
            await publisher.publish_events(events[i : i + 1000])


async def main(n: int, ks: list[int], rounds: int, batch: int, pg_url: str, bootstrap: str) -> None:
    ctx = mp.get_context("spawn")
    results: dict[int, list[tuple[float, float]]] = {}
    print(f"events: {n}, batch size: {batch}, {PARTITIONS} partitions")
    for r in range(rounds):
        for k in ks if r % 2 == 0 else ks[::-1]:
            # A topic per round, filled once every consumer has joined: a rebalance while
            # draining would time the group protocol, not the ingest.
            run = uuid.uuid4().hex[:8]
            system = f"k{run}"
            topic = f"bench.{system}.entity_changed"  # the publisher's topic
            group = f"bench-conc-{run}"
            events = ingest_embedded.make_events(n, SourceRef(domain="bench", system=system))
            try:
                async with KafkaBus(
                    bootstrap,
                    settings=kafka_settings(),
                    client_id="dictamesh-bench",
                    topic_specs=(),
                ) as bus:
                    await bus.ensure_topic(TopicSpec(name=topic, partitions=PARTITIONS))
                async with scratch_database(pg_url, f"dictamesh_bench_conc_{run}") as url:
                    await warm_up(url, 2000, batch)
                    fill = functools.partial(publish, bootstrap, events)
                    rate, waits = await one_round(
                        ctx, bootstrap, url, topic, group, n, k, batch, fill, system
                    )
                    await check_totals(url, system, n)
            finally:
                await drop_kafka_leftovers(bootstrap, topic, [group])
            results.setdefault(k, []).append((rate, waits))
            print(
                f"  round {r + 1}, {k} consumer(s): {rate:>7,.0f} events/s,"
                f" lock waits in {waits:5.1%} of samples",
                flush=True,
            )
    for k, values in sorted(results.items()):
        rates = [v[0] for v in values]
        waits = [v[1] for v in values]
        print(
            f"{k} consumer(s): median {statistics.median(rates):>7,.0f} events/s"
            f" (range {min(rates):,.0f}-{max(rates):,.0f}),"
            f" lock waits {min(waits):.1%}-{max(waits):.1%} of samples"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--consumers", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(
        main(
            args.events,
            args.consumers,
            args.rounds,
            args.batch_size,
            os.environ.get("DICTAMESH_POSTGRES_URL", DEFAULT_PG),
            os.environ.get("DICTAMESH_KAFKA_BOOTSTRAP", DEFAULT_KAFKA),
        )
    )
    sys.exit(0)
