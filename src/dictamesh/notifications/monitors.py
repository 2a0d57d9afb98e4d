"""Monitors that turn the mesh's own state into events rules can name.

* :class:`OutboxMonitor` — reads the outbox depth into
  ``dictamesh_notifications_outbox_depth``; when it crosses ``worker.outbox_alert_depth`` it
  publishes ``system.notifications.outbox_growing`` once (again only after it fell below);
* :class:`DlqMonitor` — compares the node's dead-letter counters between two readings and
  publishes ``system.bus.dlq_growing`` (per original topic) when messages were dead-lettered
  in between: ``{"topic": ..., "dead_lettered": n, "total": N, "window_seconds": s}``.

Both publish through an :class:`~dictamesh.events.relay.EventRelay` (best effort, never
blocking) and are supervised tasks of the node.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from dictamesh.events.relay import EventRelay
from dictamesh.events.topics import TopicSpec
from dictamesh.notifications.metrics import NotificationMetrics
from dictamesh.notifications.store import NotificationStore

__all__ = ["DLQ_TOPIC", "MONITOR_TOPICS", "OUTBOX_TOPIC", "DlqMonitor", "OutboxMonitor"]

DLQ_TOPIC = "system.bus.dlq_growing"
OUTBOX_TOPIC = "system.notifications.outbox_growing"
_WEEK_MS = 7 * 24 * 3600 * 1000
MONITOR_TOPICS = (
    TopicSpec(name=DLQ_TOPIC, retention_ms=_WEEK_MS),
    TopicSpec(name=OUTBOX_TOPIC, retention_ms=_WEEK_MS),
)


def _event(event_type: str, node: str, **body: Any) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "event_id": str(uuid.uuid4()),
        "node": node,
        **body,
        "occurred_at": datetime.now(UTC).isoformat(),
    }


class OutboxMonitor:
    def __init__(
        self,
        store: NotificationStore,
        relay: EventRelay,
        *,
        node: str,
        alert_depth: int,
        metrics: NotificationMetrics | None = None,
        interval_seconds: float = 15.0,
    ) -> None:
        self.store = store
        self.relay = relay
        self.node = node
        self.alert_depth = alert_depth
        self.metrics = metrics
        self.interval_seconds = interval_seconds
        self.alerting = False

    async def check(self) -> int:
        depth = await self.store.depth()
        if self.metrics is not None:
            self.metrics.outbox_depth.set(depth)
        if depth > self.alert_depth and not self.alerting:
            self.alerting = True
            body = _event("outbox_growing", self.node, depth=depth, threshold=self.alert_depth)
            self.relay.offer(OUTBOX_TOPIC, key=self.node, body=body)
        elif depth <= self.alert_depth:
            self.alerting = False
        return depth

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.interval_seconds)


class DlqMonitor:
    def __init__(
        self,
        dead_lettered: Callable[[], Mapping[str, int]],
        relay: EventRelay,
        *,
        node: str,
        interval_seconds: float = 30.0,
    ) -> None:
        self.dead_lettered = dead_lettered
        self.relay = relay
        self.node = node
        self.interval_seconds = interval_seconds
        self._last: dict[str, int] = dict(dead_lettered())

    def check(self) -> list[str]:
        """Publish for each topic whose DLQ grew since the last check; returns them."""
        now = dict(self.dead_lettered())
        grown = []
        for topic, total in sorted(now.items()):
            added = total - self._last.get(topic, 0)
            if added > 0:
                grown.append(topic)
                body = _event(
                    "dlq_growing",
                    self.node,
                    topic=topic,
                    dead_lettered=added,
                    total=total,
                    window_seconds=self.interval_seconds,
                )
                self.relay.offer(DLQ_TOPIC, key=topic, body=body)
        self._last = now
        return grown

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            self.check()
