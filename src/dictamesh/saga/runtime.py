"""A node's saga engine, assembled from settings and the node's parts.

Example::

    sagas = NodeSagas.build(settings.saga, node="node-1", database=catalog.database,
                            registry=registry, guard=WriteGuard(governance), bus=bus,
                            metrics=metrics.registry)
    await sagas.start()        # topics, recovery of unfinished sagas, claim loop
    await sagas.refresh()      # the needs-attention gauge (the node calls it periodically)
    await sagas.aclose()
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.catalog.database import CatalogDatabase
from dictamesh.core.settings import SagaSettings
from dictamesh.events.bus import EventBus
from dictamesh.governance.writes import WriteGuard
from dictamesh.saga.create_invoice import CREATE_INVOICE
from dictamesh.saga.definition import SagaDefinition
from dictamesh.saga.engine import SagaEngine
from dictamesh.saga.events import SagaEventPublisher
from dictamesh.saga.metrics import SagaMetrics
from dictamesh.saga.store import SagaStore
from dictamesh.saga.writer import GovernedWriters

__all__ = ["BUILT_IN_SAGAS", "METRICS_REFRESH_SECONDS", "NodeSagas"]

#: the sagas every node knows
BUILT_IN_SAGAS: tuple[SagaDefinition, ...] = (CREATE_INVOICE,)
#: how often the mesh-wide needs-attention gauge is read from the catalog
METRICS_REFRESH_SECONDS = 15.0


@dataclass
class NodeSagas:
    engine: SagaEngine
    events: SagaEventPublisher
    metrics: SagaMetrics | None

    @classmethod
    def build(
        cls,
        settings: SagaSettings,
        *,
        node: str,
        database: CatalogDatabase,
        registry: AdapterRegistry,
        guard: WriteGuard,
        bus: EventBus,
        metrics: CollectorRegistry | None = None,
        definitions: Sequence[SagaDefinition] = BUILT_IN_SAGAS,
        run_workers: bool = True,
    ) -> NodeSagas:
        """``run_workers`` False: the engine only submits sagas (an API node without the
        ``saga`` role); nodes with the role claim and run them from the lease queue."""
        events = SagaEventPublisher(bus, node=node)
        engine = SagaEngine(
            SagaStore(database),
            definitions,
            GovernedWriters(registry, guard),
            node=node,
            lease_seconds=settings.lease_seconds,
            poll_interval_seconds=settings.poll_interval_seconds,
            max_concurrent=settings.max_concurrent,
            listeners=[events],
            run_workers=run_workers,
        )
        saga_metrics = None
        if metrics is not None:
            saga_metrics = SagaMetrics(metrics, definitions, lambda: engine.in_flight)
            engine.listeners.append(saga_metrics)
        return cls(engine, events, saga_metrics)

    async def start(self) -> None:
        """Topics, then recovery and claiming; the node also runs :meth:`publish_events`
        and :meth:`refresh_forever` as supervised tasks."""
        await self.events.ensure_topics(self.engine.definitions)
        await self.engine.connect()

    async def publish_events(self) -> None:
        await self.events.run()

    async def refresh(self) -> None:
        if self.metrics is not None:
            self.metrics.refresh(await self.engine.store.queue_counts())

    async def refresh_forever(self, interval: float = METRICS_REFRESH_SECONDS) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(interval)

    async def aclose(self) -> None:
        await self.engine.aclose()
        await self.events.relay.flush_on_close()
