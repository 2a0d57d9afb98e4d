"""The quality layer's tables in the catalog database (migration ``0014_quality``).

* :data:`RUNS` — one row per evaluation: a scheduled or requested run over the catalog, or
  one flush of the counts made on ingest; when, by which node, how many rules, how many
  failed.
* :data:`RESULTS` — one row per rule per run: passed or not, entities checked, entities
  failing, the observed figure (age in seconds, row count) and a bounded sample of failing
  entity **ids** (never attribute values: they could be personal or masked).

Both are a tenant's tables (row-level security on PostgreSQL, like the catalog's); history
is bounded by ``quality.history_runs`` per tenant.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

from dictamesh.catalog.models import UTCDateTime

__all__ = ["RESULTS", "RUNS", "quality_metadata"]

quality_metadata = MetaData()

RUNS = Table(
    "dictamesh_quality_runs",
    quality_metadata,
    Column("run_id", String(36), primary_key=True),
    Column("tenant_id", String(63), nullable=False),
    #: schedule | manual | cli | ingest
    Column("trigger", String(16), nullable=False),
    Column("node", String(200), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("rules", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Index("ix_dictamesh_quality_runs_tenant_id_started_at", "tenant_id", "started_at"),
)

RESULTS = Table(
    "dictamesh_quality_results",
    quality_metadata,
    Column("run_id", String(36), nullable=False),
    Column("rule_id", String(100), nullable=False),
    Column("tenant_id", String(63), nullable=False),
    Column("entity_type", String(63), nullable=False),
    Column("rule_type", String(32), nullable=False),
    Column("severity", String(8), nullable=False),
    #: the run's trigger (schedule | manual | cli | ingest), so scores skip ingest counts
    Column("trigger", String(16), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("checked", BigInteger, nullable=False),
    Column("failing", BigInteger, nullable=False),
    #: freshness: the newest update's age in seconds; row_count_change: the row count
    Column("observed", Float, nullable=True),
    #: failing entity ids (at most ``quality.sample_size``)
    Column("sample", JSON, nullable=False),
    Column("message", String(500), nullable=False),
    Column("evaluated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("run_id", "rule_id", name="pk_dictamesh_quality_results"),
    Index(
        "ix_dictamesh_quality_results_tenant_id_entity_type",
        "tenant_id",
        "entity_type",
        "evaluated_at",
    ),
    Index("ix_dictamesh_quality_results_tenant_id_rule_id", "tenant_id", "rule_id", "evaluated_at"),
)
