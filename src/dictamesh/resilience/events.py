"""Circuit breaker state changes as events on the bus: ``system.adapters.breaker_changed``.

Every :class:`~dictamesh.resilience.breaker.CircuitBreaker` hands its state changes to its
listeners (and logs them as structured ``dictamesh.resilience`` records). A
:class:`BreakerEventRelay` is such a listener: it queues each
:class:`~dictamesh.resilience.breaker.BreakerTransition` (listeners must not block) and a
task publishes them, keyed by breaker (= adapter) name, as JSON::

    {"event_type": "breaker_changed", "event_id": "...", "node": "node-1",
     "adapter": "products_rest", "old_state": "closed", "new_state": "open",
     "reason": "failure_threshold", "failures": 5, "calls": 7, "retry_in_seconds": 15.0,
     "occurred_at": "2026-11-24T10:00:00.123456+00:00"}

Publishing is best effort: a full queue drops the oldest transition, a failing bus is
logged; neither ever affects the source calls the breaker guards.

Example::

    relay = BreakerEventRelay(bus, node="node-1")
    relay.watch_adapters(registry.adapters())
    task = asyncio.create_task(relay.run())      # until cancelled
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from dictamesh.events.bus import EventBus
from dictamesh.events.relay import EventRelay
from dictamesh.events.topics import DEFAULT_TOPICS, TopicSpec
from dictamesh.resilience.breaker import BreakerTransition, CircuitBreaker

__all__ = ["BREAKER_TOPIC", "BREAKER_TOPIC_SPEC", "BreakerEventRelay", "breaker_event"]

log = logging.getLogger("dictamesh.resilience")

BREAKER_TOPIC = "system.adapters.breaker_changed"
BREAKER_TOPIC_SPEC: TopicSpec = next(s for s in DEFAULT_TOPICS if s.name == BREAKER_TOPIC)


def breaker_event(transition: BreakerTransition, *, node: str | None = None) -> dict[str, Any]:
    """The JSON body published for one transition."""
    body = transition.to_dict()
    at = body.pop("at")
    return {
        "event_type": "breaker_changed",
        "event_id": str(uuid.uuid4()),
        "node": node,
        "adapter": body.pop("breaker"),
        **body,
        "occurred_at": datetime.fromtimestamp(at, UTC).isoformat(),
    }


class BreakerEventRelay:
    """Queues breaker transitions and publishes them to :data:`BREAKER_TOPIC`."""

    def __init__(
        self,
        bus: EventBus,
        *,
        node: str | None = None,
        topic: str = BREAKER_TOPIC,
        max_queue: int = 1000,
    ) -> None:
        self.bus = bus
        self.node = node
        self.topic = topic
        self._relay = EventRelay(bus, what="breaker changes", max_queue=max_queue)
        self._removers: list[Callable[[], None]] = []

    # --- wiring -------------------------------------------------------------------------

    def watch(self, breaker: CircuitBreaker) -> None:
        self._removers.append(breaker.add_listener(self.offer))

    def watch_adapters(self, adapters: Iterable[Any]) -> None:
        """Watch the breaker of every adapter that has one (``adapter.policy.breaker``)."""
        for adapter in adapters:
            breaker = getattr(getattr(adapter, "policy", None), "breaker", None)
            if isinstance(breaker, CircuitBreaker):
                self.watch(breaker)

    def close(self) -> None:
        """Stop watching (queued transitions stay until published or dropped)."""
        for remove in self._removers:
            remove()
        self._removers.clear()

    def offer(self, transition: BreakerTransition) -> None:
        """The breaker listener: queue, never block."""
        body = breaker_event(transition, node=self.node)
        self._relay.offer(self.topic, key=transition.breaker, body=body)

    # --- publishing ---------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return self._relay.pending

    @property
    def published(self) -> int:
        return self._relay.published

    @property
    def dropped(self) -> int:
        return self._relay.dropped

    @property
    def failed(self) -> int:
        return self._relay.failed

    async def flush(self) -> int:
        """Publish everything queued now; returns how many were published."""
        return await self._relay.flush()

    async def run(self) -> None:
        """Publish transitions as they come, until cancelled."""
        await self._relay.run()
