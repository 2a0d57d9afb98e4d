"""Change events through the embedded bus into the SQLite catalog, events/second.

    python benchmarks/ingest_embedded.py              # 10 000 events
    python benchmarks/ingest_embedded.py --events 50000

Publishes N customer change events with :class:`EventPublisher` into an :class:`EmbeddedBus`,
then the catalog-ingest consumer (``run_consumer`` + :func:`dictamesh.node.
catalog_ingest_handler`, exactly as the node runs it) drains them into a fresh SQLite
catalog. The baseline, in the same run,
feeds the same events to ``handle_batch`` directly (no bus): the ratio is what the durable
bus costs on top of the catalog write.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from dictamesh.catalog.ingest import CatalogIngestor
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
from dictamesh.events.bus import Message
from dictamesh.events.consume import run_consumer
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.node import catalog_ingest_handler

SOURCE = SourceRef(domain="customers", system="directus")
TOPIC = "customers.directus.entity_changed"
SCHEMA = EntitySchema(
    entity_type="customer",
    domain="customers",
    fields=[
        FieldSpec(name="email", type=FieldType.STRING),
        FieldSpec(name="country", type=FieldType.STRING),
    ],
)


def make_events(n: int, source: SourceRef = SOURCE) -> list[ChangeEvent]:
    return [
        ChangeEvent.for_change(
            EventType.CREATED,
            Entity(
                type="customer",
                id=f"c-{i}",
                version=1,
                attributes={"email": f"user{i}@example.com", "country": "DE"},
                source=source,
            ),
        )
        for i in range(n)
    ]


async def through_bus(events: list[ChangeEvent], directory: Path, batch: int) -> float:
    serializer = JsonEventSerializer()
    async with (
        EmbeddedBus(directory / "bus.sqlite3") as bus,
        await CatalogService.open(
            f"sqlite+aiosqlite:///{directory / 'bus-catalog.sqlite3'}"
        ) as catalog,
    ):
        ingestor = CatalogIngestor(catalog, {"customer": SCHEMA})
        node_handler = catalog_ingest_handler(ingestor, serializer)
        stop = asyncio.Event()
        done = 0

        async def handle(messages: list[Message]) -> None:
            nonlocal done
            await node_handler(messages)
            done += len(messages)
            if done >= len(events):
                stop.set()

        started = time.perf_counter()
        await EventPublisher(bus, serializer).publish_events(events)
        await run_consumer(bus, "bench-ingest", [TOPIC], handle, stop=stop, batch_size=batch)
        elapsed = time.perf_counter() - started
        assert await catalog.count_entities("customer") == len(events)
        return elapsed


async def direct(events: list[ChangeEvent], directory: Path, batch: int) -> float:
    async with await CatalogService.open(
        f"sqlite+aiosqlite:///{directory / 'direct-catalog.sqlite3'}"
    ) as catalog:
        ingestor = CatalogIngestor(catalog, {"customer": SCHEMA})
        started = time.perf_counter()
        for i in range(0, len(events), batch):
            await ingestor.handle_batch([(e, TOPIC) for e in events[i : i + batch]])
        elapsed = time.perf_counter() - started
        assert await catalog.count_entities("customer") == len(events)
        return elapsed


async def main(n: int, batch: int) -> None:
    events = make_events(n)
    with tempfile.TemporaryDirectory() as tmp:
        bus_s = await through_bus(events, Path(tmp), batch)
        base_s = await direct(events, Path(tmp), batch)
    print(f"events: {n}, batch: {batch}")
    print(f"publish + bus + catalog ingest : {n / bus_s:10,.0f} events/s ({bus_s:.2f} s)")
    print(f"baseline: catalog ingest only  : {n / base_s:10,.0f} events/s ({base_s:.2f} s)")
    print(f"ratio (through bus / baseline) : {base_s / bus_s:10.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.batch_size))
    sys.exit(0)
