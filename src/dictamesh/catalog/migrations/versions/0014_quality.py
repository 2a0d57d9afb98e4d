"""Data-quality runs and per-rule results (``docs/quality.md``).

``dictamesh_quality_runs`` (one row per evaluation) and ``dictamesh_quality_results`` (one
row per rule per run: passed, checked, failing, a bounded sample of failing entity ids).
Row-level security as on every tenant table (0004): the policy compares ``tenant_id`` with
the transaction's ``dictamesh.tenant_id`` (PostgreSQL only).

Revision ID: 0014_quality
Revises: 0013_search_tuning
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_quality"
down_revision: str | Sequence[str] | None = "0013_search_tuning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNS = "dictamesh_quality_runs"
RESULTS = "dictamesh_quality_results"
APP_ROLE = "dictamesh_app"
POLICY = "dictamesh_tenant_isolation"
GUC = "dictamesh.tenant_id"
_CONDITION = f"tenant_id = current_setting('{GUC}', true)"

_GRANT = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
        RETURN;
    END IF;
    GRANT SELECT, INSERT, UPDATE, DELETE ON {RUNS}, {RESULTS} TO {APP_ROLE};
END
$$
"""


def upgrade() -> None:
    op.create_table(
        RUNS,
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rules", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=f"pk_{RUNS}"),
    )
    op.create_index(f"ix_{RUNS}_tenant_id_started_at", RUNS, ["tenant_id", "started_at"])
    op.create_table(
        RESULTS,
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("entity_type", sa.String(63), nullable=False),
        sa.Column("rule_type", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("checked", sa.BigInteger(), nullable=False),
        sa.Column("failing", sa.BigInteger(), nullable=False),
        sa.Column("observed", sa.Float(), nullable=True),
        sa.Column("sample", sa.JSON(), nullable=False),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "rule_id", name="pk_dictamesh_quality_results"),
    )
    op.create_index(
        f"ix_{RESULTS}_tenant_id_entity_type", RESULTS, ["tenant_id", "entity_type", "evaluated_at"]
    )
    op.create_index(
        f"ix_{RESULTS}_tenant_id_rule_id", RESULTS, ["tenant_id", "rule_id", "evaluated_at"]
    )
    if op.get_context().dialect.name != "postgresql":
        return
    for table in (RUNS, RESULTS):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {POLICY} ON {table} USING ({_CONDITION}) WITH CHECK ({_CONDITION})"
        )
    op.execute(_GRANT)


def downgrade() -> None:
    op.drop_table(RESULTS)  # indexes and policies go with the tables
    op.drop_table(RUNS)
