"""Notifications: the outbox, its delivery attempts, the claim queue, the in-app inbox and
recipients' preferences (``docs/notifications.md``).

The outbox, attempts, inbox and preferences are tenant rows under row-level security like
the catalog's. The queue holds ids, tenants, channels and times only (no content) and is
deliberately *not* under row-level security: a node's worker claims due messages across
tenants, then reads and updates each one in its tenant's transaction (as the saga queue).

Revision ID: 0009_notifications
Revises: 0008_ingest_indexes
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_notifications"
down_revision: str | Sequence[str] | None = "0008_ingest_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)

NOTIFICATIONS = "dictamesh_notifications"
ATTEMPTS = "dictamesh_notification_attempts"
QUEUE = "dictamesh_notification_queue"
INBOX = "dictamesh_notification_inbox"
PREFERENCES = "dictamesh_notification_preferences"
APP_ROLE = "dictamesh_app"
POLICY = "dictamesh_tenant_isolation"
GUC = "dictamesh.tenant_id"
_CONDITION = f"tenant_id = current_setting('{GUC}', true)"
_TENANT_TABLES = (NOTIFICATIONS, ATTEMPTS, INBOX, PREFERENCES)

_GRANT = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
        RETURN;
    END IF;
    GRANT SELECT, INSERT, UPDATE, DELETE
        ON {NOTIFICATIONS}, {ATTEMPTS}, {QUEUE}, {INBOX}, {PREFERENCES} TO {APP_ROLE};
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO {APP_ROLE}',
                   pg_catalog.pg_get_serial_sequence('{ATTEMPTS}', 'id'));
END
$$
"""


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(64), server_default="default", nullable=False)


def upgrade() -> None:
    op.create_table(
        NOTIFICATIONS,
        sa.Column("id", sa.String(36), nullable=False),
        _tenant(),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("rule", sa.String(63), nullable=False),
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("window_key", sa.String(64), nullable=True),
        sa.Column("digest_key", sa.String(64), nullable=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("channels", _JSON, nullable=False),
        sa.Column("channel_index", sa.Integer(), server_default="0", nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("locale", sa.String(8), nullable=True),
        sa.Column("subject", sa.Text(), server_default="", nullable=False),
        sa.Column("body_text", sa.Text(), server_default="", nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("event", _JSON, nullable=True),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("topic", sa.String(255), nullable=True),
        sa.Column("group_key", sa.String(255), nullable=True),
        sa.Column("resolve", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("channel_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.String(255), nullable=True),
        sa.Column("occurred_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{NOTIFICATIONS}"),
        sa.UniqueConstraint("tenant_id", "dedupe_key", name=f"uq_{NOTIFICATIONS}_dedupe"),
    )
    # partial: most rows have neither key; status is not indexed (it changes on every try)
    op.create_index(
        f"uq_{NOTIFICATIONS}_window",
        NOTIFICATIONS,
        ["tenant_id", "window_key"],
        unique=True,
        sqlite_where=sa.text("window_key IS NOT NULL"),
        postgresql_where=sa.text("window_key IS NOT NULL"),
    )
    op.create_index(
        f"ix_{NOTIFICATIONS}_tenant_id_created_at", NOTIFICATIONS, ["tenant_id", "created_at"]
    )
    op.create_index(
        f"ix_{NOTIFICATIONS}_tenant_id_digest_key",
        NOTIFICATIONS,
        ["tenant_id", "digest_key"],
        sqlite_where=sa.text("digest_key IS NOT NULL"),
        postgresql_where=sa.text("digest_key IS NOT NULL"),
    )
    op.create_table(
        ATTEMPTS,
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        _tenant(),
        sa.Column("notification_id", sa.String(36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(63), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("provider_message_id", sa.String(255), nullable=True),
        sa.Column("node", sa.String(160), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{ATTEMPTS}"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            [f"{NOTIFICATIONS}.id"],
            name=f"fk_{ATTEMPTS}_notification_id",
            ondelete="CASCADE",
        ),
    )
    op.create_index(f"ix_{ATTEMPTS}_notification_id_id", ATTEMPTS, ["notification_id", "id"])
    op.create_table(
        QUEUE,
        sa.Column("notification_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(63), nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("lease_owner", sa.String(160), nullable=True),
        sa.Column("lease_expires_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("notification_id", name=f"pk_{QUEUE}"),
    )
    op.create_index(f"ix_{QUEUE}_due_at", QUEUE, ["due_at"])
    op.create_table(
        INBOX,
        sa.Column("id", sa.String(36), nullable=False),
        _tenant(),
        sa.Column("notification_id", sa.String(36), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("rule", sa.String(63), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("read_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{INBOX}"),
        sa.UniqueConstraint("tenant_id", "notification_id", name=f"uq_{INBOX}_once"),
    )
    op.create_index(
        f"ix_{INBOX}_tenant_id_recipient_created_at",
        INBOX,
        ["tenant_id", "recipient", "created_at"],
    )
    op.create_table(
        PREFERENCES,
        _tenant(),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("preferences", _JSON, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "recipient", name=f"pk_{PREFERENCES}"),
    )
    if op.get_context().dialect.name != "postgresql":
        return
    for table in _TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {POLICY} ON {table} USING ({_CONDITION}) WITH CHECK ({_CONDITION})"
        )
    op.execute(_GRANT)


def downgrade() -> None:
    for table in (PREFERENCES, INBOX, QUEUE, ATTEMPTS, NOTIFICATIONS):
        op.drop_table(table)
