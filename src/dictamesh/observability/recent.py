"""The last finished spans of this process, kept in memory and served at ``GET /debug/traces``.

For the demo and for a developer without a tracing backend: ``traces_exporter: memory`` keeps
the newest ``RECENT_SPANS`` spans in a ring buffer (old ones fall off, so memory stays
bounded) and the node serves them grouped by trace, newest trace first. Production exports
over OTLP instead.

Example::

    GET /debug/traces?limit=5
    {"traces": [{"trace_id": "…", "root": "POST /graphql", "duration_ms": 12.4,
                 "spans": [{"name": "…", "span_id": "…", "parent_id": "…", …}, …]}]}
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from dictamesh.observability.attributes import TENANT_ATTRIBUTE

__all__ = ["RECENT_SPANS", "RecentSpans", "recent_spans"]

RECENT_SPANS = 5000
MAX_TRACES = 200


class RecentSpans(SpanExporter):
    def __init__(self, capacity: int = RECENT_SPANS) -> None:
        self._spans: deque[ReadableSpan] = deque(maxlen=capacity)
        self._lock = threading.Lock()  # the batch processor exports from its own thread

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            self._spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._spans.clear()

    def traces(
        self, limit: int = 20, root: str | None = None, *, tenant: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` traces (by their latest span end), spans in start order;
        ``root``: only traces whose root span's name contains it (case-insensitive);
        ``tenant``: only traces of requests served for that tenant."""
        with self._lock:
            spans = list(self._spans)
        grouped: dict[int, list[ReadableSpan]] = {}
        for s in spans:
            if s.context is not None:
                grouped.setdefault(s.context.trace_id, []).append(s)
        ordered = sorted(grouped.items(), key=lambda kv: max(s.end_time or 0 for s in kv[1]))
        wanted = root.lower() if root else None
        out: list[dict[str, Any]] = []
        for trace_id, members in reversed(ordered):
            if len(out) == limit:
                break
            members.sort(key=lambda s: s.start_time or 0)
            ids = {s.context.span_id for s in members if s.context is not None}
            first = next(
                (s for s in members if s.parent is None or s.parent.span_id not in ids), members[0]
            )
            if first.parent is not None and not first.parent.is_remote:
                continue  # its local parent was never recorded (an untraced request: this one)
            if wanted is not None and wanted not in first.name.lower():
                continue
            if tenant is not None and _tenant_of(members) != tenant:
                continue
            start = min(s.start_time or 0 for s in members)
            end = max(s.end_time or 0 for s in members)
            out.append(
                {
                    "trace_id": f"{trace_id:032x}",
                    "root": first.name,
                    "duration_ms": round((end - start) / 1e6, 3),
                    "spans": [_span(s) for s in members],
                }
            )
        return out


def _tenant_of(members: list[ReadableSpan]) -> str | None:
    for s in members:
        found = (s.attributes or {}).get(TENANT_ATTRIBUTE)
        if isinstance(found, str):
            return found
    return None


def _span(s: ReadableSpan) -> dict[str, Any]:
    return {
        "name": s.name,
        "span_id": f"{s.context.span_id:016x}" if s.context is not None else None,
        "parent_id": f"{s.parent.span_id:016x}" if s.parent is not None else None,
        "kind": s.kind.name.lower(),
        "start_ns": s.start_time,
        "duration_ms": round(((s.end_time or 0) - (s.start_time or 0)) / 1e6, 3),
        "status": s.status.status_code.name.lower(),
        "attributes": {k: _plain(v) for k, v in (s.attributes or {}).items()},
    }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return [_plain(v) for v in value] if isinstance(value, Sequence) else str(value)


_recent: RecentSpans | None = None


def recent_spans() -> RecentSpans:
    """The process-wide buffer (created on first use; one per process like the provider)."""
    global _recent
    if _recent is None:
        _recent = RecentSpans()
    return _recent
