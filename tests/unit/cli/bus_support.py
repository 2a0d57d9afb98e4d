"""Records and scenarios the ``dictamesh bus`` tests run on both backends (embedded, Kafka)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from tests.unit.events.typed_avro_support import CUSTOMER, TOPIC, customer_event
from typer.testing import CliRunner

from dictamesh.catalog.avro_registry import CatalogSchemaRegistry
from dictamesh.catalog.service import CatalogService
from dictamesh.cli.main import app
from dictamesh.core.bus_config import Envelope, TopicSettings
from dictamesh.core.models import EventType, TraceContext
from dictamesh.events.avro_typed import TypedAvroEventSerializer
from dictamesh.events.bus import EventBus, Message
from dictamesh.events.codecs import TopicCodec
from dictamesh.events.consume import run_consumer
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.events.topics import TopicSpec

runner = CliRunner()

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


def cli(config: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["bus", *args, "-c", str(config)])
    return result.exit_code, result.output


def cli_json(config: Path, *args: str) -> Any:
    code, out = cli(config, *args, "--format", "json")
    assert code == 0, out
    return json.loads(out)


def write_config(path: Path, bus: dict[str, Any], catalog_url: str) -> Path:
    path.write_text(yaml.safe_dump({"bus": bus, "catalog": {"url": catalog_url}}))
    return path


async def seed_json(bus: EventBus, topic: str, partitions: int = 3) -> None:
    """c-1..c-3 created (c-2 with a trace and tenant), then c-1 updated in the Debezium
    envelope with CloudEvents headers, then a value that is not an event at all."""
    await bus.ensure_topic(TopicSpec(name=topic, partitions=partitions))
    serde = JsonEventSerializer()
    for n in (1, 2, 3):
        extra: dict[str, Any] = {}
        if n == 2:
            extra["trace_context"] = TraceContext(trace_id=TRACE_ID, span_id=SPAN_ID)
        event = customer_event(entity_id=f"c-{n}").model_copy(update=extra)
        value, headers = serde.encode(event)
        await bus.publish(topic, value, key=f"c-{n}", headers=headers)
        await asyncio.sleep(0.002)  # distinct timestamps: a stable order across partitions
    codec = TopicCodec(
        serde, [TopicSettings(name=TOPIC, envelope=Envelope.DEBEZIUM, cloudevents=True)]
    )
    update = customer_event(EventType.UPDATED, entity_id="c-1", before={"email": "old@example.org"})
    value, headers = codec.encode(update)
    await bus.publish(topic, value, key="c-1", headers=headers)
    await asyncio.sleep(0.002)
    await bus.publish(topic, b"\x1b[31mnot an event\xff", key="junk")


async def seed_avro(bus: EventBus, topic: str, catalog_url: str) -> None:
    """One typed Avro record, its schema registered in the catalog's registry."""
    async with await CatalogService.open(catalog_url, migrate=False) as catalog:
        serializer = TypedAvroEventSerializer(CatalogSchemaRegistry(catalog))
        await serializer.register_topic(TOPIC, [CUSTOMER])
        value, headers = serializer.encode(customer_event(entity_id="c-avro"))
    await bus.ensure_topic(TopicSpec(name=topic, partitions=1))
    await bus.publish(topic, value, key="c-avro", headers=headers)


async def dead_letter_one(bus: EventBus, topic: str, group: str) -> None:
    """Three records on ``topic``; ``run_consumer`` dead-letters the poison one (c-bad)."""
    await bus.ensure_topic(TopicSpec(name=topic, partitions=2))
    for key in ("c-1", "c-bad", "c-3"):
        await bus.publish(topic, json.dumps({"key": key}).encode(), key=key)
    stop = asyncio.Event()

    async def handler(messages: list[Message]) -> None:
        for m in messages:
            if m.key == "c-bad":
                raise ValueError(f"poison record {m.key}")
        handled.extend(m.key for m in messages)
        if len(set(handled)) == 2:
            stop.set()

    handled: list[str | None] = []
    stats = await asyncio.wait_for(
        run_consumer(
            bus,
            group,
            [topic],
            handler,
            max_attempts=2,
            backoff_initial=0,
            stop=stop,
            poll_timeout=0.2,
        ),
        60,
    )
    assert stats.dead_lettered == 1


async def consume_fixed(bus: EventBus, topic: str, group: str) -> list[Message]:
    """The group goes on with a fixed handler: returns what it gets (the replayed record)."""
    got: list[Message] = []
    stop = asyncio.Event()

    async def handler(messages: list[Message]) -> None:
        got.extend(messages)
        stop.set()

    await asyncio.wait_for(
        run_consumer(bus, group, [topic], handler, stop=stop, poll_timeout=0.2), 60
    )
    return got


def keys(rows: Sequence[dict[str, Any]]) -> list[str | None]:
    return [r["key"] for r in rows]
