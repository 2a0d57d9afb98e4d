"""What the HTTP application serves from: :class:`ApiContext` and the protocols of the
registry and catalog it reads.

Its own module so the route modules (``rest``, ``governance_routes``) can name the context
without importing :mod:`dictamesh.api.app`, which imports them (an import cycle before).

Example::

    ctx = ApiContext(registry=registry, catalog=await CatalogService.open(url),
                     readiness=node.readiness, version="0.1.0")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from strawberry import Schema

from dictamesh import __version__ as _package_version
from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.auth import Authenticator
from dictamesh.cluster.state import SharedState
from dictamesh.core.bus_config import TopicSettings
from dictamesh.core.models import EntitySchema, HealthStatus
from dictamesh.core.settings import (
    ApiSettings,
    AuthSettings,
    GraphQLSettings,
    QuotaSettings,
    SchemaRegistryLimits,
    SearchSettings,
)
from dictamesh.embeddings.base import EmbeddingProvider
from dictamesh.events.fanout import ChangeFeed
from dictamesh.events.inspect import InspectableBus
from dictamesh.gateway.apq import PersistedQueries
from dictamesh.gateway.catalog import CatalogSource
from dictamesh.governance.enforce import Governance
from dictamesh.notifications.service import NotificationService
from dictamesh.observability.metrics import MeshMetrics
from dictamesh.quality.runtime import NodeQuality
from dictamesh.saga.engine import SagaEngine
from dictamesh.search.hybrid import SearchService, VectorIndex, adapter_sources
from dictamesh.sla.monitor import SlaMonitor
from dictamesh.tenancy.quotas import TenantQuotas

__all__ = ["ApiContext", "ApiRegistry", "CatalogReader", "Readiness", "WebhookSink"]

Readiness = Callable[[], Awaitable[Mapping[str, HealthStatus | Mapping[str, Any]]]]
WebhookSink = Callable[[str, Any], Awaitable[int]]


class ApiRegistry(Protocol):
    """What the API needs from :class:`dictamesh.adapters.registry.AdapterRegistry`."""

    def for_type(self, entity_type: str) -> DataProductAdapter: ...

    def by_name(self, name: str) -> DataProductAdapter: ...

    def adapters(self) -> Iterable[DataProductAdapter]: ...

    def entity_types(self) -> Iterable[str]: ...

    def schemas(self) -> Mapping[str, EntitySchema]: ...


class CatalogReader(CatalogSource, Protocol):
    """The read side of :class:`dictamesh.catalog.service.CatalogService` the API uses: what
    the GraphQL catalog fields read (:class:`~dictamesh.gateway.catalog.CatalogSource`), plus
    the event log and the schema registry."""

    async def get_event_log(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        limit: int = 100,
        since_ms: int | None = None,
    ) -> Sequence[Any]: ...

    async def get_schema(self, entity_type: str, version: int | None = None) -> Any: ...


@dataclass
class ApiContext:
    """Everything the HTTP application serves from."""

    registry: ApiRegistry
    catalog: CatalogReader
    #: dependency name → its health; ``/ready`` is 503 unless all are healthy or degraded
    readiness: Readiness | None = None
    #: built from ``registry`` when not given
    graphql_schema: Schema | None = None
    #: ``(adapter_name, payload) -> accepted``; default: the adapter's ``handle_webhook``
    webhook_sink: WebhookSink | None = None
    version: str = _package_version
    readiness_timeout: float = 5.0
    #: serve the catalog's Confluent-compatible schema registry under ``/schema-registry``
    #: (only when ``catalog`` is a :class:`CatalogService`)
    schema_registry: bool = True
    #: bounds of one schema sent to the registry (``catalog.schema_registry``)
    registry_limits: SchemaRegistryLimits = field(default_factory=SchemaRegistryLimits)
    #: who may call (``docs/security.md``); ``None`` or mode ``off``: everyone
    auth: AuthSettings | Authenticator | None = None
    #: limits, persisted queries, rate limit and timeout of ``/graphql`` (docs/graphql.md)
    graphql: GraphQLSettings = field(default_factory=GraphQLSettings)
    #: persisted-query store and mode; default: an in-process LRU set up from ``graphql``
    persisted_queries: PersistedQueries | None = None
    #: what ``GET /metrics`` serves (a node passes its own); default: HTTP and adapter metrics
    metrics: MeshMetrics | None = None
    #: per-tenant request / GraphQL-cost quotas (``docs/tenancy.md``); ``None``: none
    quotas: TenantQuotas | QuotaSettings | None = None
    #: policy enforcement, masking and audit (``docs/governance.md``); ``None``: the
    #: built-in default policy (admins read everything, classified fields denied to others)
    governance: Governance | None = None
    #: the node's change feed: GraphQL subscriptions and response-cache invalidation
    #: (``docs/graphql.md``); ``None``: neither
    changes: ChangeFeed | None = None
    #: HTTP limits of every route (the request-body cap, docs/security.md) and the
    #: switches of GraphiQL and the docs pages (docs/api.md)
    api: ApiSettings = field(default_factory=ApiSettings)
    #: the node runs with ``environment: production``: GraphiQL and the docs pages are off
    #: unless ``api.graphiql`` / ``api.docs`` say otherwise
    production: bool = False
    #: the node's saga engine (``docs/sagas.md``): ``/api/v1/sagas``, the admin retry/abort
    #: routes and the GraphQL saga fields (``createInvoice``, ``saga``, ``sagaStatus``);
    #: ``None``: no saga routes or fields
    sagas: SagaEngine | None = None
    #: the node's notifications (``docs/notifications.md``): the caller's inbox and
    #: preferences under ``/api/v1/notifications``, the outbox under
    #: ``/api/v1/admin/notifications`` and the GraphQL inbox fields (``notifications``,
    #: ``markNotificationsRead``, ``notificationAdded``); ``None``: none of them
    notifications: NotificationService | None = None
    #: the node's SLA monitor (``docs/sla.md``): the ``window`` block of the adapter routes'
    #: ``sla``; ``None``: targets and since-start figures only
    sla: SlaMonitor | None = None
    #: state shared with the other nodes (Redis, ``docs/scale-out.md``): with it the GraphQL
    #: rate limit, tenant quotas, persisted queries and the response cache are mesh-wide;
    #: ``None``: all of them live in this process
    shared: SharedState | None = None
    #: catalog search (``docs/search.md``): the default mode, the fusion constant, whether
    #: semantic search is configured (``search.embeddings.provider``)
    search: SearchSettings = field(default_factory=SearchSettings)
    #: the node's embedding provider and vector store: semantic and hybrid search, similar
    #: entities; ``None``: text only (``mode=semantic`` is refused, ``hybrid`` is degraded)
    embedder: EmbeddingProvider | None = None
    vectors: VectorIndex | None = None
    #: why semantic search is unavailable although configured (a missing package, a store
    #: that did not open): ``mode=semantic`` answers 503 with it
    search_unavailable: str | None = None
    #: the node's event bus, read (never consumed from or written) by the dead-letter
    #: routes under ``/api/v1/admin/dlq``; ``None`` (or a bus that cannot be inspected):
    #: no such routes
    bus: InspectableBus | None = None
    #: ``bus.topics``: the envelope each topic is written in, to decode dead letters
    bus_topics: Sequence[TopicSettings] = ()
    #: the node's data quality (``docs/quality.md``): ``/api/v1/quality``, the admin run
    #: and the GraphQL ``dataQuality`` field; ``None``: none of them
    quality: NodeQuality | None = None
    _search_service: SearchService | None = field(default=None, init=False, repr=False)

    def search_service(self) -> SearchService:
        """The one :class:`SearchService` REST and GraphQL answer from (built once)."""
        if self._search_service is None:
            self._search_service = SearchService(
                self.catalog,
                self.search,
                provider=self.embedder,
                store=self.vectors,
                unavailable=self.search_unavailable,
                type_sources=adapter_sources(self.registry),
            )
        return self._search_service
