"""Data-quality metrics on a node's Prometheus registry (``docs/observability.md``).

* ``dictamesh_quality_checks_total{entity_type, rule, mode}`` — rule checks: ``mode`` is
  ``ingest`` (one per event per per-event rule) or ``catalog`` (one per rule per run);
* ``dictamesh_quality_failures_total{entity_type, rule, mode}`` — the checks that failed;
* ``dictamesh_quality_score{tenant, entity_type}`` — the data product's latest score (0..1);
* ``dictamesh_quality_evaluation_seconds{mode}`` — one run over the catalog (``catalog``)
  or one ingest batch's checks (``ingest``).

Labels are configured names only (rule ids, entity types, tenants): never a value.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["QualityMetrics"]

_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120)


class QualityMetrics:
    """Create once per registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        labels = ["entity_type", "rule", "mode"]
        self.checks = Counter(
            "dictamesh_quality_checks", "Data-quality rule checks.", labels, registry=registry
        )
        self.failures = Counter(
            "dictamesh_quality_failures",
            "Data-quality rule checks that failed.",
            labels,
            registry=registry,
        )
        self.score = Gauge(
            "dictamesh_quality_score",
            "Latest data-quality score of a data product (0..1, weighted by severity).",
            ["tenant", "entity_type"],
            registry=registry,
        )
        self.seconds = Histogram(
            "dictamesh_quality_evaluation_seconds",
            "Time of one data-quality evaluation.",
            ["mode"],
            buckets=_BUCKETS,
            registry=registry,
        )
