"""Sagas: their state, their step log, and the work queue nodes claim them from.

* ``dictamesh_sagas`` — one row per saga: type, status, input, the outputs of its steps, the
  cursor of the next step (forward or compensating), who started it, its trace. A tenant's
  rows, under row-level security like the catalog's.
* ``dictamesh_saga_steps`` — the step log, written *before* a step runs and *after* it ends
  (started / completed / failed / retrying), so a node that dies mid-step leaves a started row
  without an end and the step is run again, with the same idempotency key, on resume.
* ``dictamesh_saga_queue`` — one row per unfinished saga (and per saga needing attention,
  which is not claimed: the count behind the alert), with its lease. Nodes claim rows
  whose lease expired (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so several nodes share the
  work and a dead node's sagas are taken over. It holds ids and tenants only (no data), and
  is deliberately *not* under row-level security: a node's worker claims across tenants,
  then works on each saga in its tenant's transaction.

Revision ID: 0006_sagas
Revises: 0005_search_hidden_fields
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_sagas"
down_revision: str | Sequence[str] | None = "0005_search_hidden_fields"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)

SAGAS = "dictamesh_sagas"
STEPS = "dictamesh_saga_steps"
QUEUE = "dictamesh_saga_queue"
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
    GRANT SELECT, INSERT, UPDATE, DELETE ON {SAGAS}, {STEPS}, {QUEUE} TO {APP_ROLE};
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO {APP_ROLE}',
                   pg_catalog.pg_get_serial_sequence('{STEPS}', 'id'));
END
$$
"""


def upgrade() -> None:
    op.create_table(
        SAGAS,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(64), server_default="default", nullable=False),
        sa.Column("saga_type", sa.String(63), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("input", _JSON, nullable=False),
        sa.Column("outputs", _JSON, nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("compensate_index", sa.Integer(), nullable=True),
        sa.Column("generation", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed_step", sa.String(63), nullable=True),
        sa.Column("error", _JSON, nullable=True),
        sa.Column("principal", _JSON, nullable=True),
        sa.Column("traceparent", sa.String(64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{SAGAS}"),
        sa.UniqueConstraint(
            "tenant_id",
            "saga_type",
            "idempotency_key",
            name=f"uq_{SAGAS}_tenant_id_saga_type_idempotency_key",
        ),
    )
    op.create_index(
        f"ix_{SAGAS}_tenant_id_status_created_at", SAGAS, ["tenant_id", "status", "created_at"]
    )
    op.create_index(f"ix_{SAGAS}_tenant_id_created_at", SAGAS, ["tenant_id", "created_at"])
    op.create_table(
        STEPS,
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(64), server_default="default", nullable=False),
        sa.Column("saga_id", sa.String(36), nullable=False),
        sa.Column("step", sa.String(63), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("output", _JSON, nullable=True),
        sa.Column("error", _JSON, nullable=True),
        sa.Column("node", sa.String(160), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{STEPS}"),
        sa.ForeignKeyConstraint(
            ["saga_id"], [f"{SAGAS}.id"], name=f"fk_{STEPS}_saga_id", ondelete="CASCADE"
        ),
    )
    op.create_index(f"ix_{STEPS}_saga_id_id", STEPS, ["saga_id", "id"])
    op.create_table(
        QUEUE,
        sa.Column("saga_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("saga_type", sa.String(63), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("lease_owner", sa.String(160), nullable=True),
        sa.Column("lease_expires_at", _TS, nullable=True),
        sa.Column("available_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("saga_id", name=f"pk_{QUEUE}"),
    )
    op.create_index(f"ix_{QUEUE}_status_available_at", QUEUE, ["status", "available_at"])
    op.create_index(f"ix_{QUEUE}_lease_owner", QUEUE, ["lease_owner"])
    if op.get_context().dialect.name != "postgresql":
        return
    for table in (SAGAS, STEPS):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {POLICY} ON {table} USING ({_CONDITION}) WITH CHECK ({_CONDITION})"
        )
    op.execute(_GRANT)


def downgrade() -> None:
    op.drop_table(QUEUE)
    op.drop_table(STEPS)
    op.drop_table(SAGAS)
