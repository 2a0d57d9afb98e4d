"""Data-quality rules on ingest: events/second through the real ingest path with the
per-event rules on, side by side with the same ingest without rules (target >= 0.8x).

    python benchmarks/quality_rules.py                 # 10 000 events, 3 rounds
    python benchmarks/quality_rules.py --events 50000 --rounds 5

Each round publishes N invoice change events into a fresh :class:`EmbeddedBus` and drains
them with the node's catalog-ingest consumer (``run_consumer`` + :func:`dictamesh.node.
catalog_ingest_handler`) into a fresh SQLite catalog — once with the node's quality hook
(:class:`~dictamesh.quality.streaming.IngestChecker` as ``on_outcome``, four per-event
rules: not_null, accepted_values, range, regex; 5 % of the events fail one) and once
without (``on_outcome`` None). Rounds alternate which goes first; medians are compared.
Also printed: the checker alone over the committed batches (rule checks/second).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _kpi import Kpi, record

from dictamesh.catalog.ingest import CatalogIngestor, IngestOutcome
from dictamesh.catalog.service import CatalogService
from dictamesh.core.models import (
    ChangeEvent,
    Entity,
    EntitySchema,
    EventType,
    FieldSpec,
    FieldType,
    SourceRef,
)
from dictamesh.core.settings import QualitySettings
from dictamesh.events.bus import Message
from dictamesh.events.consume import run_consumer
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.node import catalog_ingest_handler
from dictamesh.quality.streaming import IngestChecker

SOURCE = SourceRef(domain="invoices", system="ecommerce")
TOPIC = "invoices.ecommerce.entity_changed"
SCHEMA = EntitySchema(
    entity_type="invoice",
    domain="invoices",
    fields=[
        FieldSpec(name="customer_id", type=FieldType.STRING),
        FieldSpec(name="status", type=FieldType.STRING),
        FieldSpec(name="total", type=FieldType.NUMBER),
        FieldSpec(name="invoice_number", type=FieldType.STRING),
    ],
)
RULES = QualitySettings(
    rules={
        "invoice": [
            {"id": "customer", "type": "not_null", "field": "customer_id"},
            {"id": "status", "type": "accepted_values", "field": "status",
             "values": ["draft", "open", "paid", "void", "cancelled"]},
            {"id": "total", "type": "range", "field": "total", "min": 0, "max": 100_000},
            {"id": "number", "type": "regex", "field": "invoice_number",
             "pattern": r"^INV-\d{4}-\d{5}$"},
        ]
    }
)  # fmt: skip


def make_events(n: int) -> list[ChangeEvent]:
    statuses = ["draft", "open", "paid", "void"]
    return [
        ChangeEvent.for_change(
            EventType.CREATED,
            Entity(
                type="invoice",
                id=f"i-{i}",
                version=1,
                attributes={
                    "customer_id": str(i % 500),
                    "status": "lost" if i % 20 == 0 else statuses[i % 4],  # 5 % fail
                    "total": round(i * 0.37, 2),
                    "invoice_number": f"INV-2026-{i % 100_000:05d}",
                },
                source=SOURCE,
            ),
        )
        for i in range(n)
    ]


async def through_ingest(
    events: list[ChangeEvent], directory: Path, batch: int, checker: IngestChecker | None
) -> tuple[float, list[IngestOutcome]]:
    serializer = JsonEventSerializer()
    outcomes: list[IngestOutcome] = []

    def keep(outcome: IngestOutcome) -> None:
        outcomes.append(outcome)

    async with (
        EmbeddedBus(directory / "bus.sqlite3") as bus,
        await CatalogService.open(
            f"sqlite+aiosqlite:///{directory / 'catalog.sqlite3'}"
        ) as catalog,
    ):
        ingestor = CatalogIngestor(catalog, {"invoice": SCHEMA})
        handler = catalog_ingest_handler(
            ingestor, serializer, on_outcome=checker.ingested if checker else keep
        )
        await EventPublisher(bus, serializer).publish_events(events)
        stop = asyncio.Event()
        done = 0

        async def handle(messages: list[Message]) -> None:
            nonlocal done
            await handler(messages)
            done += len(messages)
            if done >= len(events):
                stop.set()

        started = time.perf_counter()
        await run_consumer(bus, "bench-quality", [TOPIC], handle, stop=stop, batch_size=batch)
        elapsed = time.perf_counter() - started
        assert await catalog.count_entities("invoice") == len(events)
        return elapsed, outcomes


async def main(n: int, batch: int, rounds: int) -> None:
    events = make_events(n)
    print(f"events: {n}, batch: {batch}, rounds: {rounds}, per-event rules: 4")
    with_rules: list[float] = []
    without: list[float] = []
    outcomes: list[IngestOutcome] = []
    checker = IngestChecker(RULES)
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            order = [True, False] if r % 2 == 0 else [False, True]
            for i, rules_on in enumerate(order):
                directory = Path(tmp) / f"{r}-{i}"
                directory.mkdir()
                if rules_on:
                    checker = IngestChecker(RULES)
                seconds, kept = await through_ingest(
                    events, directory, batch, checker if rules_on else None
                )
                (with_rules if rules_on else without).append(seconds)
                if not rules_on:
                    outcomes = kept
        print(
            f"round {r + 1}: with rules {n / with_rules[-1]:,.0f} events/s,"
            f" without {n / without[-1]:,.0f} events/s",
            flush=True,
        )
    counts = checker.snapshot()
    assert counts[("default", "status")] == (n, n // 20), counts
    # the rules alone, over the batches one ingest committed
    alone = IngestChecker(RULES)
    started = time.perf_counter()
    for outcome in outcomes:
        alone.ingested(outcome)
    rules_s = time.perf_counter() - started
    on_s, off_s = statistics.median(with_rules), statistics.median(without)
    print(f"ingest with 4 per-event rules   : {n / on_s:10,.0f} events/s ({on_s:.2f} s)")
    print(f"ingest without rules (baseline) : {n / off_s:10,.0f} events/s ({off_s:.2f} s)")
    print(
        f"the rules alone                 : {n / rules_s:10,.0f} events/s"
        f" ({4 * n / rules_s:,.0f} checks/s)"
    )
    ratio = off_s / on_s
    print(f"ratio (with rules / without)    : {ratio:10.2f}")
    record(
        Kpi(
            figure="ingest with 4 per-event quality rules vs without",
            value=ratio,
            unit="x",
            goal=">= 0.8",
            baseline=f"without {n / off_s:.0f} ev/s",
            ratio=ratio,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.batch_size, args.rounds))
    sys.exit(0)
