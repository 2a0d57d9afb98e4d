"""The indexer's metrics on a node's Prometheus registry.

* ``dictamesh_search_embeddings_total{outcome}`` — entities handled by the indexer:
  ``embedded`` (new or changed text), ``unchanged`` (hash equal, not re-embedded),
  ``deleted`` (vectors removed), ``failed`` (the provider failed; retried);
* ``dictamesh_search_embeddings_pending`` — entities waiting to be (re-)embedded;
* ``dictamesh_search_embed_seconds`` — one provider call.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["IndexerMetrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
OUTCOMES = ("embedded", "unchanged", "deleted", "failed")


class IndexerMetrics:
    """Create once per registry; :meth:`watch` points the pending gauge at an indexer."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.embeddings = Counter(
            "dictamesh_search_embeddings",
            "Catalog entities handled by the search indexer, by outcome.",
            ["outcome"],
            registry=registry,
        )
        for outcome in OUTCOMES:
            self.embeddings.labels(outcome)
        self.pending = Gauge(
            "dictamesh_search_embeddings_pending",
            "Catalog entities waiting to be embedded.",
            registry=registry,
        )
        self.latency = Histogram(
            "dictamesh_search_embed_seconds",
            "Time of one embedding provider call.",
            buckets=_BUCKETS,
            registry=registry,
        )

    def watch(self, pending: Callable[[], int]) -> None:
        self.pending.set_function(lambda: float(pending()))
