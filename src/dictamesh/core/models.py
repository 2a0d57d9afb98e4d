"""The mesh's shared vocabulary: canonical entities, change events, schemas and queries.

Every layer speaks these pydantic models; adapters translate a source's raw shape into
them, the bus carries :class:`ChangeEvent`, the catalog stores them, the gateway serves them.

Example::

    event = ChangeEvent.for_change(
        EventType.UPDATED,
        entity=Entity(type="customer", id="c-1", version=3, attributes={"email": "a@b.io"},
                      source=SourceRef(domain="customers", system="directus")),
        before={"email": "old@b.io"},
    )
    event.topic  # 'customers.directus.entity_changed'
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from dictamesh.core.errors import ValidationError

__all__ = [
    "MAX_QUERY_LIMIT",
    "SLA",
    "TYPE_NAME_PATTERN",
    "AdapterMetrics",
    "Cardinality",
    "ChangeEvent",
    "Classification",
    "DatasetRef",
    "Entity",
    "EntityRef",
    "EntitySchema",
    "EntityVersionRef",
    "EventType",
    "FieldFilter",
    "FieldSpec",
    "FieldType",
    "FilterOp",
    "HealthState",
    "HealthStatus",
    "Lineage",
    "LineageEdge",
    "Page",
    "Query",
    "RelationshipSpec",
    "SortSpec",
    "SourceRef",
    "TraceContext",
    "ids_at",
    "is_entity_id",
    "validate_idempotency_key",
]

MAX_QUERY_LIMIT = 500
"""Largest page any query may ask for; larger limits are refused, never silently cut."""

#: entity types, relationship types: lower snake case, at most 63 characters
TYPE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
_NAME = TYPE_NAME_PATTERN
_ENTITY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def validate_entity_id(value: str) -> str:
    """Entity ids travel in URLs, topic keys and SQL: keep them to a safe alphabet."""
    if not isinstance(value, str) or not _ENTITY_ID.match(value):
        raise ValueError(
            "entity id must be 1-128 characters of letters, digits, '.', '_', ':' or '-',"
            " starting with a letter or digit"
        )
    return value


_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,200}")


def validate_idempotency_key(value: str) -> str:
    """Idempotency keys are sent to sources in a header and stored in SQL: a safe alphabet."""
    if not isinstance(value, str) or not _IDEMPOTENCY_KEY.fullmatch(value):
        raise ValueError(
            "idempotency key must be 1-200 characters of letters, digits, '.', '_', ':' or '-'"
        )
    return value


def is_entity_id(value: str) -> bool:
    try:
        validate_entity_id(value)
    except ValueError:
        return False
    return True


def ids_at(attributes: Mapping[str, Any], path: str) -> list[str]:
    """Valid entity ids under a (possibly dotted, through nested lists) attribute path.

    This is how a :class:`RelationshipSpec`'s ``via_field`` is read, by the catalog ingest
    and the gateway alike; order is kept, duplicates dropped.
    """
    values: list[Any] = [attributes]
    for part in path.split("."):
        found: list[Any] = []
        for value in values:
            items = value if isinstance(value, list) else [value]
            found.extend(item.get(part) for item in items if isinstance(item, Mapping))
        values = found
    flat: list[str] = []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            if item is not None and not isinstance(item, bool | dict | list):
                flat.append(str(item))
    return list(dict.fromkeys(i for i in flat if is_entity_id(i)))


EntityId = Annotated[str, Field(min_length=1, max_length=128)]
TypeName = Annotated[str, Field(pattern=_NAME)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class SourceRef(_Model):
    """Which domain owns the data and which system it comes from."""

    domain: TypeName
    system: TypeName

    @property
    def change_topic(self) -> str:
        """``<domain>.<system>.entity_changed``: where this source's changes are published."""
        return f"{self.domain}.{self.system}.entity_changed"


