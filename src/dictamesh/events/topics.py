"""Topic naming (``<domain>.<source>.<event_type>``) and the mesh's topic taxonomy.

:func:`configured_spec` applies the operator's ``bus.topics`` entries
(:class:`~dictamesh.core.bus_config.TopicSettings`) to a built-in :class:`TopicSpec`; both
buses call it whenever they create a topic, so every topic (entity, system, DLQ) follows them.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Self

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dictamesh.core.bus_config import TopicSettings, topic_settings_for
from dictamesh.core.errors import ConfigurationError

__all__ = [
    "DEFAULT_TOPICS",
    "CleanupPolicy",
    "TopicSpec",
    "apply_topic_settings",
    "base_topic",
    "configured_spec",
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
    #: Kafka's ``min.insync.replicas`` (None: the broker's default); ignored by the
    #: embedded bus, which has no replicas
    min_insync_replicas: int | None = Field(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        parts = v.removesuffix(".dlq").split(".")
        if not 3 <= len(parts) <= 4 or not all(_PART.match(p) for p in parts):
            raise ValueError(f"topic {v!r} is not '[tenant.]<domain>.<source>.<event_type>'")
        return v

    @model_validator(mode="after")
    def _acknowledgeable(self) -> Self:
        if self.min_insync_replicas is not None and self.min_insync_replicas > (
            self.replication_factor
        ):
            raise ValueError(
                f"topic {self.name}: min_insync_replicas {self.min_insync_replicas} >"
                f" replication_factor {self.replication_factor}: no write could be acknowledged"
            )
        return self


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


_DLQ = ".dlq"


def apply_topic_settings(spec: TopicSpec, settings: TopicSettings | None) -> TopicSpec:
    """``spec`` with what ``settings`` sets (a ``bus.topics`` entry); unset fields keep
    ``spec``'s values. A ``.dlq`` topic is never compacted: compaction would keep only the
    last poison message of each key."""
    if settings is None:
        return spec
    update: dict[str, object] = {}
    if settings.partitions is not None:
        update["partitions"] = settings.partitions
    if settings.replication_factor is not None:
        update["replication_factor"] = settings.replication_factor
    if settings.min_insync_replicas is not None:
        update["min_insync_replicas"] = settings.min_insync_replicas
    if settings.keeps_forever:
        update["retention_ms"] = None
    elif settings.retention_ms is not None:
        update["retention_ms"] = settings.retention_ms
    if settings.cleanup_policy is not None and not spec.name.endswith(_DLQ):
        update["cleanup_policy"] = CleanupPolicy(settings.cleanup_policy.value)
    if not update:
        return spec
    try:
        # only the fields spec set: the bus fills the others from its own defaults (12/3
        # partitions on Kafka) by what is unset
        given = spec.model_dump(include=spec.model_fields_set | {"name"})
        return TopicSpec.model_validate({**given, **update})
    except pydantic.ValidationError as exc:  # e.g. min ISR above the built-in replication
        problems = "; ".join(e["msg"] for e in exc.errors(include_url=False))
        raise ConfigurationError(
            f"bus.topics entry {settings.name!r} does not fit topic {spec.name}: {problems}",
            setting="bus.topics",
        ) from exc


def configured_spec(
    spec: TopicSpec, entries: tuple[TopicSettings, ...] | list[TopicSettings]
) -> TopicSpec:
    """``spec`` with the first ``bus.topics`` entry matching its name applied.

    Entries match the name without a tenant prefix (``acme.customers.directus.entity_changed``
    is matched as ``customers.directus.entity_changed``); a ``.dlq`` topic takes its base
    topic's entry (partitions, replication, retention), never its compaction."""
    if not entries:
        return spec
    return apply_topic_settings(spec, topic_settings_for(entries, base_topic(spec.name)))


def base_topic(name: str) -> str:
    """``name`` without a tenant prefix and a ``.dlq`` suffix: what ``bus.topics`` globs
    and per-topic envelopes are matched against."""
    parts = name.removesuffix(_DLQ).split(".")
    return ".".join(parts[1:]) if len(parts) == 4 else ".".join(parts)
