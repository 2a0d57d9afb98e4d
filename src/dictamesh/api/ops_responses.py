"""Pydantic models of what the operations routes answer (adapter status, dead letters,
schema subjects and diffs), for the OpenAPI document; like :mod:`dictamesh.api.responses`
they describe bodies the routes build themselves and are checked against real answers in
``tests/unit/api/test_openapi_live.py``.

Example::

    AdapterStatus.model_validate(response.json())
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from dictamesh.core.models import SLA, HealthStatus

__all__ = [
    "AdapterStatus",
    "AdapterStatusList",
    "DeadLetter",
    "DeadLetterPage",
    "DeadLetterTopic",
    "DeadLetterTopicList",
    "LatencyPercentiles",
    "MeasuredSla",
    "SchemaChangeRow",
    "SchemaDiff",
    "SchemaSubject",
    "SchemaSubjectList",
    "SlaObjective",
    "SlaWindow",
]


class LatencyPercentiles(BaseModel):
    """Milliseconds over the adapter's latest source calls; ``null`` before the first."""

    p50: float | None
    p95: float | None
    p99: float | None


class SlaVerdict(BaseModel):
    availability: bool | None
    latency_p95_ms: bool | None
    freshness_seconds: bool | None


class MeasuredSla(BaseModel):
    availability: float | None = Field(description="share of source calls that did not fail")
    latency_p95_ms: float | None
    freshness_seconds: float | None = Field(description="age of the newest recorded change")
    met: SlaVerdict


class SlaObjective(BaseModel):
    target: float = Field(description="ratio (availability), ms (latency) or seconds (freshness)")
    measured: float | None = Field(description="over the window; null: no samples")
    samples: int = Field(description="source calls or changes in the window")
    met: bool | None = Field(description="null: fewer samples than the minimum")
    state: Literal["ok", "breached"]
    since: datetime = Field(description="the last transition (or when monitoring began)")
    breaches: int


class SlaWindow(BaseModel):
    """The SLA over the node's sliding window (``docs/sla.md``)."""

    window_seconds: float
    min_samples: int
    min_changes: int
    node: str
    calls: int
    error_rate: float | None
    latency_p50_ms: float | None
    freshness_lag_p50_seconds: dict[str, float | None]
    objectives: dict[str, SlaObjective]


class SlaStatus(BaseModel):
    target: SLA
    measured: MeasuredSla
    window: SlaWindow | None = Field(
        default=None, description="over the sliding window; null where no monitor runs"
    )


class AdapterStatus(BaseModel):
    name: str
    entity_type: str
    domain: str
    system: str
    healthy: bool
    health: HealthStatus
    breaker_state: Literal["closed", "open", "half_open"]
    breaker_retry_in_seconds: float
    last_sync_at: datetime | None
    error_rate: float | None
    latency_ms: LatencyPercentiles
    latency_window: int | None = Field(description="source calls the percentiles cover")
    calls: int
    errors: int
    circuit_rejected: int
    stale_served: int
    sla: SlaStatus
    measured_at: datetime


class AdapterStatusList(BaseModel):
    adapters: list[AdapterStatus]


class DeadLetterTopic(BaseModel):
    topic: str
    source_topic: str
    partitions: int
    messages: int
    end_offsets: dict[str, int] = Field(description="partition → end offset")
    replayed: int


class DeadLetterTopicList(BaseModel):
    topics: list[DeadLetterTopic]


class DeadLetter(BaseModel):
    ref: str
    partition: int
    offset: int
    timestamp: datetime
    key: str | None
    error: str | None
    error_type: str | None
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    attempts: int | None
    headers: dict[str, str] = Field(description="the dlq-* headers")
    payload_size: int
    replayed: bool
    event: dict[str, Any] | None = Field(description="the event, masked for the caller")
    undecodable: str | None = None
    withheld: str | None = None


class DeadLetterPage(BaseModel):
    topic: str
    dead_letters: list[DeadLetter]
    withheld: int = Field(description="letters of other tenants left out")


class SchemaSubject(BaseModel):
    subject: str
    schema_type: str
    versions: list[int]
    latest: int
    compatibility: str
    compatibility_configured: bool


class SchemaSubjectList(BaseModel):
    compatibility: str
    subjects: list[SchemaSubject]
    truncated: bool


class SchemaChangeRow(BaseModel):
    severity: Literal["breaking", "dangerous", "safe"]
    code: str
    message: str


class SchemaDiff(BaseModel):
    subject: str
    schema_type: str
    from_: int = Field(alias="from")
    to: int
    compatibility: str
    compatible: bool
    changes: list[SchemaChangeRow]
    schemas: dict[str, Any] = Field(description="the two versions' schemas: from, to")
