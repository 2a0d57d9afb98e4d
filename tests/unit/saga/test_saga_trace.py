"""One trace per saga: its start, every run (also after a restart) and every step try are
in the trace the saga started in, and source calls nest under their step."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.unit.saga.fake_sources import FakeSources

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.observability.tracing import span, use_tracer_provider
from dictamesh.saga import CREATE_INVOICE, SagaEngine, SagaStatus, SagaStore

ORDER = {"customer_id": "1", "items": [{"product_id": "prd_1", "quantity": 1}]}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with use_tracer_provider(provider):
        yield exporter
    provider.shutdown()


class TracedSources(FakeSources):
    async def command(self, entity_type, command, payload, *, idempotency_key):  # type: ignore[no-untyped-def]
        with span(f"source {command}"):
            return await super().command(
                entity_type, command, payload, idempotency_key=idempotency_key
            )


def engine(database: CatalogDatabase, sources: FakeSources) -> SagaEngine:
    return SagaEngine(SagaStore(database), [CREATE_INVOICE], sources, node="n1",
                      poll_interval_seconds=0.05)  # fmt: skip


async def test_a_resumed_saga_stays_in_its_trace(
    spans: InMemorySpanExporter, sqlite_catalog_url: str, tmp_path: Path
) -> None:
    database = await CatalogDatabase.open(sqlite_catalog_url, migrate=False)
    sources = TracedSources()
    sources.fail("charge", "hang")
    first = engine(database, sources)
    await first.connect()
    with span("POST /api/v1/sagas/create-invoice"):
        record, _ = await first.start("create_invoice", ORDER)
    async with asyncio.timeout(10):
        while not sources.calls["charge"]:  # noqa: ASYNC110 - polling a plain counter
            await asyncio.sleep(0.01)
    for task in [first._loop_task, *first._running.values()]:  # dies, leases kept
        assert task is not None
        task.cancel()
    await asyncio.sleep(0.05)
    async with engine(database, sources) as second:
        done = await second.wait(record.id, timeout=10)
    await database.aclose()
    assert done.status is SagaStatus.COMPLETED

    finished = spans.get_finished_spans()
    [root] = [s for s in finished if s.name == "POST /api/v1/sagas/create-invoice"]
    trace_id = root.context.trace_id
    saga_spans = [s for s in finished if s.name.startswith(("saga", "source"))]
    assert {s.context.trace_id for s in saga_spans} == {trace_id}
    runs = [s for s in saga_spans if s.name == "saga create_invoice run"]
    assert len(runs) == 2  # the first life's and the resumed one
    steps = {s.context.span_id: s for s in saga_spans if s.name.startswith("saga step")}
    charges = [s for s in saga_spans if s.name == "source charge"]
    assert charges
    assert all(c.parent is not None and c.parent.span_id in steps for c in charges)
