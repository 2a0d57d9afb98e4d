"""The catalog's tables: entities, relationships, schemas, event log, lineage, cache status.

Portable between SQLite and PostgreSQL (engine-specific indexes and triggers come in later
revisions). Types are spelled out here rather than imported from ``models`` so this
revision never changes when the models do.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)
_CURRENT = sa.text("valid_to IS NULL")


def _id() -> sa.Column[int]:
    return sa.Column("id", _ID, autoincrement=True, nullable=False)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(64), server_default="default", nullable=False)


def upgrade() -> None:
    op.create_table(
        "dictamesh_entity_catalog",
        _id(),
        _tenant(),
        sa.Column("entity_type", sa.String(63), nullable=False),
        sa.Column("entity_id", sa.String(128), nullable=False),
        sa.Column("domain", sa.String(63), nullable=False),
        sa.Column("source_system", sa.String(63), nullable=False),
        sa.Column("source_entity_id", sa.String(255), nullable=False),
        sa.Column("api_base_path", sa.String(255), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("attributes", _JSON, nullable=False),
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
        sa.Column("last_event_id", sa.String(36), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dictamesh_entity_catalog"),
        sa.UniqueConstraint(
            "tenant_id", "entity_type", "entity_id", name="uq_dictamesh_entity_catalog_key"
        ),
    )
    op.create_index(
        "ix_dictamesh_entity_catalog_entity_type", "dictamesh_entity_catalog", ["entity_type"]
    )
    op.create_index("ix_dictamesh_entity_catalog_domain", "dictamesh_entity_catalog", ["domain"])

    op.create_table(
        "dictamesh_entity_relationships",
        _id(),
        _tenant(),
        sa.Column("subject_type", sa.String(63), nullable=False),
        sa.Column("subject_id", sa.String(128), nullable=False),
        sa.Column("relationship_type", sa.String(63), nullable=False),
        sa.Column("object_type", sa.String(63), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("valid_from", _TS, nullable=False),
        sa.Column("valid_to", _TS, nullable=True),
        sa.Column("created_by_event_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dictamesh_entity_relationships"),
    )
    op.create_index(
        "uq_dictamesh_entity_relationships_current",
        "dictamesh_entity_relationships",
        [
            "tenant_id",
            "subject_type",
            "subject_id",
            "relationship_type",
            "object_type",
            "object_id",
        ],
        unique=True,
        sqlite_where=_CURRENT,
        postgresql_where=_CURRENT,
    )
    op.create_index(
        "ix_dictamesh_entity_relationships_subject",
        "dictamesh_entity_relationships",
        ["subject_type", "subject_id"],
    )
    op.create_index(
        "ix_dictamesh_entity_relationships_object",
        "dictamesh_entity_relationships",
        ["object_type", "object_id"],
    )

    op.create_table(
        "dictamesh_schemas",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("schema_id", sa.Integer(), nullable=False),
        _tenant(),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("schema_type", sa.String(16), nullable=False),
        sa.Column("schema_text", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("compatibility", sa.String(32), nullable=False),
        sa.Column("deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dictamesh_schemas"),
        sa.UniqueConstraint("tenant_id", "subject", "version", name="uq_dictamesh_schemas_version"),
    )
    op.create_index("ix_dictamesh_schemas_fingerprint", "dictamesh_schemas", ["fingerprint"])
    op.create_index("ix_dictamesh_schemas_schema_id", "dictamesh_schemas", ["schema_id"])

    op.create_table(
        "dictamesh_schema_config",
        _tenant(),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("compatibility", sa.String(32), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "subject", name="pk_dictamesh_schema_config"),
    )

    op.create_table(
        "dictamesh_event_log",
        _id(),
        sa.Column("event_id", sa.String(36), nullable=False),
        _tenant(),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("entity_type", sa.String(63), nullable=False),
        sa.Column("entity_id", sa.String(128), nullable=False),
        sa.Column("entity_version", sa.BigInteger(), nullable=False),
        sa.Column("source_domain", sa.String(63), nullable=False),
        sa.Column("source_system", sa.String(63), nullable=False),
        sa.Column("changed_fields", _JSON, nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=True),
        sa.Column("event_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dictamesh_event_log"),
        sa.UniqueConstraint("event_id", name="uq_dictamesh_event_log_event_id"),
    )
    op.create_index(
        "ix_dictamesh_event_log_entity",
        "dictamesh_event_log",
        ["entity_type", "entity_id", "event_timestamp"],
    )
    op.create_index("ix_dictamesh_event_log_recorded_at", "dictamesh_event_log", ["recorded_at"])

    op.create_table(
        "dictamesh_data_lineage",
        _id(),
        _tenant(),
        sa.Column("upstream_namespace", sa.String(255), nullable=False),
        sa.Column("upstream_name", sa.String(255), nullable=False),
        sa.Column("downstream_namespace", sa.String(255), nullable=False),
        sa.Column("downstream_name", sa.String(255), nullable=False),
        sa.Column("transformation", sa.String(255), nullable=False),
        sa.Column("upstream_entity_type", sa.String(63), server_default="", nullable=False),
        sa.Column("upstream_entity_id", sa.String(128), server_default="", nullable=False),
        sa.Column("downstream_entity_type", sa.String(63), server_default="", nullable=False),
        sa.Column("downstream_entity_id", sa.String(128), server_default="", nullable=False),
        sa.Column("last_event_id", sa.String(36), nullable=True),
        sa.Column("first_seen_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("occurrences", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dictamesh_data_lineage"),
        sa.UniqueConstraint(
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
    )
    op.create_index(
        "ix_dictamesh_data_lineage_upstream",
        "dictamesh_data_lineage",
        ["upstream_namespace", "upstream_name"],
    )
    op.create_index(
        "ix_dictamesh_data_lineage_downstream",
        "dictamesh_data_lineage",
        ["downstream_namespace", "downstream_name"],
    )
    op.create_index(
        "ix_dictamesh_data_lineage_upstream_entity",
        "dictamesh_data_lineage",
        ["upstream_entity_type", "upstream_entity_id"],
    )
    op.create_index(
        "ix_dictamesh_data_lineage_downstream_entity",
        "dictamesh_data_lineage",
        ["downstream_entity_type", "downstream_entity_id"],
    )

    op.create_table(
        "dictamesh_cache_status",
        _tenant(),
        sa.Column("entity_type", sa.String(63), nullable=False),
        sa.Column("entity_id", sa.String(128), nullable=False),
        sa.Column("layer", sa.String(16), nullable=False),
        sa.Column("cached_at", _TS, nullable=True),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("invalidated_at", _TS, nullable=True),
        sa.Column("last_event_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant_id", "entity_type", "entity_id", "layer", name="pk_dictamesh_cache_status"
        ),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes on both engines.
    for table in (
        "dictamesh_cache_status",
        "dictamesh_data_lineage",
        "dictamesh_event_log",
        "dictamesh_schema_config",
        "dictamesh_schemas",
        "dictamesh_entity_relationships",
        "dictamesh_entity_catalog",
    ):
        op.drop_table(table)
