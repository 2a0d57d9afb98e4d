from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from dictamesh.api import debug_traces
from dictamesh.api.observability import instrument_app
from dictamesh.observability import recent, tracing
from dictamesh.observability.recent import RecentSpans


@pytest.fixture
def buffer(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecentSpans]:
    spans = RecentSpans(capacity=10)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    monkeypatch.setattr(recent, "_recent", spans)
    with tracing.use_tracer_provider(provider):
        yield spans
    provider.shutdown()


def record(name: str, children: int = 0) -> None:
    with tracing.tracer().start_as_current_span(name):
        for i in range(children):
            with tracing.tracer().start_as_current_span(f"{name}.child{i}") as child:
                child.set_attribute("n", i)
                child.set_attribute("tags", ["a", "b"])


def test_traces_group_spans_newest_first_with_parents(buffer: RecentSpans) -> None:
    record("first", children=2)
    record("second", children=1)
    [second, first] = buffer.traces()
    assert (second["root"], first["root"]) == ("second", "first")
    assert [s["name"] for s in first["spans"]] == ["first", "first.child0", "first.child1"]
    root_id = first["spans"][0]["span_id"]
    assert {s["parent_id"] for s in first["spans"][1:]} == {root_id}
    assert first["spans"][2]["attributes"] == {"n": 1, "tags": ["a", "b"]}
    assert buffer.traces(limit=1) == [second]


def test_the_buffer_is_bounded(buffer: RecentSpans) -> None:
    for i in range(8):
        record(f"t{i}", children=1)  # 16 spans into 10 places
    names = [t["root"] for t in buffer.traces(limit=50)]
    assert names[0] == "t7"
    assert "t0" not in names


async def test_endpoint_serves_traces_only_in_memory_mode(
    buffer: RecentSpans, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = FastAPI()
    instrument_app(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
        off = await client.get("/debug/traces")
        assert off.status_code == 404
        assert "traces_exporter: memory" in off.json()["error"]["message"]
        monkeypatch.setattr(tracing._state, "installed", ("memory",))
        assert (await client.get("/debug/traces")).status_code == 404  # debug_traces off
        monkeypatch.setattr(debug_traces, "_access", debug_traces._Access(enabled=True))
        record("demo", children=1)
        on = await client.get("/debug/traces", params={"limit": 5})
        assert on.status_code == 200
        assert "demo" in [t["root"] for t in on.json()["traces"]]
        assert (await client.get("/debug/traces", params={"limit": 0})).status_code == 422


def test_traces_filter_by_root_name_and_skip_orphans(buffer: RecentSpans) -> None:
    record("POST /graphql", children=1)
    record("adapter.fetch_changed_since")
    assert [t["root"] for t in buffer.traces(root="GRAPHQL")] == ["POST /graphql"]
    # a span whose local parent was never recorded (e.g. a request left untraced)
    parent = tracing.tracer().start_span("untraced")
    with tracing.tracer().start_as_current_span(
        "orphan", context=trace.set_span_in_context(parent)
    ):
        pass
    assert "orphan" not in [t["root"] for t in buffer.traces()]