class EntityRef(_Model):
    type: TypeName
    id: EntityId

    @field_validator("id")
    @classmethod
    def _id_ok(cls, v: str) -> str:
        return validate_entity_id(v)

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"

    @classmethod
    def from_input(cls, entity_type: str, entity_id: str) -> Self:
        """A ref from a caller's input: a malformed type or id is a typed 400
        (:class:`~dictamesh.core.errors.ValidationError`), not a pydantic error that would
        surface as a 500. The message names the field, never the value."""
        try:
            return cls(type=entity_type, id=entity_id)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "ref"
            raise ValidationError(f"invalid entity {field}: {first['msg']}") from None

    @classmethod
    def parse(cls, text: str) -> Self:
        """``customer:c-1`` (what ``str()`` gives) from a caller: the way a data subject is
        named (erasure, access export, consent); anything else is a typed 400."""
        entity_type, colon, entity_id = (
            text.partition(":") if isinstance(text, str) else ("", "", "")
        )
        if not colon or not entity_type or not entity_id:
            raise ValidationError(
                "a data subject is an entity reference <type>:<id>, e.g. customer:c-1"
            )
        return cls.from_input(entity_type, entity_id)


class EntityVersionRef(EntityRef):
    version: int = Field(ge=0)


class Entity(_Model):
    """A canonical record of a data product, independent of its source's raw shape."""

    type: TypeName
    id: EntityId
    version: int = Field(default=1, ge=0)
    attributes: dict[str, Any] = Field(default_factory=dict)
    source: SourceRef
    updated_at: datetime | None = None
    tenant_id: str | None = None

    @field_validator("id")
    @classmethod
    def _id_ok(cls, v: str) -> str:
        return validate_entity_id(v)

    @property
    def ref(self) -> EntityRef:
        return EntityRef(type=self.type, id=self.id)


