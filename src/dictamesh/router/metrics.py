"""Router metrics on a node's Prometheus registry.

* ``dictamesh_router_routed_total{rule,target}`` — records written to a target topic;
* ``dictamesh_router_dropped_total{rule}`` — events a ``drop`` rule discarded;
* ``dictamesh_router_unmatched_total`` — events no rule fired on (committed, not written);
* ``dictamesh_router_dead_lettered_total{rule,target}`` — events sent to a DLQ ``target``:
  a transform failed (``rule``: its name) or the record could not be read (``rule=""``);
* ``dictamesh_router_predicate_errors_total{rule}`` — predicates that failed to evaluate
  (a non-match);
* ``dictamesh_router_rule_set_version`` — accepted loads of the rules (1 at start, +1 per
  reload); ``dictamesh_router_rules`` — rules running;
* ``dictamesh_router_reloads_total`` / ``dictamesh_router_reload_failures_total`` — rule
  sets accepted and refused after start;
* ``dictamesh_router_batch_seconds`` — time to route one batch (write and acknowledge).

Lag, consumed and retried messages are the consumer metrics of group ``dictamesh-router``
(``dictamesh_consumer_lag{group="dictamesh-router",...}``, docs/observability.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["RouterMetrics"]

_BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.routed = Counter(
            "dictamesh_router_routed",
            "Records the router wrote, by rule and target topic.",
            ["rule", "target"],
            registry=registry,
        )
        self.dropped = Counter(
            "dictamesh_router_dropped",
            "Events a drop rule discarded, by rule.",
            ["rule"],
            registry=registry,
        )
        self.unmatched = Counter(
            "dictamesh_router_unmatched",
            "Events no router rule fired on.",
            registry=registry,
        )
        self.dead_lettered = Counter(
            "dictamesh_router_dead_lettered",
            "Events the router sent to a dead-letter topic, by rule (empty: unreadable).",
            ["rule", "target"],
            registry=registry,
        )
        self.predicate_errors = Counter(
            "dictamesh_router_predicate_errors",
            "Router predicates that failed to evaluate (counted as no match), by rule.",
            ["rule"],
            registry=registry,
        )
        self.version = Gauge(
            "dictamesh_router_rule_set_version",
            "Accepted loads of the router rules (1 at start, +1 per reload).",
            registry=registry,
        )
        self.rules = Gauge("dictamesh_router_rules", "Router rules running.", registry=registry)
        self.reloads = Counter(
            "dictamesh_router_reloads", "Router rule sets accepted after start.", registry=registry
        )
        self.reload_failures = Counter(
            "dictamesh_router_reload_failures",
            "Router rule sets refused (the previous set kept running).",
            registry=registry,
        )
        self.batch = Histogram(
            "dictamesh_router_batch_seconds",
            "Time to route one batch: transform, write, acknowledgement.",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )

    def rule_set(self, version: int, rules: Iterable[tuple[str, list[str]]]) -> None:
        """A new rule set runs: its version, and each rule's series at 0 (dashboards)."""
        count = 0
        for name, targets in rules:
            count += 1
            self.dropped.labels(name)
            self.predicate_errors.labels(name)
            for target in targets:
                self.routed.labels(name, target)
        self.version.set(version)
        self.rules.set(count)

    def add(
        self,
        routed: Mapping[tuple[str, str], int],
        dropped: Mapping[str, int],
        dead: Mapping[tuple[str, str], int],
        unmatched: int,
    ) -> None:
        for (rule, target), n in routed.items():
            self.routed.labels(rule, target).inc(n)
        for rule, n in dropped.items():
            self.dropped.labels(rule).inc(n)
        for (rule, target), n in dead.items():
            self.dead_lettered.labels(rule, target).inc(n)
        if unmatched:
            self.unmatched.inc(unmatched)
