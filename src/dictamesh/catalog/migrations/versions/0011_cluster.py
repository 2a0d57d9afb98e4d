"""Capture leader leases and the shared change-detection state (``docs/scale-out.md``).

* ``dictamesh_leases``: one row per named lease (``capture:<adapter>``): its holder, a
  fencing token raised on every acquisition (a release only expires the row, so tokens never
  repeat) and its expiry in epoch seconds by the database's clock;
* ``dictamesh_change_watermarks`` / ``dictamesh_change_seen``: each adapter's polling
  watermark and last-seen snapshots, the state a new capture leader resumes from (the
  node-local ``changes.sqlite3`` holds the same on the embedded default);
* ``dictamesh_webhook_inbox``: webhooks accepted by any node (the records they made it
  re-fetch), stored before the 202 and drained by the adapter's capture leader.

None of them is under row-level security, deliberately, like the saga and notification
queues: they are the mesh's capture bookkeeping, not a tenant's rows; capture leaders read
and write them across tenants and nothing serves them.

Revision ID: 0011_cluster
Revises: 0010_system_outbox
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_cluster"
down_revision: str | Sequence[str] | None = "0010_system_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BODY = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")

LEASES = "dictamesh_leases"
WATERMARKS = "dictamesh_change_watermarks"
SEEN = "dictamesh_change_seen"
INBOX = "dictamesh_webhook_inbox"
APP_ROLE = "dictamesh_app"

_GRANT = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
        RETURN;
    END IF;
    GRANT SELECT, INSERT, UPDATE, DELETE ON {LEASES}, {WATERMARKS}, {SEEN}, {INBOX}
        TO {APP_ROLE};
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO {APP_ROLE}',
                   pg_catalog.pg_get_serial_sequence('{INBOX}', 'id'));
END
$$
"""


def upgrade() -> None:
    op.create_table(
        LEASES,
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=f"pk_{LEASES}"),
    )
    op.create_table(
        WATERMARKS,
        sa.Column("adapter", sa.String(200), nullable=False),
        sa.Column("watermark", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("adapter", name=f"pk_{WATERMARKS}"),
    )
    op.create_table(
        SEEN,
        sa.Column("adapter", sa.String(200), nullable=False),
        sa.Column("entity_id", sa.String(512), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("snapshot", _JSON, nullable=True),
        sa.PrimaryKeyConstraint("adapter", "entity_id", name=f"pk_{SEEN}"),
    )
    op.create_table(
        INBOX,
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("adapter", sa.String(200), nullable=False),
        sa.Column("body", _BODY, nullable=False),
        sa.Column("accepted_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{INBOX}"),
    )
    op.create_index(f"ix_{INBOX}_adapter", INBOX, ["adapter"])
    if op.get_context().dialect.name == "postgresql":
        op.execute(_GRANT)


def downgrade() -> None:
    op.drop_table(INBOX)
    op.drop_table(SEEN)
    op.drop_table(WATERMARKS)
    op.drop_table(LEASES)
