"""End-to-end traces on an embedded node: a change is one trace from the adapter that saw it
to the catalog, and a GraphQL request is one trace down to the source's HTTP call."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from tests.unit.observability.widgets import TOPIC, WidgetSource, widget_node

from dictamesh.core.errors import EntityNotFound
from dictamesh.node import INGEST_GROUP

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def _one(spans: Sequence[ReadableSpan], name: str, **attributes: object) -> ReadableSpan:
    found = [
        s
        for s in spans
        if s.name == name and all((s.attributes or {}).get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, f"{name} {attributes}: {[s.name for s in spans]}"
    return found[0]


def _child_of(child: ReadableSpan, parent: ReadableSpan) -> None:
    assert child.parent is not None, f"{child.name} has no parent"
    assert child.parent.span_id == parent.context.span_id, f"{child.name} ↛ {parent.name}"
    assert child.context.trace_id == parent.context.trace_id


async def _until_ingested(node: object, entity_id: str) -> None:
    catalog = node.catalog  # type: ignore[attr-defined]
    for _ in range(400):
        try:
            await catalog.get_entity_location("widget", entity_id)
            return
        except EntityNotFound:
            await asyncio.sleep(0.01)
    raise AssertionError(f"widget {entity_id} never reached the catalog")


async def test_a_change_is_one_trace_from_adapter_through_the_bus_to_the_catalog(
    tmp_path: Path, sqlite_catalog_url: str, spans: InMemorySpanExporter
) -> None:
    source = WidgetSource()
    async with widget_node(tmp_path, sqlite_catalog_url, source) as node:
        source.put("w-1", "Widget")
        await _until_ingested(node, "w-1")
        await asyncio.sleep(0.05)  # let the ingest span close after its commit
    finished = spans.get_finished_spans()

    change = _one(finished, "adapter.change", **{"dictamesh.entity.id": "w-1"})
    assert change.parent is None  # a detected change starts its trace
    publish = _one(finished, f"publish {TOPIC}")
    assert publish.kind is SpanKind.PRODUCER
    _child_of(publish, change)
    process = _one(finished, f"process {TOPIC}", **{"messaging.consumer.group.name": INGEST_GROUP})
    assert process.kind is SpanKind.CONSUMER
    _child_of(process, publish)
    assert [link.context.span_id for link in process.links] == [publish.context.span_id]
    ingest = _one(finished, "catalog.ingest")
    _child_of(ingest, process)
    writes = [s for s in finished if s.name == "catalog INSERT" and s.parent is not None]
    assert any(s.parent.span_id == ingest.context.span_id for s in writes if s.parent)
    # the cache-invalidation group consumes the same record in the same trace
    invalidation = [
        s
        for s in finished
        if s.name == f"process {TOPIC}"
        and (s.attributes or {}).get("messaging.consumer.group.name") != INGEST_GROUP
    ]
    assert invalidation
    assert all(s.context.trace_id == change.context.trace_id for s in invalidation)
    # the catalog's event log keeps the trace id of the change
    log = await _event_log_trace_ids(sqlite_catalog_url)
    assert f"{change.context.trace_id:032x}" in log


async def _event_log_trace_ids(catalog_url: str) -> list[str]:
    from dictamesh.catalog.service import CatalogService

    catalog = await CatalogService.open(catalog_url, migrate=False)
    try:
        events = await catalog.get_event_log(entity_type="widget", entity_id="w-1")
    finally:
        await catalog.aclose()
    return [e.trace_id for e in events if getattr(e, "trace_id", None)]


async def test_a_graphql_request_is_one_trace_down_to_the_source_http_call(
    tmp_path: Path, sqlite_catalog_url: str, spans: InMemorySpanExporter
) -> None:
    source = WidgetSource()
    source.put("w-7", "Gear")
    async with widget_node(tmp_path, sqlite_catalog_url, source) as node:
        await _until_ingested(node, "w-7")
        spans.clear()
        source.requests.clear()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=node.asgi_app()), base_url="http://node"
        ) as client:
            response = await client.post(
                "/graphql",
                json={"query": 'query Gear { widget(id: "w-7") { id name } }'},
                headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
            )
        assert response.status_code == 200, response.text
        assert response.json()["data"]["widget"]["name"] == "Gear"
    finished = spans.get_finished_spans()

    server = _one(finished, "POST /graphql")
    assert server.kind is SpanKind.SERVER
    assert f"{server.context.trace_id:032x}" == TRACE_ID  # continues the caller's trace
    assert server.parent is not None
    assert f"{server.parent.span_id:016x}" == PARENT_ID
    assert (server.attributes or {})["http.route"] == "/graphql"
    operation = _one(finished, "GraphQL query Gear")
    _child_of(operation, server)
    batch = _one(finished, "dataloader.batch")
    _child_of(batch, operation)
    read = _one(finished, "adapter.get_entities")
    _child_of(read, batch)
    call = _one(finished, "adapter.fetch_many")
    _child_of(call, read)
    http_calls = [
        s
        for s in finished
        if s.kind is SpanKind.CLIENT and s.context.trace_id == server.context.trace_id
    ]
    assert [s.name for s in http_calls] == ["GET"]
    _child_of(http_calls[0], call)
    attributes = http_calls[0].attributes or {}
    # the instrumentation's default (pre-stable) HTTP semantic conventions
    url = attributes.get("url.full", attributes.get("http.url"))
    assert url == "http://widgets.test/widgets/w-7"
    # the source was asked with the same trace context
    sent = [r for r in source.requests if r.url.path == "/widgets/w-7"]
    assert sent
    assert TRACE_ID in sent[-1].headers["traceparent"]
