"""Saga transitions as events on ``system.saga.<saga>.<event>`` topics.

One JSON message per transition, keyed by saga id (a saga's events stay in order on one
partition), with the saga's ``traceparent`` header so consumers join its trace::

    {"event_type": "step_completed", "event_id": "...", "saga": "create_invoice",
     "saga_id": "...", "tenant_id": "default", "status": "running", "step": "reserve_inventory",
     "error": null, "node": "node-1", "occurred_at": "2026-12-07T10:00:00.123456+00:00"}

Events: ``started``, ``step_completed``, ``step_failed``, ``step_compensated``,
``completed``, ``compensated``, ``failed`` (needs attention), ``aborted``. They are queued
after the transition is stored and published in the background (:class:`EventRelay`), best
effort: a saga never waits for the bus, and a bus that is down is logged and counted, never
stops a saga (the saga's state in the catalog is the record; the events tell).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from dictamesh.events.bus import EventBus
from dictamesh.events.relay import EventRelay
from dictamesh.events.topics import TopicSpec
from dictamesh.saga.store import SagaRecord

__all__ = ["SAGA_EVENTS", "SagaEventPublisher", "saga_topic", "saga_topic_specs"]

SAGA_EVENTS = (
    "started",
    "step_completed",
    "step_failed",
    "step_compensated",
    "completed",
    "compensated",
    "failed",
    "aborted",
)
_WEEK_MS = 7 * 24 * 3600 * 1000


def saga_topic(saga: str, event: str) -> str:
    return f"system.saga.{saga}.{event}"


def saga_topic_specs(sagas: Iterable[str]) -> list[TopicSpec]:
    return [
        TopicSpec(name=saga_topic(s, e), retention_ms=_WEEK_MS) for s in sagas for e in SAGA_EVENTS
    ]


class SagaEventPublisher:
    """A saga listener queuing each transition for the bus; :meth:`run` publishes them."""

    def __init__(self, bus: EventBus, *, node: str | None = None) -> None:
        self.bus = bus
        self.node = node
        self.relay = EventRelay(bus, what="saga events")

    async def ensure_topics(self, sagas: Iterable[str]) -> None:
        for spec in saga_topic_specs(sagas):
            await self.bus.ensure_topic(spec)

    async def saga_event(
        self, record: SagaRecord, event: str, *, step: str | None = None, duration: float = 0.0
    ) -> None:
        body = {
            "event_type": event,
            "event_id": str(uuid.uuid4()),
            "saga": record.saga_type,
            "saga_id": record.id,
            "tenant_id": record.tenant_id,
            "status": record.status.value,
            "step": step,
            "error": record.error if event in ("step_failed", "failed") else None,
            "node": self.node,
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        headers = {"traceparent": record.traceparent.encode()} if record.traceparent else None
        self.relay.offer(
            saga_topic(record.saga_type, event), key=record.id, body=body, headers=headers
        )

    def step_finished(self, saga: str, step: str, phase: str, seconds: float) -> None:
        return None

    async def run(self) -> None:
        await self.relay.run()
