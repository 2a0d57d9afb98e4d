"""What :class:`~dictamesh.catalog.service.CatalogService` answers: plain pydantic records.

They are detached from the database (safe to keep, serialise, or hand to the API layer).

Example::

    location = await catalog.get_entity_location("invoice", "i-1")
    location.api_path        # '/api/v1/entities/invoice/i-1'
    graph = await catalog.query_relationship_graph(location.ref, max_depth=2)
    [(n.type, n.id, n.depth) for n in graph.nodes]
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dictamesh.core.models import DatasetRef, EntityRef

__all__ = [
    "CacheLayerSummary",
    "CacheStatusRecord",
    "Compatibility",
    "EntityLocation",
    "EntitySearchResult",
    "EntityStatus",
    "EventLogRecord",
    "GraphDirection",
    "GraphEdge",
    "GraphNode",
    "LineageRecord",
    "LineageView",
    "RelationshipGraph",
    "RelationshipRecord",
    "SchemaVersion",
    "StoredSchema",
]

GraphDirection = Literal["out", "in", "both"]
EntityStatus = Literal["active", "deleted"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Compatibility(StrEnum):
    """Schema evolution rule of a subject (the Confluent Schema Registry levels).

    BACKWARD: readers of the new version read data of the previous one. FORWARD: readers of
    the previous version read data of the new one. FULL: both. ``*_TRANSITIVE``: against
    every earlier version instead of only the latest. NONE: no check.
    """

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))


class EntityLocation(_Record):
    """Where an entity lives: its owning domain and system, and the API path serving it."""

    entity_type: str
    entity_id: str
    tenant_id: str
    domain: str
    source_system: str
    source_entity_id: str
    api_base_path: str
    version: int
    schema_version: int
    status: EntityStatus
    attributes: dict[str, Any] = Field(default_factory=dict)
    last_event_id: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def ref(self) -> EntityRef:
        return EntityRef(type=self.entity_type, id=self.entity_id)

    @property
    def api_path(self) -> str:
        return f"{self.api_base_path.rstrip('/')}/{self.entity_id}"


class GraphNode(_Record):
    type: str
    id: str
    depth: int = Field(ge=0, description="fewest hops from the root")


class GraphEdge(_Record):
    subject: EntityRef
    relationship_type: str
    object: EntityRef


class RelationshipGraph(_Record):
    """Entities within ``max_depth`` hops of ``root`` and the current edges among them.

    ``truncated`` is true exactly when more than ``limit`` nodes lie within ``max_depth``.
    """

    root: EntityRef
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    max_depth: int
    direction: GraphDirection = "both"
    truncated: bool = False


class RelationshipRecord(_Record):
    """One relationship row, current (``valid_to`` None) or historical."""

    subject: EntityRef
    relationship_type: str
    object: EntityRef
    metadata: dict[str, Any] = Field(default_factory=dict)
    valid_from: datetime
    valid_to: datetime | None = None
    created_by_event_id: str | None = None


class LineageRecord(_Record):
    upstream: DatasetRef
    downstream: DatasetRef
    transformation: str
    upstream_entity: EntityRef | None = None
    downstream_entity: EntityRef | None = None
    last_event_id: str | None = None
    first_seen_at: datetime
    last_seen_at: datetime
    occurrences: int


class LineageView(_Record):
    """Lineage around one data product dataset (``entity_id`` None) or one entity."""

    entity_type: str
    entity_id: str | None = None
    dataset: DatasetRef | None = Field(
        default=None, description="dictamesh/<domain>.<entity_type>; None if never seen"
    )
    upstream: list[LineageRecord] = Field(default_factory=list)
    downstream: list[LineageRecord] = Field(default_factory=list)


class SchemaVersion(_Record):
    """A registered schema version; ``id`` is the registry-global schema id."""

    subject: str
    version: int
    id: int
    compatibility: Compatibility
    schema_type: str = "DICTAMESH"
    fingerprint: str = ""


class StoredSchema(_Record):
    """A registry row: the schema text as stored (canonical JSON for JSON-based types)."""

    id: int
    subject: str
    version: int
    schema_type: str
    schema_text: str
    fingerprint: str
    compatibility: Compatibility
    deleted: bool
    created_at: datetime


class EventLogRecord(_Record):
    event_id: str
    tenant_id: str
    topic: str
    event_type: str
    entity_type: str
    entity_id: str
    entity_version: int
    source_domain: str
    source_system: str
    changed_fields: list[str] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict, description="the full event")
    trace_id: str | None = None
    timestamp: int = Field(description="event time, milliseconds since epoch")
    recorded_at: datetime


class CacheStatusRecord(_Record):
    entity_type: str
    entity_id: str
    tenant_id: str
    layer: str
    cached_at: datetime | None = None
    expires_at: datetime | None = None
    invalidated_at: datetime | None = None
    last_event_id: str | None = None
    #: times the running node invalidated this copy / served it (since the row was created)
    invalidations: int = 0
    hits: int = 0

    @property
    def ttl_seconds(self) -> float | None:
        """How long the copy was fresh for when cached (``expires_at - cached_at``)."""
        if self.cached_at is None or self.expires_at is None:
            return None
        return (self.expires_at - self.cached_at).total_seconds()

    def is_fresh(self, at: datetime) -> bool:
        """Cached, not expired at ``at``, and not invalidated since it was cached."""
        if self.cached_at is None:
            return False
        if self.expires_at is not None and self.expires_at <= at:
            return False
        return self.invalidated_at is None or self.invalidated_at < self.cached_at


class CacheLayerSummary(_Record):
    """One entity type's copies in one cache layer (:meth:`CacheStatusStore.summary`)."""

    entity_type: str
    layer: str
    #: entities with a row for this layer
    entities: int
    #: of those, fresh at the time of the query (cached, not expired, not invalidated since)
    fresh: int
    invalidated: int
    invalidations: int
    hits: int
    last_cached_at: datetime | None = None
    last_invalidated_at: datetime | None = None


class EntitySearchResult(_Record):
    """One hit of :meth:`~dictamesh.catalog.service.CatalogService.search_entities`.

    ``score`` is in [0, 1] (1: the query is the entity's id); ``matched`` names the
    top-level attributes the query matched.
    """

    entity_type: str
    entity_id: str
    domain: str
    score: float = Field(ge=0, le=1)
    matched: list[str] = Field(default_factory=list)

    @property
    def ref(self) -> EntityRef:
        return EntityRef(type=self.entity_type, id=self.entity_id)
