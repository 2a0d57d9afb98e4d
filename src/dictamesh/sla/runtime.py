"""SLA monitoring as a node runs it: the monitor, its event relay and its metrics.

Built by :class:`~dictamesh.node.MeshNode` on nodes that serve adapters (api: source calls
and the ``api`` freshness stage) or ingest (the ``catalog`` stage); one task evaluates and
publishes. The node calls :meth:`NodeSla.changes_committed` after each ingest commit and
:meth:`NodeSla.change_served` after each cache invalidation.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry

from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.core.lifecycle import run_together
from dictamesh.core.models import ChangeEvent
from dictamesh.core.settings import SlaSettings
from dictamesh.events.bus import EventBus
from dictamesh.events.relay import EventRelay
from dictamesh.sla.metrics import SlaCollector
from dictamesh.sla.monitor import SLA_TOPICS, SlaMonitor

__all__ = ["NodeSla"]


class NodeSla:
    def __init__(self, monitor: SlaMonitor, relay: EventRelay) -> None:
        self.monitor = monitor
        self.relay = relay

    @classmethod
    def build(
        cls,
        settings: SlaSettings,
        adapters: Iterable[DataProductAdapter],
        bus: EventBus,
        *,
        node: str,
        observe_calls: bool,
        metrics: CollectorRegistry | None = None,
    ) -> NodeSla:
        """``observe_calls``: this node calls the sources (its adapters are connected)."""
        adapters = list(adapters)
        relay = EventRelay(bus, what="sla events")
        monitor = SlaMonitor(adapters, settings, relay=relay, node=node)
        if observe_calls:
            for adapter in adapters:
                observe = getattr(adapter, "observe_calls", None)
                if callable(observe):  # adapters built in code may not be AdapterBase
                    observe(monitor.call_observer(adapter.name))
        if metrics is not None:
            metrics.register(SlaCollector(monitor))
        return cls(monitor, relay)

    async def ensure_topics(self, bus: EventBus) -> None:
        for spec in SLA_TOPICS:
            await bus.ensure_topic(spec)

    def changes_committed(self, events: Iterable[tuple[ChangeEvent, str]]) -> None:
        """The ingest committed these changes to the catalog (stage ``catalog``)."""
        record = self.monitor.record_lag
        for event, _topic in events:
            record("catalog", event.entity.type, event.timestamp)

    def change_served(self, event: ChangeEvent) -> None:
        """The API invalidated this change: it serves the new value now (stage ``api``)."""
        self.monitor.record_lag("api", event.entity.type, event.timestamp)

    async def run(self) -> None:
        await run_together(self.monitor.run(), self.relay.run())

    async def aclose(self) -> None:
        await self.relay.flush_on_close()
