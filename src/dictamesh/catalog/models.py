"""The catalog's tables (SQLAlchemy 2.0 declarative), portable between SQLite and PostgreSQL.

Every table is prefixed ``dictamesh_`` and carries ``tenant_id`` (default ``'default'``) as
part of its natural key; on PostgreSQL row-level security keys on it (migration 0004).
Types are chosen to mean the same on both engines: ``JSON`` becomes ``JSONB`` on PostgreSQL,
datetimes are stored and returned timezone-aware in UTC, surrogate ids are ``BIGINT``
(``INTEGER`` on SQLite, where only that type auto-increments).

The schema is created by the Alembic migrations in ``dictamesh/catalog/migrations`` (never
by ``create_all`` in production); a test checks the two agree.

Example::

    from dictamesh.catalog.models import Base, EntityCatalog
    print(EntityCatalog.__table__.c.keys())
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "DEFAULT_TENANT",
    "AuditRecord",
    "Base",
    "CacheStatus",
    "DataLineage",
    "EntityCatalog",
    "EntityRelationship",
    "EventLog",
    "SchemaConfig",
    "SchemaRecord",
    "SystemOutbox",
    "UTCDateTime",
    "metadata",
]

DEFAULT_TENANT = "default"
"""Tenant of rows written without one (single-tenant deployments use only this)."""

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite auto-increments only an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE``; always hands back aware UTC datetimes.

    SQLite keeps no zone, so values are normalised to UTC before they are stored and marked
    UTC when read back; naive input is taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


metadata = Base.metadata


def _tenant() -> Mapped[str]:
    return mapped_column(
        String(64), nullable=False, default=DEFAULT_TENANT, server_default=DEFAULT_TENANT
    )


class EntityCatalog(Base):
    """One row per entity known to the mesh: where it lives and its latest snapshot."""

    __tablename__ = "dictamesh_entity_catalog"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant()
    entity_type: Mapped[str] = mapped_column(String(63), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(128), nullable=False)
    domain: Mapped[str] = mapped_column(String(63), nullable=False)
    source_system: Mapped[str] = mapped_column(String(63), nullable=False)
    source_entity_id: Mapped[str] = mapped_column(String(255), nullable=False)
    api_base_path: Mapped[str] = mapped_column(String(255), nullable=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=1)
    schema_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="active", server_default="active"
    )
    last_event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        # Every query names the tenant first: this key also serves "entities of a type"
        # (no index on type or domain alone: migration 0008, docs/catalog.md "Indexes").
        UniqueConstraint(
            "tenant_id", "entity_type", "entity_id", name="uq_dictamesh_entity_catalog_key"
        ),
    )


class EntityRelationship(Base):
    """A typed edge between two entities, with history: ``valid_to`` NULL means current."""

    __tablename__ = "dictamesh_entity_relationships"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant()
    subject_type: Mapped[str] = mapped_column(String(63), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(128), nullable=False)
    relationship_type: Mapped[str] = mapped_column(String(63), nullable=False)
    object_type: Mapped[str] = mapped_column(String(63), nullable=False)
    object_id: Mapped[str] = mapped_column(String(128), nullable=False)
    # ``metadata`` is reserved on declarative classes; the column keeps the plain name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, nullable=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by_event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)

    __table_args__ = (
        # Partial unique index (SQLite and PostgreSQL both have them): one *current* row per
        # triple, any number of ended ones.
        Index(
            "uq_dictamesh_entity_relationships_current",
            "tenant_id",
            "subject_type",
            "subject_id",
            "relationship_type",
            "object_type",
            "object_id",
            unique=True,
            sqlite_where=text("valid_to IS NULL"),
            postgresql_where=text("valid_to IS NULL"),
        ),
        Index("ix_dictamesh_entity_relationships_subject", "subject_type", "subject_id"),
        Index("ix_dictamesh_entity_relationships_object", "object_type", "object_id"),
    )


class SchemaRecord(Base):
    """A registered schema version; also the store of the Confluent-compatible registry.

    ``id`` identifies the row; ``schema_id`` is the registry-global schema id (the same text
    and type under two subjects share one ``schema_id``, as schema registries do).
    """

    __tablename__ = "dictamesh_schemas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schema_id: Mapped[int] = mapped_column(Integer, nullable=False)
    tenant_id: Mapped[str] = _tenant()
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    schema_type: Mapped[str] = mapped_column(String(16), nullable=False)
    schema_text: Mapped[str] = mapped_column(Text, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    compatibility: Mapped[str] = mapped_column(String(32), nullable=False)
    deleted: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("tenant_id", "subject", "version", name="uq_dictamesh_schemas_version"),
        Index("ix_dictamesh_schemas_fingerprint", "fingerprint"),
        Index("ix_dictamesh_schemas_schema_id", "schema_id"),
    )


class SchemaConfig(Base):
    """Compatibility level per subject; subject ``''`` is the global default."""

    __tablename__ = "dictamesh_schema_config"

    tenant_id: Mapped[str] = mapped_column(
        String(64), primary_key=True, default=DEFAULT_TENANT, server_default=DEFAULT_TENANT
    )
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    compatibility: Mapped[str] = mapped_column(String(32), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class EventLog(Base):
    """Every change event ingested, once per tenant (``(tenant_id, event_id)`` is the
    idempotency key). Append-only."""

    __tablename__ = "dictamesh_event_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), nullable=False)
    tenant_id: Mapped[str] = _tenant()
    topic: Mapped[str] = mapped_column(String(255), nullable=False)
    event_type: Mapped[str] = mapped_column(String(16), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(63), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(128), nullable=False)
    entity_version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    source_domain: Mapped[str] = mapped_column(String(63), nullable=False)
    source_system: Mapped[str] = mapped_column(String(63), nullable=False)
    changed_fields: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    event_timestamp: Mapped[int] = mapped_column(BigInteger, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        # per tenant: deterministic event ids do not contain the tenant (migration 0004)
        UniqueConstraint("tenant_id", "event_id", name="uq_dictamesh_event_log_tenant_id_event_id"),
        # SQLite's; PostgreSQL has the tenant-led timeline index instead (0002, 0008).
        Index(
            "ix_dictamesh_event_log_entity",
            "entity_type",
            "entity_id",
            "event_timestamp",
        ),
        Index("ix_dictamesh_event_log_recorded_at", "recorded_at"),
    )


class DataLineage(Base):
    """A dataset-to-dataset (or entity-to-entity) flow, counted each time it is seen.

    Dataset-level rows store ``''`` in the entity columns rather than NULL: NULLs are never
    equal in a unique constraint, which would defeat the upsert on both engines.
    """

    __tablename__ = "dictamesh_data_lineage"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant()
    upstream_namespace: Mapped[str] = mapped_column(String(255), nullable=False)
    upstream_name: Mapped[str] = mapped_column(String(255), nullable=False)
    downstream_namespace: Mapped[str] = mapped_column(String(255), nullable=False)
    downstream_name: Mapped[str] = mapped_column(String(255), nullable=False)
    transformation: Mapped[str] = mapped_column(String(255), nullable=False)
    upstream_entity_type: Mapped[str] = mapped_column(
        String(63), nullable=False, default="", server_default=""
    )
    upstream_entity_id: Mapped[str] = mapped_column(
        String(128), nullable=False, default="", server_default=""
    )
    downstream_entity_type: Mapped[str] = mapped_column(
        String(63), nullable=False, default="", server_default=""
    )
    downstream_entity_id: Mapped[str] = mapped_column(
        String(128), nullable=False, default="", server_default=""
    )
    last_event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    occurrences: Mapped[int] = mapped_column(BigInteger, nullable=False, default=1)

    __table_args__ = (
        UniqueConstraint(
            "tenant_id",
            "upstream_namespace",
            "upstream_name",
            "downstream_namespace",
            "downstream_name",
            "transformation",
            "upstream_entity_type",
            "upstream_entity_id",
            "downstream_entity_type",
            "downstream_entity_id",
            name="uq_dictamesh_data_lineage_key",
        ),
        Index("ix_dictamesh_data_lineage_upstream", "upstream_namespace", "upstream_name"),
        Index("ix_dictamesh_data_lineage_downstream", "downstream_namespace", "downstream_name"),
        Index(
            "ix_dictamesh_data_lineage_upstream_entity",
            "upstream_entity_type",
            "upstream_entity_id",
        ),
        Index(
            "ix_dictamesh_data_lineage_downstream_entity",
            "downstream_entity_type",
            "downstream_entity_id",
        ),
    )


class CacheStatus(Base):
    """What each cache layer holds of an entity, as reported by the cache layer."""

    __tablename__ = "dictamesh_cache_status"

    tenant_id: Mapped[str] = mapped_column(
        String(64), primary_key=True, default=DEFAULT_TENANT, server_default=DEFAULT_TENANT
    )
    entity_type: Mapped[str] = mapped_column(String(63), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    layer: Mapped[str] = mapped_column(String(16), primary_key=True)
    cached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    invalidated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: times the running node invalidated this copy, and served it (migration 0010)
    invalidations: Mapped[int] = mapped_column(
        BigInteger, nullable=False, default=0, server_default=text("0")
    )
    hits: Mapped[int] = mapped_column(
        BigInteger, nullable=False, default=0, server_default=text("0")
    )


class SystemOutbox(Base):
    """What the catalog found new, waiting to be published to the system topics (migration
    0010): one row per transaction and tenant, written in the transaction that made it
    new, deleted once published."""

    __tablename__ = "dictamesh_system_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant()
    #: ``[{"kind": "entity_registered" | "relationship_created", "key": ..., "payload": {...}}]``
    notices: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class AuditRecord(Base):
    """One access decision on classified data: who, what, when, for which tenant, the outcome.

    Append-only: on PostgreSQL a trigger refuses UPDATE always and DELETE except from the
    retention job (which sets ``dictamesh.retention`` for its transaction).
    """

    __tablename__ = "dictamesh_audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant()
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    roles: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    auth_method: Mapped[str] = mapped_column(String(32), nullable=False)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(63), nullable=False)
    entity_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    field: Mapped[str | None] = mapped_column(String(63), nullable=True)
    classification: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decision: Mapped[str] = mapped_column(String(8), nullable=False)
    mask: Mapped[str | None] = mapped_column(String(16), nullable=True)
    rules: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_dictamesh_audit_log_tenant_id_occurred_at", "tenant_id", "occurred_at"),
        Index(
            "ix_dictamesh_audit_log_tenant_id_entity_type_entity_id",
            "tenant_id",
            "entity_type",
            "entity_id",
        ),
        Index("ix_dictamesh_audit_log_tenant_id_subject", "tenant_id", "subject"),
    )
