"""Structured logs: JSON lines (or console lines) with trace, span and tenant ids."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dictamesh.core.context import current_tenant
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.observability import setup_observability
from dictamesh.observability.logs import configure_logging, get_logger, reset_logging
from dictamesh.observability.tracing import span


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    reset_logging()
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.usefixtures("restore_logging")
def test_a_json_line_inside_a_span_carries_trace_span_and_tenant(
    spans: InMemorySpanExporter,
) -> None:
    out = io.StringIO()
    configure_logging("json", "INFO", stream=out)
    token = current_tenant.set("acme")
    try:
        with span("work") as current:
            logging.getLogger("dictamesh.adapters").warning("source %s slow", "crm")
            get_logger("dictamesh.node").info("captured", events=3)
            ctx = current.get_span_context()
    finally:
        current_tenant.reset(token)
    logging.getLogger("dictamesh.node").info("outside")
    stdlib, native, outside = (json.loads(line) for line in lines(out))
    for record in (stdlib, native):
        assert record["trace_id"] == f"{ctx.trace_id:032x}"
        assert record["span_id"] == f"{ctx.span_id:016x}"
        assert record["tenant_id"] == "acme"
        assert record["timestamp"].endswith("Z")
    assert stdlib["event"] == "source crm slow"
    assert stdlib["level"] == "warning"
    assert stdlib["logger"] == "dictamesh.adapters"
    assert native["events"] == 3
    assert native["level"] == "info"
    assert "trace_id" not in outside
    assert "tenant_id" not in outside


@pytest.mark.usefixtures("restore_logging")
def test_console_lines_for_humans_and_exceptions_in_json() -> None:
    out = io.StringIO()
    configure_logging("console", "DEBUG", stream=out)
    logging.getLogger("dictamesh.demo").debug("hello")
    assert "hello" in out.getvalue()
    assert not out.getvalue().lstrip().startswith("{")

    out = io.StringIO()
    configure_logging("json", "INFO", stream=out)  # replaces the console handler
    try:
        raise ValueError("bad")
    except ValueError:
        logging.getLogger("dictamesh.x").exception("failed")
    (record,) = (json.loads(line) for line in lines(out))
    assert "ValueError: bad" in record["exception"]
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "_Handler"]
    assert len(ours) == 1


@pytest.mark.usefixtures("restore_logging")
def test_setup_leaves_logging_alone_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    before = list(logging.getLogger().handlers)
    setup_observability(DictaMeshSettings())
    assert logging.getLogger().handlers == before
    monkeypatch.setenv("DICTAMESH_OBSERVABILITY__LOG_FORMAT", "json")
    setup_observability(DictaMeshSettings())
    assert len(logging.getLogger().handlers) == len(before) + 1
