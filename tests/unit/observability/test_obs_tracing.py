"""The span helpers: trace context on the wire, consumer batch spans, error marking, setup."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags
from tests.unit.observability.widgets import WidgetSource, widgets_adapter

from dictamesh.core.errors import EntityNotFound, MissingDependencyError, SourceUnavailable
from dictamesh.core.models import ChangeEvent, EntityVersionRef, EventType, SourceRef, TraceContext
from dictamesh.core.settings import ObservabilitySettings
from dictamesh.events.bus import Message
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.observability import tracing
from dictamesh.observability.tracing import (
    context_from_traceparent,
    current_traceparent,
    setup_tracing,
    span,
    trace_batches,
    tracing_enabled,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def event(**overrides: Any) -> ChangeEvent:
    fields: dict[str, Any] = {
        "event_type": EventType.CREATED,
        "entity": EntityVersionRef(type="widget", id="w-1", version=1),
        "source": SourceRef(domain="testing", system="widgets"),
        "after": {"name": "A"},
    }
    fields.update(overrides)
    return ChangeEvent(**fields)


def message(offset: int, traceparent: str | None = None) -> Message:
    headers = {"traceparent": traceparent.encode()} if traceparent else {}
    return Message("testing.widgets.entity_changed", 0, offset, "k", b"{}", headers)


def test_everything_is_a_no_op_while_tracing_is_off() -> None:
    assert not tracing_enabled()
    with span("nothing") as current:
        assert not current.is_recording()
        assert current_traceparent() is None


def test_the_record_header_carries_the_active_span_else_the_events_context(
    spans: InMemorySpanExporter,
) -> None:
    serde = JsonEventSerializer()
    carried = event(trace_context=TraceContext(trace_id=TRACE, span_id=SPAN))
    _, headers = serde.encode(carried)
    assert headers["traceparent"] == f"00-{TRACE}-{SPAN}-01".encode()
    with span("publish") as current:
        _, headers = serde.encode(carried)
        ctx = current.get_span_context()
    flags = int(ctx.trace_flags)  # sampled, plus W3C level 2's "random trace id" bit
    assert flags & 1
    expected = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{flags:02x}"
    assert headers["traceparent"] == expected.encode()
    _, headers = serde.encode(event())
    assert "traceparent" not in headers


def test_traceparent_parsing_rejects_garbage() -> None:
    assert context_from_traceparent(f"00-{TRACE}-{SPAN}-01") is not None
    for bad in (None, b"\xff", "", "00-xyz", f"00-{'0' * 32}-{SPAN}-01", f"01-{TRACE}-{SPAN}-01"):
        assert context_from_traceparent(bad) is None


async def test_a_batch_of_one_trace_continues_it_a_mixed_batch_starts_one_with_links(
    spans: InMemorySpanExporter,
) -> None:
    seen: list[trace.Span] = []

    async def handler(messages: list[Message]) -> None:
        seen.append(trace.get_current_span())

    traced = trace_batches(handler, "audit")
    other = "11111111111111111111111111111111"
    await traced([message(0, f"00-{TRACE}-{SPAN}-01"), message(1, f"00-{TRACE}-{SPAN}-01")])
    await traced([message(2, f"00-{TRACE}-{SPAN}-01"), message(3, f"00-{other}-{SPAN}-01")])
    await traced([message(4)])
    one, mixed, bare = spans.get_finished_spans()
    assert all(s.kind is SpanKind.CONSUMER for s in (one, mixed, bare))
    assert one.parent is not None
    assert f"{one.context.trace_id:032x}" == TRACE
    assert len(one.links) == 1
    assert mixed.parent is None
    assert {f"{link.context.trace_id:032x}" for link in mixed.links} == {TRACE, other}
    assert bare.parent is None
    assert not bare.links
    assert (one.attributes or {})["messaging.consumer.group.name"] == "audit"
    assert (one.attributes or {})["messaging.batch.message_count"] == 2
    assert len(seen) == 3  # the handler ran inside each span


def test_client_mistakes_are_not_span_errors_source_failures_are(
    spans: InMemorySpanExporter,
) -> None:
    for exc in (EntityNotFound("widget", "w-9"), SourceUnavailable("down")):
        with contextlib.suppress(Exception), span(type(exc).__name__):
            raise exc
    missing, down = spans.get_finished_spans()
    assert missing.status.status_code is StatusCode.UNSET
    assert (missing.attributes or {})["error.type"] == "ENTITY_NOT_FOUND"
    assert down.status.status_code is StatusCode.ERROR
    assert (down.attributes or {})["error.type"] == "SOURCE_UNAVAILABLE"
    assert [e.name for e in down.events] == ["exception"]


async def test_changes_announced_by_a_webhook_continue_the_webhooks_trace(
    spans: InMemorySpanExporter,
) -> None:
    source = WidgetSource()
    source.put("w-5", "Cog")
    adapter = widgets_adapter(source)
    adapter.config = adapter.config.model_copy(update={"poll_interval_seconds": None})
    try:
        with span("POST /webhooks/widgets") as request:
            assert await adapter.handle_webhook({"ids": ["w-5"]}) == 1
        stream = adapter.stream_changes()
        change = await anext(stream)
        await stream.aclose()
    finally:
        await adapter.aclose()
        await adapter.client.aclose()
    assert change.trace_context is not None
    ctx = request.get_span_context()
    assert change.trace_context.trace_id == f"{ctx.trace_id:032x}"
    marker = next(s for s in spans.get_finished_spans() if s.name == "adapter.change")
    webhook = next(s for s in spans.get_finished_spans() if s.name == "adapter.handle_webhook")
    assert marker.parent is not None
    assert marker.parent.span_id == webhook.context.span_id


def test_setup_installs_one_global_provider_from_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed: list[Any] = []
    monkeypatch.setattr(tracing.trace, "set_tracer_provider", installed.append)
    monkeypatch.setattr(tracing, "_state", tracing._State())
    assert setup_tracing(ObservabilitySettings(), service_name="n") is None
    settings = ObservabilitySettings(
        traces_exporter="otlp",
        otlp_endpoint="http://127.0.0.1:4318/v1/traces",
        sampling_ratio=0.25,
    )
    provider = setup_tracing(settings, service_name="billing")
    try:
        assert installed == [provider]
        assert provider is not None
        assert provider.resource.attributes["service.name"] == "billing"  # type: ignore[attr-defined]
        assert "0.25" in provider.sampler.get_description()  # type: ignore[attr-defined]
        # again: the same provider, nothing installed twice
        assert setup_tracing(settings, service_name="billing") is provider
        assert len(installed) == 1
    finally:
        provider.shutdown()  # type: ignore[union-attr]


def test_a_missing_sdk_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_sdk(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry.sdk"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sdk)
    monkeypatch.setattr(tracing, "_state", tracing._State())
    with pytest.raises(MissingDependencyError, match="otel"):
        setup_tracing(ObservabilitySettings(traces_exporter="console"), service_name="n")


async def test_source_calls_in_an_unsampled_trace_skip_the_instrumentation(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sampled: a CLIENT span and traceparent flagged sampled. Dropped by the sampler: the
    traceparent still goes out (flags 00) but the httpx instrumentation's per-call work
    is skipped — no attributes built for a span nobody records."""
    import httpx
    import opentelemetry.instrumentation.httpx as otel_httpx

    from dictamesh.observability.tracing import instrument_http_client

    applied: list[str] = []
    real = otel_httpx._apply_request_client_attributes_to_span
    monkeypatch.setattr(
        otel_httpx,
        "_apply_request_client_attributes_to_span",
        lambda *a, **k: (applied.append("x"), real(*a, **k))[1],
    )
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["traceparent"])
        return httpx.Response(200, json={})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://src")
    instrument_http_client(client)
    with span("sampled"):
        await client.get("/a")
    assert int(sent[-1][-2:], 16) & 1  # sampled (plus W3C level 2's random bit)
    assert applied == ["x"]
    assert [s.kind for s in spans.get_finished_spans()].count(SpanKind.CLIENT) == 1

    unsampled = NonRecordingSpan(
        SpanContext(int(TRACE, 16), int(SPAN, 16), is_remote=True, trace_flags=TraceFlags(0))
    )
    with trace.use_span(unsampled):
        await client.get("/b")
    assert sent[-1] == f"00-{TRACE}-{SPAN}-00"  # the trace id and "not sampled" propagate
    assert applied == ["x"]  # the instrumentation did not run
    assert [s.kind for s in spans.get_finished_spans()].count(SpanKind.CLIENT) == 1
    await client.aclose()
