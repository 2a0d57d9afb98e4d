"""Embedded bus throughput: publish and end-to-end consume, against a raw SQLite baseline.

    python benchmarks/bus_throughput.py                 # 20 000 events
    python benchmarks/bus_throughput.py --events 100000 --batch-size 500

It publishes N ChangeEvents through :class:`EventPublisher` (batched ``publish_events``,
and one-by-one ``publish_event`` on a sample) into an :class:`EmbeddedBus` on a temporary
file, consumes them with :func:`run_consumer` (decoding every event), and, in the same run,
inserts the same serialized bytes with plain ``sqlite3.executemany`` into a one-table file
with the same pragmas (WAL, synchronous=NORMAL): the floor any SQLite-backed log pays.

The goal's figure (KPI "embedded bus end to end"): the bus alone, both ways — the same
pre-serialized records through ``EmbeddedBus.publish_many`` (chunks of ``--chunk``) and
back through ``run_consumer`` (poll, hand over, commit; the handler does not decode, as
decoding is the serializer's cost, not the bus's) — against the raw ``executemany``.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _kpi import Kpi, record

from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.events.bus import Message
from dictamesh.events.consume import ConsumerStats, run_consumer
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.serde import JsonEventSerializer

SOURCE = SourceRef(domain="customers", system="directus")
TOPIC = "customers.directus.entity_changed"
RAW = "bench.raw.records"


def make_events(n: int) -> list[ChangeEvent]:
    events = []
    for i in range(n):
        entity = Entity(
            type="customer",
            id=f"c-{i % 5000}",
            version=i // 5000 + 1,
            source=SOURCE,
            attributes={
                "email": f"user{i}@example.com",
                "name": f"Customer {i}",
                "tier": ["free", "pro", "enterprise"][i % 3],
                "balance": i * 1.5,
            },
        )
        events.append(
            ChangeEvent.for_change(EventType.UPDATED, entity, before={"email": "old@example.com"})
        )
    return events


def baseline(path: Path, rows: list[tuple[str, bytes, str]]) -> float:
    """Seconds for a raw executemany of the same rows into a one-table WAL file."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE log (id INTEGER PRIMARY KEY, key TEXT, value BLOB, headers TEXT)"
        )
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO log (key, value, headers) VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


async def consume_all(
    bus: EmbeddedBus,
    group: str,
    topic: str,
    handler: Callable[[list[Message]], Awaitable[None]],
    n: int,
    batch_size: int,
) -> float:
    """Seconds ``run_consumer`` takes until ``n`` records of ``topic`` are committed."""
    stop = asyncio.Event()
    stats = ConsumerStats()
    started = time.perf_counter()
    task = asyncio.create_task(
        run_consumer(bus, group, [topic], handler, stop=stop, stats=stats, batch_size=batch_size)
    )
    while stats.committed < n:
        if task.done():
            task.result()
        await asyncio.sleep(0.001)
    seconds = time.perf_counter() - started
    stop.set()
    await task
    return seconds


async def bench(n: int, chunk: int, batch_size: int, single: int, workdir: Path) -> None:
    events = make_events(n)
    serde = JsonEventSerializer()
    encoded = [serde.encode(e) for e in events]
    size = sum(len(v) for v, _ in encoded) / n
    print(f"{n} events, {size:.0f} bytes each on average (JSON), chunks of {chunk}")

    async with EmbeddedBus(workdir / "bus.db") as bus:
        publisher = EventPublisher(bus)

        started = time.perf_counter()
        for i in range(0, n, chunk):
            await publisher.publish_events(events[i : i + chunk])
        publish_s = time.perf_counter() - started

        # The bus alone (records already serialized), on its own topic.
        records = [(v, e.key, h) for e, (v, h) in zip(events, encoded, strict=True)]
        started = time.perf_counter()
        for i in range(0, n, chunk):
            await bus.publish_many(RAW, records[i : i + chunk])
        raw_s = time.perf_counter() - started

        single_events = make_events(single)
        for e in single_events:  # a separate topic, so the consumer below sees only N
            e.source = SourceRef(domain="customers", system="single")
        started = time.perf_counter()
        for e in single_events:
            await publisher.publish_event(e)
        single_s = time.perf_counter() - started

        consumed = 0

        async def handler(messages: list[Message]) -> None:
            nonlocal consumed
            for m in messages:
                serde.decode(m.value, m.headers)
            consumed += len(messages)

        consume_s = await consume_all(bus, "bench", TOPIC, handler, n, batch_size)
        lag = sum((await bus.lag("bench", [TOPIC]))[TOPIC].values())
        if consumed != n or lag:
            raise SystemExit(f"consumed {consumed} of {n}, lag {lag}")

        # The bus alone, back out: the records publish_many appended, no decoding.
        handed = 0

        async def count(messages: list[Message]) -> None:
            nonlocal handed
            handed += len(messages)

        raw_consume_s = await consume_all(bus, "bench-raw", RAW, count, n, batch_size)
        if handed != n:
            raise SystemExit(f"handed {handed} of {n} raw records")

    base_s = baseline(
        workdir / "baseline.db",
        [(e.key, v, "{}") for e, (v, _) in zip(events, encoded, strict=True)],
    )

    publish_rate, raw_rate, base_rate = n / publish_s, n / raw_s, n / base_s
    rows = [
        ("publish, EventPublisher.publish_events (serialize + append)", publish_rate),
        ("publish, EmbeddedBus.publish_many (pre-serialized records)", raw_rate),
        (f"publish, EventPublisher.publish_event ({single} events, 1 txn each)", single / single_s),
        (
            f"consume end-to-end, run_consumer batch {batch_size} (poll+decode+commit)",
            n / consume_s,
        ),
        (
            f"consume, run_consumer batch {batch_size} of the raw records (no decode)",
            n / raw_consume_s,
        ),
        ("bus end to end: publish_many + run_consumer (no decode)", n / (raw_s + raw_consume_s)),
        ("baseline, raw sqlite3 executemany of the same bytes", base_rate),
    ]
    for label, rate in rows:
        print(f"{label:<72} {rate:>10,.0f} events/s")
    print(f"ratio publish_events / baseline: {publish_rate / base_rate:.2f}")
    print(f"ratio publish_many   / baseline: {raw_rate / base_rate:.2f}")
    ratio = base_s / (raw_s + raw_consume_s)
    record(
        Kpi(
            figure="embedded bus end to end vs raw sqlite3.executemany",
            value=ratio,
            unit="x",
            goal=">= 0.5",
            baseline=f"executemany {base_rate:.0f} ev/s",
            ratio=ratio,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events to publish (N)")
    parser.add_argument("--chunk", type=int, default=1000, help="events per publish_events call")
    parser.add_argument("--batch-size", type=int, default=500, help="run_consumer batch size")
    parser.add_argument("--single", type=int, default=5000, help="events for the one-by-one figure")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dictamesh-bench-") as tmp:
        asyncio.run(bench(args.events, args.chunk, args.batch_size, args.single, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
