"""One mesh node assembled from settings: adapters + bus + catalog + cache + APIs.

The node runs three kinds of background work beside the ASGI app:

* change capture — per adapter, ``stream_changes()`` → publish to the adapter's topic;
* catalog ingest — consumer group ``dictamesh-catalog-ingest`` (one per mesh: with Kafka,
  nodes share the work; meshes with different catalogs on one Kafka cluster must pass
  their own ``ingest_group``) writes events into the catalog, idempotently;
* cache invalidation — consumer group ``dictamesh-cache-<node>`` (one per node: every node
  must drop its own copies) invalidates cached entities, and the cached inverse lookups that
  could hold them (``dictamesh.cache.lookups``), on every change, then hands the
  event to :attr:`MeshNode.changes` (GraphQL subscriptions, response-cache invalidation).
  A cache layer that cannot be reached (Redis down) makes the batch fail transiently: it is
  retried until the layer answers and committed only then, so no entry changed during the
  outage survives it (the events still reach :attr:`MeshNode.changes` at once, once each).

* system topics — the ingest writes what it made new (entity types and instances
  registered, relationships created) into the catalog's outbox in its own transaction;
  task ``system-topics`` publishes it to ``system.metadata.entity_registered`` and
  ``system.lineage.relationship_created`` (``docs/catalog.md``, "System topics");
* cache status — the cache's fills, hits and invalidations go to a bounded in-memory table
  that task ``cache-status`` writes to ``dictamesh_cache_status`` every 250 ms.

Every background task (those, the breaker relay and the retention job) is supervised
(:mod:`dictamesh.resilience.supervisor`): one that dies is logged, restarted with capped
exponential backoff and counted, and ``readiness()`` reports it (``task:<name>``) as
unhealthy while it is down or crash-looping.

With ``tenancy.topic_prefix_per_tenant`` events carrying a tenant go to
``<tenant>.<domain>.<source>.<event>`` and both consumers also read the topics of every tenant
in ``tenancy.tenants``; each event is handled in its tenant's context, the topic's tenant
being the authority (``docs/tenancy.md``). ``tenancy.quotas`` limit each tenant's requests,
GraphQL cost and published events.

Example::

    async with MeshNode(settings) as node:
        app = node.asgi_app()
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dictamesh.adapters.base import AdapterBase
from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.adapters.state import SqliteChangeStateStore
from dictamesh.adapters.webhook_inbox import SqliteWebhookInbox
from dictamesh.api.app import ApiContext, create_app
from dictamesh.api.debug_traces import setup_debug_traces
from dictamesh.cache.base import CacheBackend
from dictamesh.cache.keys import entity_key
from dictamesh.cache.lookups import event_snapshots, invalidate_lookups, lookup_fields
from dictamesh.cache.registry import build_layers
from dictamesh.cache.tiered import TieredCache
from dictamesh.catalog.cache_status_writer import CacheStatusWriter
from dictamesh.catalog.ingest import CatalogIngestor, IngestOutcome
from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import CacheUnavailable, PermissionDenied, SerializationError
from dictamesh.core.lifecycle import AsyncResource
from dictamesh.core.models import ChangeEvent, HealthState, HealthStatus
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.bus import EventBus, Message
from dictamesh.events.consume import BatchHandler, ConsumerStats, run_consumer
from dictamesh.events.fanout import ChangeFeed
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.registry import build_bus as bus_from_settings
from dictamesh.events.serde import JSON_CONTENT_TYPE, JsonEventSerializer, Serializer
from dictamesh.events.system_topics import SystemTopicRelay
from dictamesh.governance.runtime import NodeGovernance
from dictamesh.governance.writes import WriteGuard
from dictamesh.notifications.runtime import NodeNotifications
from dictamesh.observability import setup_observability
from dictamesh.observability.metrics import MeshMetrics
from dictamesh.resilience.events import BREAKER_TOPIC_SPEC, BreakerEventRelay
from dictamesh.resilience.supervisor import (
    RestartPolicy,
    SupervisorCollector,
    TaskFactory,
    TaskSupervisor,
)
from dictamesh.saga.events import saga_topic_specs
from dictamesh.saga.runtime import NodeSagas
from dictamesh.tenancy import (
    TenantQuotas,
    event_for_topic,
    subscription_topics,
    tenant_context,
)

__all__ = ["INGEST_GROUP", "MeshNode", "build_bus", "catalog_ingest_handler"]

log = logging.getLogger("dictamesh.node")

INGEST_GROUP = "dictamesh-catalog-ingest"
_MAX_REMEMBERED = 10_000


def build_bus(settings: DictaMeshSettings) -> EventBus:
    """The bus plugin ``bus.backend`` names (group ``dictamesh.buses``), not connected yet."""
    return bus_from_settings(settings.bus, node_name=settings.node_name)


def catalog_ingest_handler(
    ingestor: CatalogIngestor,
    serializer: Serializer,
    *,
    tenant_topics: bool = False,
    on_outcome: Callable[[IngestOutcome], None] | None = None,
) -> BatchHandler:
    """The catalog-ingest consumer's batch handler: decode each message, then apply the
    batch in one catalog transaction (``benchmarks/kafka_pg_ingest.py`` times this one).

    An event on a ``<tenant>.…`` topic belongs to that tenant (one naming another tenant
    is refused and dead-lettered); with ``tenant_topics`` so must a tenant's events on the
    shared topics (:func:`dictamesh.tenancy.event_for_topic`). ``on_outcome`` is handed
    what each batch committed (it must not block: the system-topic relay is woken)."""

    # A JSON record value is the event's JSON: the log stores it as received (no re-encode).
    json_values = serializer.content_type == JSON_CONTENT_TYPE

    async def handle(batch: list[Message]) -> None:
        events: list[tuple[ChangeEvent, str]] = []
        payloads: list[bytes | None] = []
        for m in batch:
            decoded = serializer.decode(m.value, m.headers)
            event = event_for_topic(decoded, m.topic, strict=tenant_topics)
            events.append((event, m.topic))
            # Not when the topic gave the event its tenant: the value lacks tenant_id then.
            payloads.append(m.value if json_values and event is decoded else None)
        outcome = await ingestor.apply_batch(events, payloads=payloads)
        if on_outcome is not None:
            on_outcome(outcome)

    return handle


class MeshNode(AsyncResource):
    def __init__(
        self,
        settings: DictaMeshSettings,
        *,
        adapters: Sequence[AdapterBase] | None = None,
        serializer: Serializer | None = None,
        ingest_group: str = INGEST_GROUP,
        restart_policy: RestartPolicy | None = None,
    ) -> None:
        """``restart_policy``: how failed background tasks are restarted (default: after
        0.5 s doubling up to 30 s; recovered after 30 s of running)."""
        self.settings = settings
        self.ingest_group = ingest_group
        self.registry = AdapterRegistry()
        self._cache_layers: list[CacheBackend] = build_layers(settings.cache)
        self.cache = TieredCache(self._cache_layers)
        self.bus: EventBus = build_bus(settings)
        self.serializer: Serializer = serializer or JsonEventSerializer()
        self.quotas = TenantQuotas(settings.tenancy.quotas)
        self.publisher = EventPublisher(
            self.bus,
            self.serializer,
            tenant_topics=settings.tenancy.topic_prefix_per_tenant,
            quota=self.quotas if self.quotas.enabled else None,
        )
        self.metrics = MeshMetrics.for_node(self)  # served at /metrics by asgi_app()
        #: every change this node's invalidation consumer handled, after the invalidation:
        #: GraphQL subscriptions and the response cache listen here (docs/graphql.md)
        self.changes = ChangeFeed(queue_size=settings.graphql.subscription_queue_size)
        self._extra_adapters = list(adapters or [])
        self._state = SqliteChangeStateStore(Path(settings.state_dir) / "changes.sqlite3")
        #: accepted webhooks, stored before the 202 (beside the change state)
        self._webhook_inbox = SqliteWebhookInbox(Path(settings.state_dir) / "changes.sqlite3")
        self._catalog: CatalogService | None = None
        #: policy, masking, audit writer, retention (``docs/governance.md``); set by start()
        self.governance: NodeGovernance | None = None
        #: the saga engine (``docs/sagas.md``); set by start() unless ``saga.enabled`` is off
        self.sagas: NodeSagas | None = None
        #: rules, outbox and delivery (``docs/notifications.md``); set by start() unless
        #: ``notifications.enabled`` is off
        self.notifications: NodeNotifications | None = None
        self._stop = asyncio.Event()
        #: the background tasks, restarted when they fail (``readiness()``: ``task:<name>``)
        self.supervisor = TaskSupervisor(stop=self._stop, policy=restart_policy)
        self.metrics.registry.register(SupervisorCollector(self.supervisor))
        #: publishes the catalog's outbox to the system topics; set by start()
        self.system_topics: SystemTopicRelay | None = None
        #: writes the cache's fills, hits and invalidations to the catalog; set by start()
        self.cache_status: CacheStatusWriter | None = None
        self._started = False

    @property
    def catalog(self) -> CatalogService:
        if self._catalog is None:
            raise RuntimeError("node not started")
        return self._catalog

    @property
    def topics(self) -> list[str]:
        """The adapters' topics, then (per-tenant prefixes) each configured tenant's copy."""
        return subscription_topics(
            sorted(
                {
                    f"{a.source.domain}.{a.source.system}.entity_changed"
                    for a in self.registry.adapters()
                }
            ),
            self.settings.tenancy,
        )

    async def start(self) -> None:
        if self._started:
            return
        self._stop.clear()  # a node may be started again after stop()
        Path(self.settings.state_dir).mkdir(parents=True, exist_ok=True)
        setup_observability(self.settings)
        setup_debug_traces(self.settings)
        catalog = self.settings.catalog
        self._catalog = await CatalogService.open(
            catalog.url.get_secret_value(),
            migrate=catalog.migrate_on_start,
            pool=catalog.pool,
            migration_url=catalog.migration_url.get_secret_value()
            if catalog.migration_url
            else None,
        )
        self._catalog.graph.timeout_seconds = catalog.graph_timeout_seconds
        await _check_row_level_security(self._catalog)
        self.metrics.instrument_engine(self._catalog.engine)
        self.governance = NodeGovernance.from_settings(self.settings, self._catalog, self.publisher)
        await self.governance.start(self.metrics, spawn=self._spawn)
        await self.bus.connect()
        await self._state.initialize()  # once, before capture tasks share the new file
        await self._webhook_inbox.initialize()
        for config in self.settings.adapters:
            self.registry.register(self.registry.build(config, cache=self.cache, state=self._state))
        for extra in self._extra_adapters:
            self.registry.register(extra)
        for registered in self.registry.adapters():
            if isinstance(registered, AdapterBase):  # webhooks durable before their 202
                registered.webhook_inbox = self._webhook_inbox
            await registered.connect()
            await self.catalog.register_entity_type(registered.get_schema())
        for topic in self.topics:  # a tenant's topic gets its base topic's spec
            await self.bus.ensure_topic(self.publisher.spec_for(topic))

        ingestor = CatalogIngestor(self.catalog, self.registry.schemas(), outbox=True)
        self.metrics.watch_ingest(ingestor.stats)
        await self._start_status()
        # consumers drain: on stop they finish their batch rather than being cancelled in it
        self.supervisor.spawn("catalog-ingest", lambda: self._run_ingest(ingestor), drains=True)
        self.supervisor.spawn("cache-invalidation", self._run_invalidation, drains=True)
        for member in self.registry.adapters():
            self._spawn(f"capture:{member.name}", functools.partial(self._capture, member))
        # circuit breaker state changes → system.adapters.breaker_changed (best effort)
        await self.bus.ensure_topic(BREAKER_TOPIC_SPEC)
        breaker_events = BreakerEventRelay(self.bus, node=self.settings.node_name)
        breaker_events.watch_adapters(self.registry.adapters())
        self._spawn("breaker-events", breaker_events.run)
        if self.settings.saga.enabled:
            self.sagas = NodeSagas.build(
                self.settings.saga,
                node=self.settings.node_name,
                database=self.catalog.database,
                registry=self.registry,
                guard=WriteGuard(self.governance.governance),
                bus=self.bus,
                metrics=self.metrics.registry,
            )
            await self.sagas.start()  # resumes this node's unfinished sagas at once
            self._spawn("saga-events", self.sagas.publish_events)
            self._spawn("saga-metrics", self.sagas.refresh_forever)
        if self.settings.notifications.enabled:
            await self._start_notifications(breaker_topic=BREAKER_TOPIC_SPEC.name)
        self._started = True

    async def _start_notifications(self, *, breaker_topic: str) -> None:
        assert self.governance is not None
        notifications = NodeNotifications.build(
            self.settings,
            node=self.settings.node_name,
            database=self.catalog.database,
            bus=self.bus,
            governance=self.governance.governance,
            schemas=self.registry.schemas,
            metrics=self.metrics.registry,
            dead_lettered=self.metrics.dead_lettered,
            serializer=self.serializer,
        )
        sagas = list(self.sagas.engine.definitions) if self.sagas else []
        system = [breaker_topic, *(s.name for s in saga_topic_specs(sagas))]
        await notifications.start(self.topics, system)
        self.notifications = notifications
        self.supervisor.spawn(
            "notifications-rules", lambda: notifications.consume(self._stop), drains=True
        )
        self.supervisor.spawn(
            "notifications-delivery", lambda: notifications.deliver(self._stop), drains=True
        )
        self._spawn("notifications-monitor", notifications.monitor)

    async def _start_status(self) -> None:
        """System topics from the catalog's outbox; the cache's status into the catalog."""
        self.system_topics = SystemTopicRelay(
            self.bus,
            self.catalog.outbox,
            tenant_topics=self.settings.tenancy.topic_prefix_per_tenant,
        )
        await self.system_topics.ensure_topics()
        self._spawn("system-topics", self.system_topics.run)  # also what a crash left
        self.cache_status = CacheStatusWriter(self.catalog.cache_status)
        self.cache.listener = self.cache_status
        self._spawn("cache-status", self.cache_status.run)

    def _spawn(self, name: str, factory: TaskFactory) -> None:
        self.supervisor.spawn(name, factory)

    async def _capture(self, adapter: Any) -> None:
        # A failing source does not end the stream (the adapter's breaker and backoff decide
        # how often it asks again); what does end it (publishing while the bus is down, a
        # broken adapter) is logged and restarted with backoff by the supervisor.
        async for event in adapter.stream_changes():
            await self.publisher.publish_event(event)
            if self._stop.is_set():
                return

    async def _run_ingest(self, ingestor: CatalogIngestor) -> None:
        await run_consumer(
            self.bus,
            self.ingest_group,
            self.topics,
            catalog_ingest_handler(
                ingestor,
                self.serializer,
                tenant_topics=self.settings.tenancy.topic_prefix_per_tenant,
                on_outcome=self._ingested,
            ),
            max_attempts=self.settings.bus.max_delivery_attempts,
            stop=self._stop,
            stats=self.metrics.watch_consumer(
                self.bus, self.ingest_group, lambda: self.topics, ConsumerStats()
            ),
        )

    def _ingested(self, outcome: IngestOutcome) -> None:
        if outcome.notices and self.system_topics is not None:
            self.system_topics.wake()

    async def _run_invalidation(self) -> None:
        # Events of a batch already handed to self.changes while the batch is being retried
        # (a cache layer was unreachable): subscribers must not get them once per retry.
        published: set[str] = set()

        async def handle(batch: list[Message]) -> None:
            unavailable: CacheUnavailable | None = None
            for message in batch:
                try:
                    event = event_for_topic(
                        self.serializer.decode(message.value, message.headers),
                        message.topic,
                        strict=self.settings.tenancy.topic_prefix_per_tenant,
                    )
                except (SerializationError, PermissionDenied):
                    continue  # ingest dead-letters it; nothing to invalidate
                with tenant_context(event.tenant_id):
                    try:
                        await self.cache.invalidate(
                            entity_key(event.tenant_id, event.entity.type, event.entity.id)
                        )
                        # and the cached inverse lookups that could hold it (before/after)
                        schema = self.registry.schemas().get(event.entity.type)
                        if schema is not None:
                            await invalidate_lookups(
                                self.cache,
                                event.tenant_id,
                                event.entity.type,
                                lookup_fields(schema),
                                event_snapshots(event),
                            )
                    except CacheUnavailable as exc:
                        # L1 is cleared, Redis could not be: finish the batch, then fail it
                        # transiently so run_consumer retries it (uncommitted) until Redis
                        # answers. A Redis restarted from an older snapshot would otherwise
                        # serve the copies this batch should have dropped.
                        unavailable = unavailable or exc
                event_id = str(event.event_id)
                if len(published) > _MAX_REMEMBERED:  # batches failing for other reasons
                    published.clear()
                if event_id not in published:
                    # At once even when L2 is down: readers then miss L2 and see the source.
                    self.changes.publish(event)  # never blocks: slow subscribers are dropped
                    published.add(event_id)
            if unavailable is not None:
                raise unavailable
            published.clear()

        group = f"dictamesh-cache-{self.settings.node_name}"
        await run_consumer(
            self.bus,
            group,
            self.topics,
            handle,
            stop=self._stop,
            stats=self.metrics.watch_consumer(
                self.bus, group, lambda: self.topics, ConsumerStats()
            ),
        )

    async def readiness(self) -> dict[str, HealthStatus]:
        checks: dict[str, HealthStatus] = {}
        checks["catalog"] = await _probe(self.catalog.ping)
        checks["bus"] = await _probe(self.bus.ping)
        for name, status in self.supervisor.health().items():
            checks[f"task:{name}"] = status
        for adapter in self.registry.adapters():
            try:
                checks[f"adapter:{adapter.name}"] = await adapter.health_check()
            except Exception as exc:  # a health check must report, never raise
                checks[f"adapter:{adapter.name}"] = HealthStatus(
                    status=HealthState.UNHEALTHY, details={"error": str(exc)}
                )
        return checks

    def asgi_app(self, *, graphql_schema: Any = None) -> Any:
        """The node's HTTP app; ``graphql_schema`` replaces the one-node GraphQL schema at
        ``/graphql`` (``dictamesh serve --subgraph`` serves a federation subgraph there)."""
        return create_app(
            ApiContext(
                registry=self.registry,
                catalog=self.catalog,
                readiness=self.readiness,
                auth=self.settings.auth,
                graphql_schema=graphql_schema,
                graphql=self.settings.graphql,
                metrics=self.metrics,
                quotas=self.quotas,
                changes=self.changes,
                governance=self.governance.governance if self.governance else None,
                api=self.settings.api,
                registry_limits=self.settings.catalog.schema_registry,
                sagas=self.sagas.engine if self.sagas else None,
                notifications=self.notifications.service if self.notifications else None,
            )
        )

    async def stop(self) -> None:
        self._stop.set()
        self.changes.close()  # live subscriptions end
        await self.supervisor.aclose()  # cancels every background task and waits for it
        if self.cache_status is not None:
            self.cache.listener = None
            await self.cache_status.aclose()  # writes the last reports
            self.cache_status = None
        if self.sagas is not None:
            await self.sagas.aclose()  # running sagas stop; their leases are given back
            self.sagas = None
        if self.notifications is not None:
            await self.notifications.aclose()
            self.notifications = None
        for adapter in self.registry.adapters():
            await adapter.aclose()
        if self.governance is not None:
            await self.governance.aclose()  # writes the queued audit entries
        await self.bus.aclose()
        if self._catalog is not None:
            await self._catalog.aclose()
        for layer in self._cache_layers:
            # Redis holds a connection pool; a node that is stopped must not leak it.
            await layer.aclose()
        self._started = False

    async def connect(self) -> None:
        """``start()``: what ``async with node`` begins with (AsyncResource)."""
        await self.start()

    async def aclose(self) -> None:
        """``stop()``: what ``async with node`` ends with (AsyncResource)."""
        await self.stop()


async def _check_row_level_security(catalog: CatalogService) -> None:
    if catalog.dialect != "postgresql":
        return
    from dictamesh.tenancy.rls import rls_status

    status = await rls_status(catalog)
    if not status.enforced:
        log.warning(
            "row-level security does not separate tenants for this node: %s (docs/tenancy.md)",
            "; ".join(status.reasons),
        )


async def _probe(check: Any) -> HealthStatus:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        ok = await asyncio.wait_for(check(), timeout=2.0)
    except Exception as exc:
        return HealthStatus(status=HealthState.UNHEALTHY, details={"error": str(exc)})
    latency = (loop.time() - started) * 1000
    return HealthStatus(
        status=HealthState.HEALTHY if ok is not False else HealthState.UNHEALTHY,
        latency_ms=round(latency, 2),
    )
