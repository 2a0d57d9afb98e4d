"""Notification metrics on a node's Prometheus registry.

* ``dictamesh_notifications_sent_total{channel,outcome}`` — tries by outcome: ``sent``,
  ``failed`` (retried later), ``fallback`` (the next channel is tried), ``dead``;
* ``dictamesh_notifications_enqueued_total{rule,status}`` — messages the rules created here,
  ``status`` ``pending``, ``collecting`` (a digest item) or ``suppressed`` (preferences);
* ``dictamesh_notification_delivery_seconds{channel}`` — from the event to the receiver's
  acceptance (the message's ``occurred_at``, else its creation, to ``sent``);
* ``dictamesh_notifications_outbox_depth`` — messages waiting, every tenant (refreshed by the
  outbox monitor) — what ``DictaMeshNotificationOutboxGrowing`` alerts on.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["OUTCOMES", "NotificationMetrics"]

#: what one try can end in
OUTCOMES = ("sent", "failed", "fallback", "dead")

_DELIVERY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class NotificationMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.sent = Counter(
            "dictamesh_notifications_sent",
            "Notification delivery tries, by channel and outcome.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.enqueued = Counter(
            "dictamesh_notifications_enqueued",
            "Notifications created by rules on this node, by rule and status.",
            ["rule", "status"],
            registry=registry,
        )
        self.delivery = Histogram(
            "dictamesh_notification_delivery_seconds",
            "Time from the event to the receiver accepting the notification.",
            ["channel"],
            buckets=_DELIVERY_BUCKETS,
            registry=registry,
        )
        self.outbox_depth = Gauge(
            "dictamesh_notifications_outbox_depth",
            "Notifications waiting to be delivered (all tenants).",
            registry=registry,
        )

    def prepare(self, channels: Iterable[str]) -> None:
        """Export every channel's series from the start (at 0), so rates and alerts work
        before the first message."""
        for channel in channels:
            for outcome in OUTCOMES:
                self.sent.labels(channel, outcome)
            self.delivery.labels(channel)
