"""W3C trace context and tenant id cross Kafka in record headers, end to end.

An event is made the way an adapter makes one (tenant from ``current_tenant``, trace ids
from the active span), published with :class:`EventPublisher` on :class:`KafkaBus`, and
read back twice: by :func:`run_consumer`, whose handler continues the trace from the
``traceparent`` header, and by a plain aiokafka consumer looking at the raw headers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dictamesh.core.context import current_tenant, tenant_id
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef, TraceContext
from dictamesh.events.avro import AvroEventSerializer
from dictamesh.events.bus import Message
from dictamesh.events.consume import run_consumer
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.schema_registry import InMemorySchemaRegistry
from dictamesh.events.serde import (
    HEADER_TENANT_ID,
    HEADER_TRACEPARENT,
    JsonEventSerializer,
    Serializer,
    parse_traceparent,
)
from dictamesh.events.topics import TopicSpec

otel_sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra")
from opentelemetry import trace  # noqa: E402
from opentelemetry.trace.propagation.tracecontext import (  # noqa: E402
    TraceContextTextMapPropagator,
)

pytestmark = pytest.mark.kafka

TENANT = "acme"


def change(source: SourceRef, entity_id: str) -> ChangeEvent:
    """A change event stamped from the current context, as an adapter stamps it."""
    span = trace.get_current_span().get_span_context()
    trace_context = (
        TraceContext(trace_id=f"{span.trace_id:032x}", span_id=f"{span.span_id:016x}")
        if span.is_valid
        else None
    )
    entity = Entity(type="customer", id=entity_id, version=1, source=source, tenant_id=tenant_id())
    return ChangeEvent.for_change(EventType.CREATED, entity, trace_context=trace_context)


async def serializer(name: str, topic: str) -> Serializer:
    if name == "avro":
        avro = AvroEventSerializer(InMemorySchemaRegistry())
        await avro.prepare([topic])
        return avro
    return JsonEventSerializer()


@pytest.mark.parametrize("format_name", ["json", "avro"])
async def test_trace_and_tenant_travel_in_headers_to_the_consumer(
    kafka_bus: KafkaBus, kafka_bootstrap: str, uid: str, format_name: str
) -> None:
    source = SourceRef(domain="it", system=f"h{uid}")
    topic = f"it.h{uid}.entity_changed"
    serde = await serializer(format_name, topic)
    await kafka_bus.ensure_topic(TopicSpec(name=topic, partitions=1))
    publisher = EventPublisher(kafka_bus, serde)
    # Events go to '<domain>.<system>.entity_changed', which is `topic` for this source.
    assert publisher.topic_for(change(source, "probe")) == topic

    provider = otel_sdk.TracerProvider()  # local: the process-global provider stays as is
    token = current_tenant.set(TENANT)
    try:
        with provider.get_tracer("test").start_as_current_span("detect change") as producer:
            traced = change(source, "c-traced")
            await publisher.publish_event(traced)
    finally:
        current_tenant.reset(token)
    plain = change(source, "c-plain")  # no span, no tenant: neither header is sent
    await publisher.publish_event(plain)
    trace_id = f"{producer.get_span_context().trace_id:032x}"

    seen: dict[str, dict[str, Any]] = {}
    stop = asyncio.Event()

    async def handle(batch: list[Message]) -> None:
        for message in batch:
            event = serde.decode(message.value, message.headers)
            # What a consumer does with the header: continue the producer's trace.
            parent = TraceContextTextMapPropagator().extract(
                {k: v.decode() for k, v in message.headers.items() if k == HEADER_TRACEPARENT}
            )
            with provider.get_tracer("test").start_as_current_span(
                "ingest", context=parent
            ) as consumer_span:
                child = consumer_span.get_span_context()
            header_trace = parse_traceparent(message.headers.get(HEADER_TRACEPARENT))
            tenant_header = message.headers.get(HEADER_TENANT_ID)
            seen[event.entity.id] = {
                "event": event,
                "header_trace": header_trace,
                "tenant_header": tenant_header.decode() if tenant_header else None,
                "child_trace_id": f"{child.trace_id:032x}",
            }
        if len(seen) >= 2:
            stop.set()

    task = asyncio.create_task(
        run_consumer(kafka_bus, f"g{uid}", [topic], handle, serializer=serde, stop=stop)
    )
    try:
        await asyncio.wait_for(stop.wait(), 20)
    finally:
        stop.set()
        await task

    got = seen["c-traced"]
    assert got["event"].event_id == traced.event_id
    assert got["event"].tenant_id == TENANT
    assert got["tenant_header"] == TENANT
    assert got["event"].trace_context == traced.trace_context
    assert got["header_trace"] == traced.trace_context
    assert got["header_trace"].trace_id == trace_id
    assert got["child_trace_id"] == trace_id  # the consumer's span joined the same trace

    untraced = seen["c-plain"]
    assert untraced["event"].tenant_id is None
    assert untraced["event"].trace_context is None
    assert untraced["header_trace"] is None
    assert untraced["tenant_header"] is None
    assert untraced["child_trace_id"] != trace_id

    # The same headers as any Kafka client sees them.
    from aiokafka import AIOKafkaConsumer

    raw = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await raw.start()
    try:
        records: list[Any] = []
        async with asyncio.timeout(20):
            while len(records) < 2:
                for batch in (await raw.getmany(timeout_ms=1000)).values():
                    records.extend(batch)
    finally:
        await raw.stop()
    by_key = {r.key.decode(): dict(r.headers) for r in records}
    span_id = traced.trace_context.span_id if traced.trace_context else ""
    version, raw_trace, raw_span, flags = by_key["c-traced"][HEADER_TRACEPARENT].split(b"-")
    assert (version, raw_trace, raw_span) == (b"00", trace_id.encode(), span_id.encode())
    assert int(flags, 16) & 0x01  # sampled
    assert by_key["c-traced"][HEADER_TENANT_ID] == TENANT.encode()
    assert HEADER_TRACEPARENT not in by_key["c-plain"]
    assert HEADER_TENANT_ID not in by_key["c-plain"]
