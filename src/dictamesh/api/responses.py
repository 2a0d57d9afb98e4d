"""Pydantic models of what the REST routes answer, for the OpenAPI document
(:mod:`dictamesh.api.openapi`). The routes build their bodies themselves (masked by
governance, see :mod:`dictamesh.api.governance_routes`); these models describe them and
are checked against real answers in ``tests/unit/api/test_openapi_live.py``.

Example::

    ErrorResponse.model_validate(response.json())   # any REST 4xx/5xx
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dictamesh.api.ops_responses import SlaWindow
from dictamesh.catalog.records import (
    EntityLocation,
    EntitySearchResult,
    EventLogRecord,
    LineageView,
    RelationshipGraph,
)
from dictamesh.core.models import SLA, AdapterMetrics, Entity, EntitySchema, SourceRef
from dictamesh.core.notification_config import RecipientPreferences

__all__ = [
    "AdapterInfo",
    "AdapterList",
    "CacheLayer",
    "CacheSummary",
    "EntityCacheStatus",
    "EntityEventList",
    "EntityGraph",
    "EntityLineage",
    "EntityPage",
    "EntityRecord",
    "ErrorDetail",
    "ErrorResponse",
    "Health",
    "InboxPage",
    "MarkedRead",
    "OutboxDepth",
    "OutboxMessage",
    "OutboxPage",
    "Readiness",
    "RecipientPreferences",
    "RegistryErrorResponse",
    "SagaAccepted",
    "SagaDetail",
    "SagaLinks",
    "SagaList",
    "SagaState",
    "SagaStepLog",
    "SchemaList",
    "SearchHitBody",
    "SearchResults",
    "SimilarEntities",
    "WebhookAccepted",
]


class ErrorDetail(BaseModel):
    """One error: a stable machine-readable ``code``, a message for people, and details."""

    code: str = Field(examples=["VALIDATION_ERROR", "ENTITY_NOT_FOUND", "UNAUTHENTICATED"])
    message: str
    details: dict[str, Any] | None = Field(
        default=None, description="what the code needs to say more (problems, limits, ids)"
    )


class ErrorResponse(BaseModel):
    """The error envelope of every REST route (``dictamesh.api.errors``)."""

    error: ErrorDetail


class RegistryErrorResponse(BaseModel):
    """Errors under ``/schema-registry``, in the Confluent Schema Registry's shape."""

    error_code: int = Field(examples=[40401, 42201, 409])
    message: str


class EntityRecord(EntityLocation):
    """Where an entity lives; with ``live=true`` also the source's current record."""

    model_config = ConfigDict(extra="allow")

    live: Entity | None = Field(
        default=None, description="the source's record (live=true); null when that read failed"
    )
    live_error: ErrorDetail | None = Field(
        default=None, description="why the live read failed (live=true)"
    )


class EntityPage(BaseModel):
    """A page of entities read from the data product's source."""

    items: list[Entity]
    next_cursor: str | None = None
    total: int | None = None


class EntityGraph(RelationshipGraph):
    withheld_nodes: int = Field(
        default=0, description="related entities left out: of types the caller may not read"
    )


class EntityEventList(BaseModel):
    events: list[EventLogRecord]


class SearchHitBody(EntitySearchResult):
    """One search hit (``docs/search.md``): which result lists found it, where."""

    sources: list[Literal["text", "semantic"]] = Field(
        default_factory=list, description="the result lists that found it"
    )
    ranks: dict[str, int] = Field(
        default_factory=dict, description="its 1-based rank in each of those lists"
    )
    scores: dict[str, float] = Field(
        default_factory=dict, description="its score (0..1) in each of those lists"
    )
    source: str | None = Field(default=None, description="the system it comes from")


class SearchResults(BaseModel):
    query: str
    mode: Literal["text", "semantic", "hybrid"] = "text"
    results: list[SearchHitBody]
    facets: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="counts of the candidates by domain, type, source and classification",
    )
    candidates: int = Field(default=0, description="hits the facets count (all pages)")
    degraded: bool = Field(
        default=False, description="hybrid answered from text only: semantic search is off"
    )
    degraded_reason: str | None = None


class SimilarEntities(BaseModel):
    entity_type: str
    entity_id: str
    results: list[SearchHitBody]


class EntityLineage(LineageView):
    withheld_edges: int = Field(
        default=0, description="flows left out: they name types the caller may not read"
    )


class SchemaList(BaseModel):
    schemas: list[EntitySchema]


class AdapterInfo(BaseModel):
    name: str
    entity_type: str
    source: SourceRef
    capabilities: list[str]
    sla: SLA
    sla_window: SlaWindow | None = Field(
        default=None, description="the SLA measured over the node's window (docs/sla.md)"
    )
    metrics: AdapterMetrics


class AdapterList(BaseModel):
    adapters: list[AdapterInfo]


class WebhookAccepted(BaseModel):
    accepted: int = Field(ge=0, description="changes the adapter accepted from the notice")


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    """``ready`` (200) or ``not_ready`` (503) with the failing checks in ``reasons``."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, dict[str, Any]]
    reasons: dict[str, Any] | None = None


class EntityCacheStatus(BaseModel):
    """Each cache layer's copy of one entity."""

    entity_type: str
    entity_id: str
    layers: list[CacheLayer]


class CacheLayer(BaseModel):
    layer: str
    cached_at: datetime | None
    expires_at: datetime | None
    ttl_seconds: float | None
    fresh: bool
    invalidated_at: datetime | None
    invalidations: int
    hits: int
    last_event_id: str | None


class CacheTypeSummary(BaseModel):
    entity_type: str
    layers: list[dict[str, Any]] = Field(description="per layer: copies, fresh, counters")


class CacheSummary(BaseModel):
    entity_types: list[CacheTypeSummary]


class SagaLinks(BaseModel):
    self: str = Field(examples=["/api/v1/sagas/0b6c..."])


class SagaAccepted(BaseModel):
    """A saga started and running in the background (202, ``Location`` header)."""

    saga_id: str
    saga: str
    status: str
    links: SagaLinks


class SagaState(BaseModel):
    id: str
    saga: str
    status: str = Field(examples=["running", "completed", "failed", "compensated"])
    tenant_id: str
    idempotency_key: str | None
    input: dict[str, Any]
    outputs: dict[str, Any]
    failed_step: str | None
    error: dict[str, Any] | None
    started_by: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class SagaStepLog(BaseModel):
    step: str
    phase: str
    status: str
    attempt: int
    output: Any = None
    error: Any = None
    node: str | None
    duration_ms: float | None
    at: datetime


class SagaDetail(SagaState):
    """A saga with its step log (every try of every action and compensation)."""

    saga_id: str
    links: SagaLinks
    steps: list[SagaStepLog]


class SagaList(BaseModel):
    sagas: list[SagaState]
    next_before: datetime | None = Field(description="``before`` of the next page")


class InboxPage(BaseModel):
    items: list[dict[str, Any]]
    unread: int
    next_before: datetime | None


class MarkedRead(BaseModel):
    marked: list[str] = Field(description="the ids that were the caller's")


class OutboxMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    attempts: list[dict[str, Any]] = Field(default_factory=list)


class OutboxPage(BaseModel):
    notifications: list[dict[str, Any]]
    next_before: datetime | None


class OutboxDepth(BaseModel):
    depth: int
