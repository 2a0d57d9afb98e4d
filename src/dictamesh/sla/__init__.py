"""SLA monitoring (``docs/sla.md``): each adapter's declared SLA measured against what
happens (availability, latency, freshness lag, error rate) over a sliding window, with
breach and recovery events on ``system.sla.breached`` / ``system.sla.recovered`` and
``dictamesh_sla_*`` metrics.

* :class:`~dictamesh.sla.window.SlidingWindow` — timed samples, one append to record;
* :class:`~dictamesh.sla.monitor.SlaMonitor` — the windows per adapter and the state
  machine per (adapter, objective);
* :class:`~dictamesh.sla.metrics.SlaCollector` — the Prometheus view;
* :class:`~dictamesh.sla.runtime.NodeSla` — what a node runs.
"""

from dictamesh.sla.metrics import SlaCollector
from dictamesh.sla.monitor import (
    BREACHED_TOPIC,
    OBJECTIVES,
    RECOVERED_TOPIC,
    SLA_TOPICS,
    STAGES,
    SlaMonitor,
)
from dictamesh.sla.runtime import NodeSla
from dictamesh.sla.window import SlidingWindow, WindowSummary

__all__ = [
    "BREACHED_TOPIC",
    "OBJECTIVES",
    "RECOVERED_TOPIC",
    "SLA_TOPICS",
    "STAGES",
    "NodeSla",
    "SlaCollector",
    "SlaMonitor",
    "SlidingWindow",
    "WindowSummary",
]
