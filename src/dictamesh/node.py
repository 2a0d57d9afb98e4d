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

Roles (``dictamesh serve --role``, :class:`NodeRole`, ``docs/scale-out.md``): ``all`` (the
default) runs everything above, plus the event router when ``router.enabled``. Otherwise each
role runs its part, and several may be combined:

* ``capture`` — adapters connected, one capture task per adapter, ``/webhooks/{adapter}``;
* ``ingest`` — catalog ingest of every configured domain topic (adapters built, never
  connected), system topics; serves the catalog REST API and the catalog subgraph;
* ``api`` — adapters connected for queries, the cache-invalidation consumer feeding
  :attr:`MeshNode.changes`, REST + GraphQL; it submits sagas that ``saga`` nodes run and
  serves the in-app inbox that ``notify`` nodes fill;
* ``saga`` — the saga engine's workers (adapters connected: the steps write to sources);
* ``notify`` — notification rules, delivery and monitors;
* ``router`` — the event router (``docs/router.md``); alone: no catalog, no adapters.

A node serving neither ``api`` nor ``ingest`` answers only ``/health``, ``/ready`` and
``/metrics`` (and the webhooks with ``capture``). :meth:`MeshNode.drain` turns ``/ready``
to 503 (check ``draining``) before a graceful shutdown.

Example::

    async with MeshNode(settings) as node:
        app = node.asgi_app()

    async with MeshNode(settings, roles=["router"]) as router_node:
        app = router_node.asgi_app()       # /health, /ready, /metrics

    async with MeshNode(settings, roles=["ingest"]) as catalog_node:
        app = catalog_node.asgi_app()      # catalog REST, catalog subgraph at /graphql
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dictamesh.adapters.base import AdapterBase
from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.adapters.state import ChangeStateStore, SqliteChangeStateStore
from dictamesh.adapters.webhook_inbox import SqliteWebhookInbox
from dictamesh.api.app import ApiContext, create_app
from dictamesh.api.debug_traces import setup_debug_traces
from dictamesh.api.ops_app import create_ops_app
from dictamesh.cache.base import CacheBackend
from dictamesh.cache.keys import entity_key
from dictamesh.cache.lookups import event_snapshots, invalidate_lookups, lookup_fields
from dictamesh.cache.registry import build_layers
from dictamesh.cache.tiered import TieredCache
from dictamesh.catalog.avro_registry import AvroLimits, CatalogSchemaRegistry
from dictamesh.catalog.cache_status_writer import CacheStatusWriter
from dictamesh.catalog.ingest import CatalogIngestor, IngestOutcome
from dictamesh.catalog.service import CatalogService
from dictamesh.cluster.capture import CaptureLeadership
from dictamesh.cluster.state import SharedState
from dictamesh.core.bus_config import Envelope, Serialization, topic_settings_for
from dictamesh.core.errors import (
    CacheUnavailable,
    ConfigurationError,
    EventBusError,
    NotFoundError,
    PermissionDenied,
    SerializationError,
)
from dictamesh.core.lifecycle import AsyncResource
from dictamesh.core.models import ChangeEvent, EntitySchema, HealthState, HealthStatus
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.embeddings.base import EmbeddingProvider
from dictamesh.events.avro_typed import TypedAvroEventSerializer
from dictamesh.events.bus import EventBus, Message
from dictamesh.events.codecs import TopicCodec, media_type
from dictamesh.events.consume import BatchHandler, ConsumerStats, run_consumer
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.fanout import ChangeFeed
from dictamesh.events.inspect import InspectableBus
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.registry import build_bus as bus_from_settings
from dictamesh.events.schema_registry import HttpSchemaRegistryClient
from dictamesh.events.serde import (
    HEADER_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    JsonEventSerializer,
    Serializer,
)
from dictamesh.events.system_topics import SystemTopicRelay
from dictamesh.gateway.federation import build_subgraph
from dictamesh.governance.runtime import NodeGovernance, masker_from_settings
from dictamesh.governance.scrubbing import start_error_tracking
from dictamesh.governance.writes import WriteGuard
from dictamesh.notifications.runtime import NodeNotifications
from dictamesh.observability import setup_observability
from dictamesh.observability.error_tracking import close_error_tracking
from dictamesh.observability.metrics import MeshMetrics
from dictamesh.quality.evaluator import QUALITY_TOPIC_SPEC
from dictamesh.quality.metrics import QualityMetrics
from dictamesh.quality.runtime import NodeQuality
from dictamesh.resilience.events import BREAKER_TOPIC_SPEC, BreakerEventRelay
from dictamesh.resilience.supervisor import (
    RestartPolicy,
    SupervisorCollector,
    TaskFactory,
    TaskSupervisor,
)
from dictamesh.router.runtime import NodeRouter
from dictamesh.saga.events import saga_topic_specs
from dictamesh.saga.runtime import NodeSagas
from dictamesh.search.hybrid import SearchService, adapter_sources
from dictamesh.search.metrics import IndexerMetrics
from dictamesh.search.runtime import NodeSearch
from dictamesh.search.store import VectorStore, erase_vectors
from dictamesh.sla.monitor import SLA_TOPICS
from dictamesh.sla.runtime import NodeSla
from dictamesh.tenancy import (
    TenantQuotas,
    event_for_topic,
    subscription_topics,
    tenant_context,
)

