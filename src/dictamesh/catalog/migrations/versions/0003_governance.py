"""Governance: the append-only audit log of access decisions on classified data.

On PostgreSQL a trigger makes the table append-only: UPDATE is always refused, DELETE only
passes inside a transaction that set ``dictamesh.retention = 'on'`` (the retention job). On
SQLite, UPDATE is refused by a trigger too; deletion is left to the retention job, since
whoever can open the file can rewrite it anyway.

Revision ID: 0003_governance
Revises: 0002_postgres_specifics
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_governance"
down_revision: str | Sequence[str] | None = "0002_postgres_specifics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TABLE = "dictamesh_audit_log"

# separate statements: asyncpg prepares each one, and a prepared statement holds one command
_PG_GUARD = (
    """
CREATE FUNCTION dictamesh_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('dictamesh.retention', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'dictamesh_audit_log is append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$
""",
    f"""
CREATE TRIGGER dictamesh_audit_append_only BEFORE UPDATE OR DELETE ON {_TABLE}
  FOR EACH ROW EXECUTE FUNCTION dictamesh_audit_append_only()
""",
)

_SQLITE_GUARD = f"""
CREATE TRIGGER dictamesh_audit_no_update BEFORE UPDATE ON {_TABLE}
BEGIN SELECT RAISE(ABORT, 'dictamesh_audit_log is append-only (UPDATE refused)'); END
"""


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(64), server_default="default", nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("roles", _JSON, nullable=False),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity_type", sa.String(63), nullable=False),
        sa.Column("entity_id", sa.String(128), nullable=True),
        sa.Column("field", sa.String(63), nullable=True),
        sa.Column("classification", sa.String(32), nullable=True),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("mask", sa.String(16), nullable=True),
        sa.Column("rules", _JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dictamesh_audit_log"),
    )
    op.create_index(
        "ix_dictamesh_audit_log_tenant_id_occurred_at", _TABLE, ["tenant_id", "occurred_at"]
    )
    op.create_index(
        "ix_dictamesh_audit_log_tenant_id_entity_type_entity_id",
        _TABLE,
        ["tenant_id", "entity_type", "entity_id"],
    )
    op.create_index("ix_dictamesh_audit_log_tenant_id_subject", _TABLE, ["tenant_id", "subject"])
    if op.get_context().dialect.name == "postgresql":
        for statement in _PG_GUARD:
            op.execute(statement)
    else:
        op.execute(_SQLITE_GUARD)


def downgrade() -> None:
    # dropping the table drops its triggers with it
    op.drop_table(_TABLE)
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS dictamesh_audit_append_only()")
