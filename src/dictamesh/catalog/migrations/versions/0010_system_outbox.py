"""System-topic outbox; cache status counters (``docs/catalog.md``).

* ``dictamesh_system_outbox``: what the catalog ingest (and schema registration) found new —
  an entity type or instance first registered, a relationship derived — written in the
  same transaction as the catalog change (one row per transaction and tenant, its notices
  as a JSON list: one insert however much a batch made new), and deleted once the node has
  published it to
  ``system.metadata.entity_registered`` / ``system.lineage.relationship_created``. A crash
  between commit and publish loses nothing: the node publishes what is left on its next
  start. Rows hold identities only (types, ids, relationship names, event ids, times; no
  attributes) and are deliberately *not* under row-level security: a node's relay reads
  them across tenants, as the saga and notification queues are read;
* ``dictamesh_cache_status`` gains ``invalidations`` and ``hits`` (counted by the running
  node since the row was created).

Revision ID: 0010_system_outbox
Revises: 0009_notifications
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_system_outbox"
down_revision: str | Sequence[str] | None = "0009_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)

OUTBOX = "dictamesh_system_outbox"
CACHE = "dictamesh_cache_status"
APP_ROLE = "dictamesh_app"

_GRANT = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
        RETURN;
    END IF;
    GRANT SELECT, INSERT, DELETE ON {OUTBOX} TO {APP_ROLE};
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO {APP_ROLE}',
                   pg_catalog.pg_get_serial_sequence('{OUTBOX}', 'id'));
END
$$
"""


def upgrade() -> None:
    op.create_table(
        OUTBOX,
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(64), server_default="default", nullable=False),
        sa.Column("notices", _JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dictamesh_system_outbox"),
    )
    with op.batch_alter_table(CACHE) as batch:
        batch.add_column(
            sa.Column("invalidations", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("hits", sa.BigInteger(), server_default="0", nullable=False))
    if op.get_context().dialect.name == "postgresql":
        op.execute(_GRANT)


def downgrade() -> None:
    with op.batch_alter_table(CACHE) as batch:
        batch.drop_column("hits")
        batch.drop_column("invalidations")
    op.drop_table(OUTBOX)
