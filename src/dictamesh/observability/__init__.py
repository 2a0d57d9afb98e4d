"""Observability of a mesh node: traces (OpenTelemetry), metrics (Prometheus), logs
(structlog). ``docs/observability.md`` is the guide.

* :mod:`~dictamesh.observability.tracing` — tracer setup and the span helpers;
* :mod:`~dictamesh.observability.metrics` — :class:`MeshMetrics`, read at scrape time;
* :mod:`~dictamesh.observability.logs` — JSON/console logs with trace and tenant ids.

Their transport glue lives with the transport: :mod:`dictamesh.api.observability` (request
middleware, ``GET /metrics``) and :mod:`dictamesh.gateway.observability` (GraphQL
operation spans).

Example::

    setup_observability(settings)   # what MeshNode.start does; off-by-default pieces stay off
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dictamesh.observability.tracing import setup_tracing

if TYPE_CHECKING:
    from dictamesh.core.settings import DictaMeshSettings

__all__ = ["setup_observability"]


def setup_observability(settings: DictaMeshSettings) -> None:
    """Tracing and logging as ``settings.observability`` asks (process-wide, idempotent).

    With the defaults (``traces_exporter: none``, ``log_format: none``) nothing changes:
    a node embedded in a host application or a test leaves its tracing and logging alone.
    """
    obs = settings.observability
    setup_tracing(obs, service_name=obs.service_name or settings.node_name)
    if obs.log_format != "none":
        from dictamesh.observability.logs import configure_logging

        configure_logging(obs.log_format, obs.log_level)
