"""Topic naming (``<domain>.<source>.<event_type>``) and the mesh's topic taxonomy."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "DEFAULT_TOPICS",
    "CleanupPolicy",
    "TopicSpec",
    "dlq_topic",
    "parse_topic",
    "topic_name",
]

_PART = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DAY_MS = 24 * 3600 * 1000


class CleanupPolicy(StrEnum):
    DELETE = "delete"
    COMPACT = "compact"


def topic_name(domain: str, source: str, event_type: str, tenant: str | None = None) -> str:
    parts = [domain, source, event_type]
    for p in parts:
        if not _PART.match(p):
            raise ValueError(f"invalid topic part {p!r}: lowercase letters, digits, '_'")
    name = ".".join(parts)
    return f"{tenant}.{name}" if tenant else name


def parse_topic(name: str) -> tuple[str, str, str]:
    """Split ``domain.source.event_type``; raises ValueError on anything else."""
    parts = name.split(".")
    if len(parts) != 3 or not all(_PART.match(p) for p in parts):
        raise ValueError(f"topic {name!r} is not '<domain>.<source>.<event_type>'")
    return parts[0], parts[1], parts[2]


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


class TopicSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    #: unset: 3 on the embedded bus; on Kafka ``bus.kafka``'s (12 domain / 3 ``system.*``)
    partitions: int = Field(default=3, ge=1, le=1024)
    #: unset: 1 on the embedded bus; on Kafka ``bus.kafka.replication_factor``
    replication_factor: int = Field(default=1, ge=1)
    retention_ms: int | None = Field(default=7 * _DAY_MS, description="None = keep forever")
    cleanup_policy: CleanupPolicy = CleanupPolicy.DELETE

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        parts = v.removesuffix(".dlq").split(".")
        if not 3 <= len(parts) <= 4 or not all(_PART.match(p) for p in parts):
            raise ValueError(f"topic {v!r} is not '[tenant.]<domain>.<source>.<event_type>'")
        return v


DEFAULT_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(name="customers.directus.entity_changed", retention_ms=30 * _DAY_MS),
    TopicSpec(name="products.thirdparty.entity_changed", retention_ms=7 * _DAY_MS),
    TopicSpec(name="invoices.ecommerce.entity_changed", retention_ms=90 * _DAY_MS),
    TopicSpec(
        name="system.metadata.entity_registered",
        retention_ms=None,
        cleanup_policy=CleanupPolicy.COMPACT,
    ),
    TopicSpec(
        name="system.lineage.relationship_created",
        retention_ms=None,
        cleanup_policy=CleanupPolicy.COMPACT,
    ),
    # circuit breaker state changes of the adapters (dictamesh.resilience.events)
    TopicSpec(name="system.adapters.breaker_changed", retention_ms=7 * _DAY_MS),
)