if TYPE_CHECKING:
    from dictamesh.lineage import NodeLineage

__all__ = [
    "INGEST_GROUP",
    "IngestListener",
    "MeshNode",
    "NodeRole",
    "build_bus",
    "catalog_ingest_handler",
    "parse_roles",
]

log = logging.getLogger("dictamesh.node")

INGEST_GROUP = "dictamesh-catalog-ingest"
_MAX_REMEMBERED = 10_000
#: each node process's own cache-invalidation group: ``dictamesh-cache-<node_name>``
_CACHE_GROUP_PREFIX = "dictamesh-cache-"
#: an embedded bus forgets such groups idle this long (Kafka's offsets.retention.minutes)
_CACHE_GROUP_IDLE_MS = 7 * 24 * 3600 * 1000


class NodeRole(StrEnum):
    """What a node runs (``dictamesh serve --role``; ``docs/scale-out.md``, "Roles")."""

    #: everything: capture, ingest, cache invalidation, API, sagas, notifications, and the
    #: router when ``router.enabled``
    ALL = "all"
    #: REST + GraphQL over connected adapters, cache invalidation, subscriptions
    API = "api"
    #: change capture of every adapter (and its webhooks)
    CAPTURE = "capture"
    #: catalog ingest of every configured domain topic, catalog REST and subgraph
    INGEST = "ingest"
    #: the event router, with ``/health``, ``/ready`` and ``/metrics``
    ROUTER = "router"
    #: the saga engine's workers
    SAGA = "saga"
    #: notification rules, delivery and monitors
    NOTIFY = "notify"

    @property
    def runs(self) -> str:
        """What the role runs, in a few words (``dictamesh serve`` prints it)."""
        return _ROLE_RUNS[self]


_ROLE_RUNS: dict[NodeRole, str] = {
    NodeRole.ALL: "everything (the router when router.enabled)",
    NodeRole.API: "REST + GraphQL, cache invalidation, subscriptions",
    NodeRole.CAPTURE: "change capture, webhooks",
    NodeRole.INGEST: "catalog ingest, system topics, catalog REST + subgraph",
    NodeRole.ROUTER: "event router",
    NodeRole.SAGA: "saga workers",
    NodeRole.NOTIFY: "notification rules, delivery, monitors",
}


def parse_roles(values: Iterable[str | NodeRole]) -> frozenset[NodeRole]:
    """Roles from ``--role`` values (repeated or comma-separated); none: ``all``. Raises
    :class:`ConfigurationError` naming an unknown one."""
    roles: set[NodeRole] = set()
    for value in values:
        for part in str(value).split(","):
            name = part.strip().lower()
            if not name:
                continue
            try:
                roles.add(NodeRole(name))
            except ValueError:
                known = ", ".join(r.value for r in NodeRole)
                raise ConfigurationError(
                    f"unknown node role {name!r} (known: {known})", role=name[:64]
                ) from None
    if not roles or NodeRole.ALL in roles:
        return frozenset({NodeRole.ALL})
    return frozenset(roles)


def adapter_topics(adapters: Iterable[Any], settings: DictaMeshSettings) -> list[str]:
    """The entity topics of ``adapters``, then (per-tenant prefixes) each tenant's copy."""
    return subscription_topics(
        sorted({a.source.change_topic for a in adapters}),
        settings.tenancy,
    )


def build_bus(settings: DictaMeshSettings) -> EventBus:
    """The bus plugin ``bus.backend`` names (group ``dictamesh.buses``), not connected yet."""
    return bus_from_settings(settings.bus, node_name=settings.node_name)


class IngestListener(Protocol):
    """Told about each batch the catalog-ingest handler applied, or failed to (OpenLineage:
    :class:`dictamesh.lineage.NodeLineage`). Must return at once."""

    def ingested(self, events: Sequence[tuple[ChangeEvent, str]]) -> None: ...

    def ingest_failed(
        self, events: Sequence[tuple[ChangeEvent, str]], error: BaseException
    ) -> None: ...