class EventType(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


class TraceContext(_Model):
    trace_id: str
    span_id: str


class ChangeEvent(_Model):
    """A change to one entity, as published on ``<domain>.<system>.entity_changed``."""

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: EventType
    timestamp: int = Field(default_factory=now_ms, description="milliseconds since epoch")
    entity: EntityVersionRef
    source: SourceRef
    changed_fields: list[str] = Field(default_factory=list)
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    tenant_id: str | None = None
    trace_context: TraceContext | None = None
    schema_version: int = 1

    @property
    def key(self) -> str:
        """Partition key: every change of one entity lands on one partition, in order."""
        return self.entity.id

    @property
    def topic(self) -> str:
        return self.source.change_topic

    @classmethod
    def for_change(
        cls,
        event_type: EventType,
        entity: Entity,
        before: dict[str, Any] | None = None,
        **extra: Any,
    ) -> ChangeEvent:
        after = None if event_type is EventType.DELETED else dict(entity.attributes)
        changed = diff_fields(before, after)
        return cls(
            event_type=event_type,
            entity=EntityVersionRef(type=entity.type, id=entity.id, version=entity.version),
            source=entity.source,
            changed_fields=changed,
            before=before,
            after=after,
            tenant_id=entity.tenant_id,
            **extra,
        )


def diff_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    b, a = before or {}, after or {}
    return sorted(k for k in set(b) | set(a) if b.get(k) != a.get(k) or (k in b) != (k in a))


class FieldType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    DATE = "date"
    JSON = "json"


class Classification(StrEnum):
    """Governance tag of a field; ``pii_*`` tags are personal data."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    PII_EMAIL = "pii_email"
    PII_PHONE = "pii_phone"
    PII_NAME = "pii_name"
    PII_ADDRESS = "pii_address"
    PII_PAYMENT = "pii_payment"
    PII_NATIONAL_ID = "pii_national_id"

    @property
    def is_pii(self) -> bool:
        return self.value.startswith("pii_")


class FieldSpec(_Model):
    name: TypeName
    type: FieldType
    required: bool = False
    many: bool = False
    description: str | None = None
    classification: Classification = Classification.PUBLIC


class Cardinality(StrEnum):
    ONE = "one"
    MANY = "many"


class RelationshipSpec(_Model):
    """A link from this entity type to another, carried by ``via_field``.

    ``inverse`` names the field the target type gains (``invoice.customer`` has inverse
    ``customer.invoices``); the gateway resolves both directions with one batched call.
    """

    name: TypeName
    target_type: TypeName
    via_field: str = Field(description="attribute holding the target id; dotted for nested lists")
    cardinality: Cardinality = Cardinality.ONE
    inverse: TypeName | None = None
    relationship_type: str = Field(default="references", pattern=_NAME)


class EntitySchema(_Model):
    entity_type: TypeName
    domain: TypeName
    version: int = Field(default=1, ge=1)
    description: str | None = None
    fields: list[FieldSpec]
    relationships: list[RelationshipSpec] = Field(default_factory=list)
    nested: dict[str, EntitySchema] = Field(
        default_factory=dict, description="object-list fields (e.g. invoice items) by field name"
    )

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @model_validator(mode="after")
    def _unique_fields(self) -> EntitySchema:
        names = [f.name for f in self.fields]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"duplicate field names: {sorted(dupes)}")
        return self


class FilterOp(StrEnum):
    EQ = "eq"
    IN = "in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    CONTAINS = "contains"


Scalar = str | int | float | bool


class FieldFilter(_Model):
    field: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
    op: FilterOp = FilterOp.EQ
    value: Scalar | list[Scalar]

    @model_validator(mode="after")
    def _value_shape(self) -> FieldFilter:
        if self.op is FilterOp.IN:
            if not isinstance(self.value, list) or not self.value:
                raise ValueError("'in' filter needs a non-empty list value")
            if len(self.value) > MAX_QUERY_LIMIT:
                raise ValueError(f"'in' filter accepts at most {MAX_QUERY_LIMIT} values")
        elif isinstance(self.value, list):
            raise ValueError(f"{self.op.value!r} filter needs a single value")
        return self


class SortSpec(_Model):
    field: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
    descending: bool = False


class Query(_Model):
    """A query against one data product. ``ids`` and ``filters`` combine with AND."""

    ids: list[EntityId] | None = Field(default=None, max_length=MAX_QUERY_LIMIT)
    filters: list[FieldFilter] = Field(default_factory=list, max_length=20)
    sort: list[SortSpec] = Field(default_factory=list, max_length=5)
    cursor: str | None = Field(default=None, max_length=512)
    limit: int = Field(default=50, ge=1, le=MAX_QUERY_LIMIT)

    @field_validator("ids")
    @classmethod
    def _ids_ok(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [validate_entity_id(i) for i in v]


class Page(_Model):
    items: list[Entity]
    next_cursor: str | None = None
    total: int | None = None


class SLA(_Model):
    """What a data product promises its consumers."""

    freshness_seconds: float = Field(gt=0, description="max age of data vs. the source")
    availability_target: float = Field(gt=0, le=1)
    latency_p95_ms: float = Field(gt=0)
    support_contact: str | None = None


class DatasetRef(_Model):
    """An OpenLineage-style dataset: ``namespace`` is the system, ``name`` the dataset."""

    namespace: str
    name: str


class LineageEdge(_Model):
    upstream: DatasetRef
    downstream: DatasetRef
    transformation: str
    #: column-level lineage where the adapter declares it: downstream field → the upstream
    #: fields it is read from (OpenLineage ``columnLineage``, docs/lineage.md)
    fields: dict[str, list[str]] = Field(default_factory=dict)


class Lineage(_Model):
    entity_type: str
    edges: list[LineageEdge]


class HealthState(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


class HealthStatus(_Model):
    status: HealthState
    latency_ms: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    checked_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class AdapterMetrics(_Model):
    adapter: str
    calls: int = 0
    errors: int = 0
    retries: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    events_emitted: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    breaker_state: Literal["closed", "open", "half_open"] = "closed"
    #: reads answered from a stale cache copy because the source failed
    stale_served: int = 0
    #: attempts that hit the per-attempt timeout / calls out of their deadline
    timeouts: int = 0
    deadline_exceeded: int = 0
    #: calls refused without reaching the source: breaker open / bulkhead full
    circuit_rejected: int = 0
    bulkhead_rejected: int = 0
    #: times the breaker opened, and every transition (``"closed->open"`` → count)
    breaker_opened: int = 0
    breaker_transitions: dict[str, int] = Field(default_factory=dict)
    #: seconds until an open breaker lets a probe through (0 when not open)
    breaker_retry_in_seconds: float = 0.0
    #: source calls in flight now, and the most ever at once (bulkhead)
    in_flight: int = 0
    peak_in_flight: int = 0
