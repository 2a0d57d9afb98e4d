"""The router's batch handler on the embedded bus: writes in order, dead letters for what
cannot be read or belongs to another tenant, spans and trace propagation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from dictamesh.events.bus import Message
from dictamesh.events.consume import ConsumerStats, run_consumer
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.serde import JsonEventSerializer, parse_traceparent
from dictamesh.events.topics import TopicSpec
from dictamesh.observability.tracing import use_tracer_provider
from dictamesh.router.engine import Router

from .conftest import TOPIC, event, rules

SERDE = JsonEventSerializer()
TENANT_TOPIC = f"acme.{TOPIC}"


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[EmbeddedBus]:
    async with EmbeddedBus(tmp_path / "bus.sqlite3") as embedded:
        for name in (TOPIC, TENANT_TOPIC):
            await embedded.ensure_topic(TopicSpec(name=name, partitions=2))
        yield embedded


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with use_tracer_provider(provider):
        yield exporter
    provider.shutdown()


async def read_all(bus: EmbeddedBus, topic: str) -> list[Message]:
    found: list[Message] = []
    for partition in range(3):
        found.extend(await bus.read(topic, partition))
    return found


async def route(bus: EmbeddedBus, router: Router, topics: list[str], n: int) -> ConsumerStats:
    stop = asyncio.Event()
    stats = ConsumerStats()
    task = asyncio.create_task(
        run_consumer(bus, "router-test", topics, router.handle, stop=stop, stats=stats)
    )
    async with asyncio.timeout(20):
        while stats.committed < n:
            if task.done():
                task.result()  # the consumer failed: say why
            await asyncio.sleep(0.01)
    stop.set()
    await task
    return stats


async def test_records_go_out_in_order_and_bad_ones_to_the_dlq(bus: EmbeddedBus) -> None:
    router = Router(bus, rules({"name": "copy", "to": "out.crm.copy"}), strict_tenants=False)
    events = [event(f"c-{i % 3}", version=i + 1, after={"n": i}) for i in range(30)]
    for e in events:
        value, headers = SERDE.encode(e)
        await bus.publish(TOPIC, value, key=e.key, headers=headers)
    await bus.publish(TOPIC, b"{not json", key="c-9")
    other = event("c-1", tenant="globex")  # on acme's topic: refused
    value, headers = SERDE.encode(other)
    await bus.publish(TENANT_TOPIC, value, key=other.key, headers=headers)

    await route(bus, router, [TOPIC, TENANT_TOPIC], 32)

    copied = await read_all(bus, "out.crm.copy")
    assert sorted(SERDE.decode(m.value).entity.version for m in copied) == list(range(1, 31))
    for key in ("c-0", "c-1", "c-2"):
        ours = sorted((m for m in copied if m.key == key), key=lambda m: (m.partition, m.offset))
        versions = [SERDE.decode(m.value).entity.version for m in ours]
        assert versions == sorted(versions)
        assert len({m.partition for m in ours}) == 1  # one key, one partition

    (garbage,) = await read_all(bus, f"{TOPIC}.dlq")
    assert garbage.value == b"{not json"
    assert garbage.headers["router-rule"] == b""
    assert b"SerializationError" in garbage.headers["dlq-error-type"]
    (foreign,) = await read_all(bus, f"{TENANT_TOPIC}.dlq")
    assert b"globex" in foreign.headers["dlq-error"]
    assert router.stats.dead_lettered == {("", f"{TOPIC}.dlq"): 1, ("", f"{TENANT_TOPIC}.dlq"): 1}
    assert router.stats.routed == {("copy", "out.crm.copy"): 30}


async def test_a_consumer_span_per_batch_and_producer_spans(
    bus: EmbeddedBus, spans: InMemorySpanExporter
) -> None:
    router = Router(bus, rules({"name": "fan", "to": ["out.crm.a", "out.crm.b"]}))
    e = event(after={"n": 1})
    value, headers = SERDE.encode(e)
    await bus.publish(TOPIC, value, key=e.key, headers=headers)
    await route(bus, router, [TOPIC], 1)

    finished = spans.get_finished_spans()
    (consumer,) = [s for s in finished if s.kind is SpanKind.CONSUMER]
    producers = {s.name: s for s in finished if s.kind is SpanKind.PRODUCER}
    assert set(producers) == {"publish out.crm.a", "publish out.crm.b"}
    for name, producer in producers.items():
        assert producer.parent is not None
        assert producer.parent.span_id == consumer.context.span_id
        (record,) = await read_all(bus, name.removeprefix("publish "))
        # the target's consumer continues from this producer span
        trace = parse_traceparent(record.headers["traceparent"])
        assert trace is not None
        assert trace.span_id == format(producer.context.span_id, "016x")