def catalog_ingest_handler(
    ingestor: CatalogIngestor,
    serializer: Serializer,
    *,
    tenant_topics: bool = False,
    listener: IngestListener | None = None,
    on_outcome: Callable[[IngestOutcome], None] | None = None,
) -> BatchHandler:
    """The catalog-ingest consumer's batch handler: decode each message, then apply the
    batch in one catalog transaction (``benchmarks/kafka_pg_ingest.py`` times this one).

    An event on a ``<tenant>.…`` topic belongs to that tenant (one naming another tenant
    is refused and dead-lettered); with ``tenant_topics`` so must a tenant's events on the
    shared topics (:func:`dictamesh.tenancy.event_for_topic`). ``listener`` hears of each
    batch applied or failed (OpenLineage); ``on_outcome`` is handed what each batch
    committed (it must not block: the system-topic relay is woken)."""

    # A JSON record value in the DictaMesh envelope is the event's JSON: the log stores it
    # as received (no re-encode). Not a Debezium value (application/json; envelope=...).
    json_values = serializer.content_type == JSON_CONTENT_TYPE

    def as_received(message: Message) -> bool:
        ctype = message.headers.get(HEADER_CONTENT_TYPE)
        return ctype is not None and media_type(ctype) == (JSON_CONTENT_TYPE, {})

    async def handle(batch: list[Message]) -> None:
        events: list[tuple[ChangeEvent, str]] = []
        payloads: list[bytes | None] = []
        try:
            for m in batch:
                if not json_values:  # a writer schema this process has not seen yet (Avro)
                    await serializer.resolve(m.value)
                decoded = serializer.decode(m.value, m.headers)
                event = event_for_topic(decoded, m.topic, strict=tenant_topics)
                events.append((event, m.topic))
                # Not when the topic gave the event its tenant: the value lacks tenant_id then.
                keep = json_values and event is decoded and as_received(m)
                payloads.append(m.value if keep else None)
            outcome = await ingestor.apply_batch(events, payloads=payloads)
        except Exception as exc:
            if listener is not None:
                listener.ingest_failed(events, exc)
            raise
        if listener is not None:
            listener.ingested(events)
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
        roles: Iterable[str | NodeRole] = (NodeRole.ALL,),
        embeddings: EmbeddingProvider | None = None,
    ) -> None:
        """``restart_policy``: how failed background tasks are restarted (default: after
        0.5 s doubling up to 30 s; recovered after 30 s of running). ``roles``: what the
        node runs (:class:`NodeRole`; default all). ``embeddings``: an embedding provider
        to use instead of ``search.embeddings``' (tests, applications embedding their own)."""
        self.settings = settings
        self.roles = parse_roles(roles)
        self.ingest_group = ingest_group
        self.registry = AdapterRegistry()
        self._cache_layers: list[CacheBackend] = build_layers(settings.cache)
        self.cache = TieredCache(self._cache_layers)
        self.bus: EventBus = build_bus(settings)
        #: the schema registry client of ``bus.serialization: avro`` (None with JSON)
        self._schema_registry: HttpSchemaRegistryClient | CatalogSchemaRegistry | None = None
        base = serializer or self._default_serializer()
        #: every envelope of ``bus.topics`` out, any envelope in (``events/codecs.py``): the
        #: publisher, ingest, invalidation and notifications all use it
        self.serializer: Serializer = (
            base if isinstance(base, TopicCodec) else TopicCodec(base, settings.bus.topics)
        )
        # shared state: limits, quotas, APQ and the response cache hold mesh-wide over Redis
        self.shared = SharedState.from_settings(settings.cache)
        self.quotas = TenantQuotas(
            settings.tenancy.quotas, shared=self.shared.buckets if self.shared else None
        )
        self.publisher = EventPublisher(
            self.bus,
            self.serializer,
            tenant_topics=settings.tenancy.topic_prefix_per_tenant,
            quota=self.quotas if self.quotas.enabled else None,
            topic_settings=settings.bus.topics,
        )
        self.metrics = MeshMetrics.for_node(self)  # served at /metrics by asgi_app()
        if self.shared is not None:  # shared state: its fallback counter
            self.metrics.registry.register(self.shared.collector())
        #: every change this node's invalidation consumer handled, after the invalidation:
        #: GraphQL subscriptions and the response cache listen here (docs/graphql.md)
        self.changes = ChangeFeed(queue_size=settings.graphql.subscription_queue_size)
        self._extra_adapters = list(adapters or [])
        self._error_tracking = False
        #: where the node's domain topics and entity schemas come from: ``registry`` when
        #: the node connects adapters, else the configured adapters built, never connected
        self._domain = self.registry
        #: set by :meth:`drain`: ``/ready`` answers 503 before a graceful shutdown
        self._draining = False
        #: the change topics' end offsets when start() began: where this node's own cache
        #: group starts on partitions it never committed on
        self._changes_from: dict[str, dict[int, int]] | None = None
        self._state: ChangeStateStore = SqliteChangeStateStore(
            Path(settings.state_dir) / "changes.sqlite3"
        )
        #: capture leader election (``docs/scale-out.md``); set by start() with adapters
        self.capture_leadership: CaptureLeadership | None = None
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
        #: OpenLineage events (``docs/lineage.md``); set by start() if ``openlineage.enabled``
        self.lineage: NodeLineage | None = None
        #: SLA monitoring (``docs/sla.md``); set by start() on api / ingest nodes unless
        #: ``sla.enabled`` is off
        self.sla: NodeSla | None = None
        #: the event router (``docs/router.md``); set by start() with ``router.enabled``
        #: or the ``router`` role
        self.router: NodeRouter | None = None
        self._stop = asyncio.Event()
        #: the background tasks, restarted when they fail (``readiness()``: ``task:<name>``)
        self.supervisor = TaskSupervisor(stop=self._stop, policy=restart_policy)
        self.metrics.registry.register(SupervisorCollector(self.supervisor))
        #: publishes the catalog's outbox to the system topics; set by start()
        self.system_topics: SystemTopicRelay | None = None
        #: writes the cache's fills, hits and invalidations to the catalog; set by start()
        self.cache_status: CacheStatusWriter | None = None
        #: semantic search (``docs/search.md``), set by start() on nodes serving the API or
        #: ingesting: the provider, the vector store and (ingest) the indexer. ``None`` with
        #: ``search.embeddings.provider: off``
        self.search: NodeSearch | None = None
        self._embeddings = embeddings
        self._search_metrics: IndexerMetrics | None = None
        #: data-quality rules (``docs/quality.md``): on-ingest checks, scheduled runs (one
        #: node at a time), results; set by start() on ingest and api nodes
        self.quality: NodeQuality | None = None
        self._quality_metrics: QualityMetrics | None = None
        self._started = False

    def _default_serializer(self) -> Serializer:
        """JSON, or with ``bus.serialization: avro`` typed Avro records registered in
        ``bus.schema_registry_url`` (unset: this node's own catalog registry)."""
        bus = self.settings.bus
        if bus.serialization is not Serialization.AVRO:
            return JsonEventSerializer()
        if bus.schema_registry_url is not None:
            self._schema_registry = HttpSchemaRegistryClient(
                bus.schema_registry_url.get_secret_value()
            )
        else:
            limits = AvroLimits(**self.settings.catalog.schema_registry.model_dump())
            self._schema_registry = CatalogSchemaRegistry(lambda: self.catalog, limits)
        return TypedAvroEventSerializer(self._schema_registry, timestamps=bus.avro_timestamps)

    async def _register_value_schemas(self) -> None:
        """Each adapter topic's typed value schema under ``<topic>-value``; the registry's
        compatibility rule refusing one stops the node with the subject and fields named."""
        codec = self.serializer
        serializer = codec.base if isinstance(codec, TopicCodec) else codec
        if not isinstance(serializer, TypedAvroEventSerializer):
            return
        by_topic: dict[str, list[tuple[str, EntitySchema]]] = {}
        for adapter in self.registry.adapters():
            topic = adapter.source.change_topic
            by_topic.setdefault(topic, []).append((adapter.name, adapter.get_schema()))
        for topic, members in sorted(by_topic.items()):
            entry = topic_settings_for(self.settings.bus.topics, topic)
            envelope = entry.envelope if entry is not None else Envelope.DICTAMESH
            try:
                await serializer.register_topic(topic, [s for _, s in members], envelope)
            except ConfigurationError as exc:
                names = ", ".join(repr(name) for name, _ in members)
                raise ConfigurationError(
                    f"adapter {names} cannot start: {exc.message}", **exc.details
                ) from exc

    @property
    def catalog(self) -> CatalogService:
        if self._catalog is None:
            raise RuntimeError("node not started")
        return self._catalog

    @property
    def embeddings(self) -> EmbeddingProvider | None:
        """The embedding provider of semantic search (None: off or unavailable)."""
        return self.search.provider if self.search is not None else None

    @property
    def vector_store(self) -> VectorStore | None:
        """The catalog's vectors (None: semantic search off or unavailable)."""
        return self.search.store if self.search is not None else None

    @property
    def search_unavailable(self) -> str | None:
        """Why semantic search is down although configured (None: up, or off)."""
        return self.search.unavailable if self.search is not None else None

    @property
    def topics(self) -> list[str]:
        """The adapters' topics, then (per-tenant prefixes) each configured tenant's copy."""
        return adapter_topics(self._domain.adapters(), self.settings)

    @property
    def router_only(self) -> bool:
        return self.roles == {NodeRole.ROUTER}

    def runs(self, role: NodeRole) -> bool:
        """Whether this node runs ``role`` (``all``: every one, the router only when
        ``router.enabled``)."""
        if NodeRole.ALL in self.roles:
            return role is not NodeRole.ROUTER or self.settings.router.enabled
        return role in self.roles

    @property
    def connects_adapters(self) -> bool:
        """Queries (api), change capture and saga steps (writes) talk to the sources."""
        return any(self.runs(r) for r in (NodeRole.API, NodeRole.CAPTURE, NodeRole.SAGA))

    def drain(self) -> None:
        """Readiness turns false (check ``draining``) while everything else still runs: the
        first phase of a graceful shutdown (load balancers stop sending new requests)."""
        self._draining = True

    async def start(self) -> None:
        if self._started:
            return
        self._stop.clear()  # a node may be started again after stop()
        self._draining = False
        if not self.router_only:  # an unknown adapter kind fails before any file exists
            for config in self.settings.adapters:
                self.registry.load_kind(config.kind)
        Path(self.settings.state_dir).mkdir(parents=True, exist_ok=True)
        setup_observability(self.settings)
        setup_debug_traces(self.settings)
        if self.router_only:
            await self._start_router_only()
            self._started = True
            return
        catalog = self.settings.catalog
        self._catalog = await CatalogService.open(
            catalog.url.get_secret_value(),
            migrate=catalog.migrate_on_start,
            pool=catalog.pool,
            migration_url=catalog.migration_url.get_secret_value()
            if catalog.migration_url
            else None,
            migrations_dir=catalog.migrations_dir,
        )
        self._catalog.graph.timeout_seconds = catalog.graph_timeout_seconds
        await _check_row_level_security(self._catalog)
        self.metrics.instrument_engine(self._catalog.engine)
        self.governance = NodeGovernance.from_settings(self.settings, self._catalog, self.publisher)
        await self.governance.start(self.metrics, spawn=self._spawn)
        await self.bus.connect()
        if self.connects_adapters:
            await self._connect_adapters()
            self._domain = self.registry
        else:
            # ingest / notify alone: the configured adapters' topics and schemas, no source
            self._domain = AdapterRegistry.configured(self.settings.adapters)
            for extra in self._extra_adapters:
                self._domain.register(extra)
            for member in self._domain.adapters():
                await self.catalog.register_entity_type(member.get_schema())
        # error tracking (observability.sentry): events scrubbed by governance's masker
        self._error_tracking = start_error_tracking(
            self.settings,
            self.governance.governance.masker,
            self._domain.schemas().values(),
            role=",".join(sorted(self.roles)),
        )
        for topic in self.topics:  # a tenant's topic gets its base topic's spec
            await self.bus.ensure_topic(self.publisher.spec_for(topic))
        if self.runs(NodeRole.API) and self.topics:  # before capturing or serving anything
            self._changes_from = await self.bus.end_offsets(self.topics)
        if self.settings.openlineage.enabled and (
            self.runs(NodeRole.CAPTURE) or self.runs(NodeRole.INGEST)
        ):
            self._start_lineage()
        if self.serves_api:
            self._start_search()
        if self.settings.sla.enabled and self.serves_api:  # before ingest and invalidation
            await self._start_sla()
        if self.settings.quality.enabled and self.serves_api:  # before the ingest starts
            await self._start_quality()
        # consumers drain: on stop they finish their batch rather than being cancelled in it
        if self.runs(NodeRole.INGEST):
            ingestor = CatalogIngestor(self.catalog, self._domain.schemas(), outbox=True)
            self.metrics.watch_ingest(ingestor.stats)
            await self._start_system_topics()
            if self.topics:  # a mesh without adapters has no change topics to consume
                self.supervisor.spawn(
                    "catalog-ingest", lambda: self._run_ingest(ingestor), drains=True
                )
        if self.connects_adapters:
            self._start_cache_status()  # this node's cache fills and hits
        if self.runs(NodeRole.API) and self.topics:
            self.supervisor.spawn("cache-invalidation", self._run_invalidation, drains=True)
        if self.runs(NodeRole.CAPTURE):
            self._start_capture()
        # circuit breaker state changes → system.adapters.breaker_changed (best effort)
        await self.bus.ensure_topic(BREAKER_TOPIC_SPEC)
        if self.connects_adapters:
            breaker_events = BreakerEventRelay(self.bus, node=self.settings.node_name)
            breaker_events.watch_adapters(self.registry.adapters())
            self._spawn("breaker-events", breaker_events.run)
        if self.settings.saga.enabled and (self.runs(NodeRole.SAGA) or self.runs(NodeRole.API)):
            await self._start_sagas(workers=self.runs(NodeRole.SAGA))
        if self.settings.notifications.enabled and (
            self.runs(NodeRole.NOTIFY) or self.runs(NodeRole.API)
        ):
            await self._start_notifications(
                breaker_topic=BREAKER_TOPIC_SPEC.name, deliver=self.runs(NodeRole.NOTIFY)
            )
        if self.runs(NodeRole.ROUTER):
            await self._start_router(self.topics)
        self._started = True

    async def _connect_adapters(self) -> None:
        """Build, connect and register every adapter; their types in the catalog, their
        value schemas in the registry."""
        # leader election: one node captures a source; the state it resumes from is shared
        self.capture_leadership = CaptureLeadership.from_settings(
            self.settings, self.catalog.database, self.metrics.registry
        )
        self._state = self.capture_leadership.state(self._state)
        self._webhook_inbox = self.capture_leadership.webhook_inbox(self._webhook_inbox)
        if isinstance(self._state, SqliteChangeStateStore):
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
        await self._register_value_schemas()  # before anything is published with them

    def _start_capture(self) -> None:
        """One capture task per adapter, each run while this node leads that adapter's
        capture: the one place ``capture:<name>`` is spawned."""
        leadership = self.capture_leadership
        assert leadership is not None  # built with the adapters
        for member in self.registry.adapters():
            self._spawn(
                f"capture:{member.name}",
                functools.partial(
                    leadership.run,
                    member.name,
                    functools.partial(self._capture, member),
                    self._stop,
                ),
            )

    async def _start_sagas(self, *, workers: bool) -> None:
        """The saga engine; without ``workers`` (an api node) it only submits sagas, which
        the ``saga`` nodes claim from the lease queue and run."""
        assert self.governance is not None
        self.sagas = NodeSagas.build(
            self.settings.saga,
            node=self.settings.node_name,
            database=self.catalog.database,
            registry=self.registry,
            guard=WriteGuard(self.governance.governance),
            bus=self.bus,
            metrics=self.metrics.registry,
            run_workers=workers,
        )
        await self.sagas.start()  # resumes this node's unfinished sagas at once
        self._spawn("saga-events", self.sagas.publish_events)
        if workers:
            self._spawn("saga-metrics", self.sagas.refresh_forever)

    async def _start_router_only(self) -> None:
        """The ``router`` role: the bus and the router; the adapters are built (not
        connected) only to know their topics."""
        # with router.sources given, no adapter needs building
        registry = AdapterRegistry.configured(
            () if self.settings.router.sources else self.settings.adapters
        )
        # no catalog, so no node governance: the settings' masker scrubs its error events
        self._error_tracking = start_error_tracking(
            self.settings,
            masker_from_settings(self.settings),
            registry.schemas().values(),
            role=NodeRole.ROUTER,
        )
        await self.bus.connect()
        await self._start_router(adapter_topics(registry.adapters(), self.settings))

    async def _start_router(self, topics: Sequence[str]) -> None:
        router = NodeRouter.build(
            self.settings,
            bus=self.bus,
            sources=self.settings.router.sources or topics,
            serializer=self.serializer,
            metrics=self.metrics,
        )
        await router.start()
        self.router = router
        self.supervisor.spawn("router", lambda: router.consume(self._stop), drains=True)
        if router.loader.path is not None:
            self._spawn("router-reload", lambda: router.watch(self._stop))

    async def _start_notifications(self, *, breaker_topic: str, deliver: bool = True) -> None:
        """Rules, delivery and monitors; without ``deliver`` (an api node) only the service
        the in-app inbox endpoints read."""
        assert self.governance is not None
        notifications = NodeNotifications.build(
            self.settings,
            node=self.settings.node_name,
            database=self.catalog.database,
            bus=self.bus,
            governance=self.governance.governance,
            schemas=lambda: self._domain.schemas(),
            metrics=self.metrics.registry,
            dead_lettered=self.metrics.dead_lettered,
            serializer=self.serializer,
        )
        if not deliver:
            self.notifications = notifications
            return
        sagas = list(self.sagas.engine.definitions) if self.sagas else []
        system = [breaker_topic, *(s.name for s in saga_topic_specs(sagas))]
        for spec in SLA_TOPICS:  # published by the api / ingest nodes' SLA monitors
            await self.bus.ensure_topic(spec)
        system += [spec.name for spec in SLA_TOPICS]
        # quality_failed rules: the topic is made here too (a notify node runs no quality)
        await self.bus.ensure_topic(QUALITY_TOPIC_SPEC)
        system.append(QUALITY_TOPIC_SPEC.name)
        await notifications.start(self.topics, system)
        self.notifications = notifications
        self.supervisor.spawn(
            "notifications-rules", lambda: notifications.consume(self._stop), drains=True
        )
        self.supervisor.spawn(
            "notifications-delivery", lambda: notifications.deliver(self._stop), drains=True
        )
        self._spawn("notifications-monitor", notifications.monitor)

    async def _start_sla(self) -> None:
        """SLA monitoring (``docs/sla.md``): source calls where adapters are connected, the
        catalog stage where changes are ingested, the api stage where caches invalidate."""
        sla = NodeSla.build(
            self.settings.sla,
            self._domain.adapters(),
            self.bus,
            node=self.settings.node_name,
            observe_calls=self.connects_adapters,
            metrics=self.metrics.registry,
        )
        await sla.ensure_topics(self.bus)
        self.sla = sla
        self._spawn("sla-monitor", sla.run)

    def _start_lineage(self) -> None:
        from dictamesh.lineage import NodeLineage  # the lineage extra, only when enabled

        lineage = NodeLineage(self.settings, self._domain.adapters(), self._domain.schemas)
        lineage.start(self.metrics.registry)
        self.lineage = lineage
        self._spawn("lineage", lineage.run)

    async def _start_system_topics(self) -> None:
        """System topics from the catalog's outbox (the ingest writes it)."""
        self.system_topics = SystemTopicRelay(
            self.bus,
            self.catalog.outbox,
            tenant_topics=self.settings.tenancy.topic_prefix_per_tenant,
        )
        await self.system_topics.ensure_topics()
        self._spawn("system-topics", self.system_topics.run)  # also what a crash left

    def _start_search(self) -> None:
        """The provider and vector store; on ingest nodes the indexer, fed by the ingest."""
        assert self.governance is not None
        if self._search_metrics is None:  # once per registry: a node may start again
            self._search_metrics = IndexerMetrics(self.metrics.registry)
        schemas = self._domain.schemas
        self.search = NodeSearch.build(
            self.settings,
            self.catalog.database,
            policy=self.governance.governance.policy,
            schemas=lambda: schemas(),
            index=self.runs(NodeRole.INGEST),
            metrics=self._search_metrics,
            provider=self._embeddings,
        )
        # an erased entity's vectors go in the erasure's transaction (provider on or off)
        store = self.search.store
        self.governance.governance.erasure_steps.append(
            store.erase if store is not None else erase_vectors
        )
        indexer = self.search.indexer
        if indexer is not None:
            self.supervisor.spawn("search-indexer", lambda: indexer.run(self._stop))

    async def _start_quality(self) -> None:
        """Quality results for the API; on ingest nodes the on-ingest checks, their flush
        and the scheduled runs (led by one node)."""
        if self._quality_metrics is None:  # once per registry: a node may start again
            self._quality_metrics = QualityMetrics(self.metrics.registry)
        ingest = self.runs(NodeRole.INGEST)
        quality = NodeQuality.build(
            self.settings,
            self.catalog.database,
            self.bus,
            ingest=ingest,
            metrics=self._quality_metrics,
        )
        await quality.start(self.bus)
        self.quality = quality
        self._spawn("quality-events", quality.relay.run)
        if ingest and quality.settings.all_rules():  # a task that returns counts as failed
            self._spawn("quality-schedule", lambda: quality.schedule(self._stop))
            if quality.checker is not None:
                self._spawn("quality-flush", lambda: quality.flush_forever(self._stop))

    def _start_cache_status(self) -> None:
        """The cache's fills, hits and invalidations into the catalog."""
        self.cache_status = CacheStatusWriter(self.catalog.cache_status)
        self.cache.listener = self.cache_status
        self._spawn("cache-status", self.cache_status.run)

    def _spawn(self, name: str, factory: TaskFactory) -> None:
        self.supervisor.spawn(name, factory)

    async def _capture(self, adapter: Any) -> None:
        # A failing source does not end the stream (the adapter's breaker and backoff decide
        # how often it asks again); what does end it (publishing while the bus is down, a
        # broken adapter) is logged and restarted with backoff by the supervisor.
        lineage = self.lineage
        try:
            async for event in adapter.stream_changes():
                meta = await self.publisher.publish_event(event)
                if lineage is not None:
                    lineage.captured(adapter.name, meta.topic)
                if self._stop.is_set():
                    return
        except Exception as exc:
            if lineage is not None:
                lineage.capture_failed(adapter.name, exc)
            raise

    async def _run_ingest(self, ingestor: CatalogIngestor) -> None:
        await run_consumer(
            self.bus,
            self.ingest_group,
            self.topics,
            catalog_ingest_handler(
                ingestor,
                self.serializer,
                tenant_topics=self.settings.tenancy.topic_prefix_per_tenant,
                listener=self.lineage,
                on_outcome=self._ingested,
            ),
            max_attempts=self.settings.bus.max_delivery_attempts,
            stop=self._stop,
            stats=self.metrics.watch_consumer(
                self.bus, self.ingest_group, lambda: self.topics, ConsumerStats()
            ),
        )

    def _ingested(self, outcome: IngestOutcome) -> None:
        if self.sla is not None:  # committed just now: the catalog stage's lag
            self.sla.changes_committed(outcome.events)
        if outcome.notices and self.system_topics is not None:
            self.system_topics.wake()
        if self.search is not None and self.search.indexer is not None:
            self.search.indexer.ingested(outcome)  # queues keys only: ingest never waits
        if self.quality is not None and self.quality.checker is not None:
            self.quality.checker.ingested(outcome)  # counts in memory: no I/O

    async def _run_invalidation(self) -> None:
        # Events of a batch already handed to self.changes while the batch is being retried
        # (a cache layer was unreachable): subscribers must not get them once per retry.
        published: set[str] = set()

        async def handle(batch: list[Message]) -> None:
            unavailable: CacheUnavailable | None = None
            for message in batch:
                try:
                    await self.serializer.resolve(message.value)  # an unseen writer schema
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
                    if self.sla is not None:  # the API serves the new value from now
                        self.sla.change_served(event)
                    published.add(event_id)
            if unavailable is not None:
                raise unavailable
            published.clear()

        group = f"{_CACHE_GROUP_PREFIX}{self.settings.node_name}"
        if isinstance(self.bus, EmbeddedBus):  # Kafka expires groups of gone processes itself
            await _prune_cache_groups(self.bus)
        await run_consumer(
            self.bus,
            group,
            self.topics,
            handle,
            # a new process's group: only what was published since start() (not days of
            # retained changes replayed to subscribers); commits win over it on a restart
            initial_offsets=self._changes_from,
            stop=self._stop,
            stats=self.metrics.watch_consumer(
                self.bus, group, lambda: self.topics, ConsumerStats()
            ),
        )

    async def readiness(self) -> dict[str, HealthStatus]:
        """The health of what this node's roles run (catalog, bus, router, its background
        tasks, its connected adapters); draining: only ``draining``, unhealthy."""
        if self._draining:  # no probe: the node is going away whatever they say
            return {
                "draining": HealthStatus(
                    status=HealthState.UNHEALTHY, details={"reason": "shutting down"}
                )
            }
        checks: dict[str, HealthStatus] = {}
        if self._catalog is not None:
            checks["catalog"] = await _probe(self._catalog.ping)
        checks["bus"] = await _probe(self.bus.ping)
        if self.router is not None:
            checks["router"] = self.router.health()
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

    @property
    def serves_api(self) -> bool:
        """Whether :meth:`asgi_app` serves REST and GraphQL (the ``api`` or ``ingest``
        role), not only ``/health``, ``/ready``, ``/metrics`` (and the webhooks)."""
        return self.runs(NodeRole.API) or self.runs(NodeRole.INGEST)

    def catalog_subgraph(self) -> Any:
        """The catalog's federation subgraph over this node's catalog, searching in every
        mode the node's search parts allow (``catalogSearch(mode: SEMANTIC)``)."""
        search = SearchService(
            self.catalog,
            self.settings.search,
            provider=self.embeddings,
            store=self.vector_store,
            unavailable=self.search_unavailable,
            type_sources=adapter_sources(self._domain),
        )
        return build_subgraph(
            self._domain.schemas(),
            "catalog",
            catalog=self.catalog,
            search=search,
            quality=self.quality,
        )

    def asgi_app(self, *, graphql_schema: Any = None) -> Any:
        """The node's HTTP app; ``graphql_schema`` replaces the one-node GraphQL schema at
        ``/graphql`` (``dictamesh serve --subgraph`` serves a federation subgraph there).

        ``api``: REST + GraphQL. ``ingest`` without ``api``: the catalog REST API and the
        catalog subgraph at ``/graphql`` (no adapters). Neither: ``/health``, ``/ready`` and
        ``/metrics``, plus ``/webhooks/{adapter}`` with ``capture``."""
        if not self.serves_api:
            webhooks = None
            if self.runs(NodeRole.CAPTURE):
                webhooks = ApiContext(
                    registry=self.registry, catalog=self.catalog, readiness=self.readiness
                )
            return create_ops_app(self.readiness, self.metrics, webhooks=webhooks)
        if graphql_schema is None and not self.runs(NodeRole.API):
            graphql_schema = self.catalog_subgraph()
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
                production=self.settings.environment == "production",
                registry_limits=self.settings.catalog.schema_registry,
                sagas=self.sagas.engine if self.sagas else None,
                notifications=self.notifications.service if self.notifications else None,
                sla=self.sla.monitor if self.sla else None,
                webhook_sink=None if self.runs(NodeRole.CAPTURE) else _not_captured_here,
                shared=self.shared,
                search=self.settings.search,
                embedder=self.embeddings,
                vectors=self.vector_store,
                search_unavailable=self.search_unavailable,
                bus=self.bus if isinstance(self.bus, InspectableBus) else None,
                bus_topics=self.settings.bus.topics,
                quality=self.quality,
            )
        )

    async def stop(self) -> None:
        self._stop.set()
        self.changes.close()  # live subscriptions end
        await self.supervisor.aclose()  # cancels every background task and waits for it
        if self._error_tracking:  # after the tasks: their last failures are sent too
            self._error_tracking = False
            close_error_tracking(self.settings.observability.sentry.shutdown_timeout_seconds)
        if self.cache_status is not None:
            self.cache.listener = None
            await self.cache_status.aclose()  # writes the last reports
            self.cache_status = None
        if self.lineage is not None:
            await self.lineage.aclose()  # completes the open runs, delivers what is queued
            self.lineage = None
        self.router = None
        self._domain = self.registry
        if self.sagas is not None:
            await self.sagas.aclose()  # running sagas stop; their leases are given back
            self.sagas = None
        if self.notifications is not None:
            await self.notifications.aclose()
            self.notifications = None
        if self.sla is not None:
            await self.sla.aclose()  # publishes the queued breach / recovery events
            self.sla = None
        if self.quality is not None:
            with contextlib.suppress(Exception):  # best effort: the counts since the last flush
                await self.quality.flush()
            await self.quality.relay.flush_on_close()
            self.quality = None
        if self.search is not None:
            if self._embeddings is None:  # a provider handed in belongs to the caller
                await self.search.aclose()
            self.search = None
        for adapter in self.registry.adapters():
            await adapter.aclose()
        if self.governance is not None:
            await self.governance.aclose()  # writes the queued audit entries
        await self.bus.aclose()
        if isinstance(self._schema_registry, HttpSchemaRegistryClient):
            await self._schema_registry.aclose()
            # a node may be started again: a new client (it opens no connection until used)
            self._schema_registry = HttpSchemaRegistryClient(self._schema_registry.base_url)
            if isinstance(self.serializer, TypedAvroEventSerializer):
                self.serializer.registry = self._schema_registry
        if self._catalog is not None:
            await self._catalog.aclose()
        for layer in self._cache_layers:
            # Redis holds a connection pool; a node that is stopped must not leak it.
            await layer.aclose()
        if self.shared is not None:  # shared state
            await self.shared.aclose()
        self._started = False

    async def connect(self) -> None:
        """``start()``: what ``async with node`` begins with (AsyncResource)."""
        await self.start()

    async def aclose(self) -> None:
        """``stop()``: what ``async with node`` ends with (AsyncResource)."""
        await self.stop()


async def _not_captured_here(adapter: str, payload: Any) -> int:
    """The webhook sink of a node that does not capture: nothing here would publish what
    the webhook announces, so it is refused rather than accepted and never published."""
    raise NotFoundError(
        f"this node does not capture {adapter!r}: send webhooks to a node with --role capture",
        adapter=adapter,
    )


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


async def _prune_cache_groups(bus: EmbeddedBus) -> None:
    """Forget the cache groups of node processes long gone (one per process, since node
    names are unique per process); best effort, they only take room in the file."""
    try:
        gone = await bus.prune_groups(_CACHE_GROUP_PREFIX, idle_ms=_CACHE_GROUP_IDLE_MS)
    except EventBusError as exc:
        log.warning("could not prune idle cache groups of the embedded bus: %s", exc)
        return
    if gone:
        log.info("forgot %d idle cache group(s) of the embedded bus", len(gone))


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
