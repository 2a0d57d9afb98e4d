"""Saga metrics on a node's Prometheus registry.

* ``dictamesh_saga_started_total{saga}`` — sagas started on this node;
* ``dictamesh_saga_completed_total{saga,outcome}`` — sagas that ended here, ``outcome`` one
  of ``completed``, ``compensated``, ``failed`` (needs attention), ``aborted``;
* ``dictamesh_saga_duration_seconds{saga,outcome}`` — start to end;
* ``dictamesh_saga_step_duration_seconds{saga,step,phase}`` — one try of a step;
* ``dictamesh_saga_in_flight{saga}`` — sagas this node is running now;
* ``dictamesh_saga_needs_attention{saga}`` — failed sagas in the whole mesh (every tenant),
  refreshed by :meth:`SagaMetrics.refresh` — what ``DictaMeshSagaNeedsAttention`` alerts on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from dictamesh.saga.definition import SagaDefinition
from dictamesh.saga.store import SagaRecord, SagaStatus

__all__ = ["SagaMetrics"]

_ENDS = {
    "completed": "completed",
    "compensated": "compensated",
    "failed": "failed",
    "aborted": "aborted",
}
_STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_SAGA_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class SagaMetrics:
    """A saga listener counting what happens, plus gauges read from the engine and store."""

    def __init__(
        self,
        registry: CollectorRegistry,
        sagas: Iterable[SagaDefinition],
        in_flight: Callable[[], Mapping[str, int]],
    ) -> None:
        definitions = list(sagas)
        self.sagas = [d.name for d in definitions]
        self.started = Counter(
            "dictamesh_saga_started", "Sagas started on this node.", ["saga"], registry=registry
        )
        self.ended = Counter(
            "dictamesh_saga_completed",
            "Sagas that ended on this node, by outcome.",
            ["saga", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "dictamesh_saga_duration_seconds",
            "Time from a saga's start to its end, by outcome.",
            ["saga", "outcome"],
            buckets=_SAGA_BUCKETS,
            registry=registry,
        )
        self.step_duration = Histogram(
            "dictamesh_saga_step_duration_seconds",
            "Time of one try of a saga step's action or compensation.",
            ["saga", "step", "phase"],
            buckets=_STEP_BUCKETS,
            registry=registry,
        )
        in_flight_gauge = Gauge(
            "dictamesh_saga_in_flight",
            "Sagas this node is running now.",
            ["saga"],
            registry=registry,
        )
        self.needs_attention = Gauge(
            "dictamesh_saga_needs_attention",
            "Sagas whose compensation failed and that wait for an operator (whole mesh).",
            ["saga"],
            registry=registry,
        )
        for saga in self.sagas:
            self.started.labels(saga)
            self.needs_attention.labels(saga).set(0)
            in_flight_gauge.labels(saga).set_function(
                lambda s=saga: float(in_flight().get(s, 0))  # type: ignore[misc]
            )
            for outcome in _ENDS.values():
                self.ended.labels(saga, outcome)
        for definition in definitions:  # every series exists from the start (dashboards)
            for step in definition.steps:
                self.step_duration.labels(definition.name, step.name, "action")
                if step.compensation is not None:
                    self.step_duration.labels(definition.name, step.name, "compensation")

    async def saga_event(
        self, record: SagaRecord, event: str, *, step: str | None = None, duration: float = 0.0
    ) -> None:
        if event == "started":
            self.started.labels(record.saga_type).inc()
        outcome = _ENDS.get(event)
        if outcome is not None:
            self.ended.labels(record.saga_type, outcome).inc()
            self.duration.labels(record.saga_type, outcome).observe(duration)

    def step_finished(self, saga: str, step: str, phase: str, seconds: float) -> None:
        self.step_duration.labels(saga, step, phase).observe(seconds)

    def refresh(self, queue_counts: Mapping[tuple[str, str], int]) -> None:
        """Set the needs-attention gauge from :meth:`SagaStore.queue_counts`."""
        failed = SagaStatus.FAILED.value
        for saga in self.sagas:
            self.needs_attention.labels(saga).set(queue_counts.get((saga, failed), 0))
