"""The notification tables (catalog migration ``0009_notifications`` creates them; the
migration test compares the migration against these).

* ``dictamesh_notifications`` — the outbox: one row per (rule, event, recipient), rendered
  and masked, with its delivery state; tenant rows (row-level security on PostgreSQL).
* ``dictamesh_notification_attempts`` — one row per try: channel, outcome, error, status,
  provider id, duration. Tenant rows.
* ``dictamesh_notification_queue`` — one row per message still to deliver (and per digest
  still collecting), with its lease: ids, tenants and times only, deliberately not under
  row-level security (a node's worker claims across tenants, then reads each message in its
  tenant's transaction), as the saga queue. Its row count is the outbox depth.
* ``dictamesh_notification_inbox`` — the in-app channel's messages per user, read state.
* ``dictamesh_notification_preferences`` — per recipient: opt-outs, quiet hours, minimum
  priority.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql

from dictamesh.catalog.models import UTCDateTime

__all__ = [
    "ATTEMPTS",
    "INBOX",
    "NOTIFICATIONS",
    "PREFERENCES",
    "QUEUE",
    "notification_metadata",
]

_JSON = JSON().with_variant(postgresql.JSONB(), "postgresql")
_ID = BigInteger().with_variant(Integer(), "sqlite")
notification_metadata = MetaData()

NOTIFICATIONS = Table(
    "dictamesh_notifications",
    notification_metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False, server_default="default"),
    #: message (one event), digest (many, rendered when its window closes), item (one
    #: event waiting in a digest)
    Column("kind", String(8), nullable=False),
    Column("rule", String(63), nullable=False),
    #: sha256 of (rule, event, recipient): a redelivered event never enqueues twice
    Column("dedupe_key", String(64), nullable=False),
    #: sha256 of (rule, recipient, subject key, window): the rule's dedupe window
    Column("window_key", String(64)),
    #: an item's digest (its ``dedupe_key``); a digest's own key
    Column("digest_key", String(64)),
    Column("recipient", String(320), nullable=False),
    Column("channels", _JSON, nullable=False),
    Column("channel_index", Integer, nullable=False, server_default="0"),
    Column("priority", String(8), nullable=False),
    Column("status", String(12), nullable=False),
    Column("locale", String(8)),
    Column("subject", Text, nullable=False, server_default=""),
    Column("body_text", Text, nullable=False, server_default=""),
    Column("body_html", Text),
    #: the masked event (webhook body, PagerDuty details, digest items)
    Column("event", _JSON),
    Column("event_id", String(64)),
    Column("topic", String(255)),
    Column("group_key", String(255)),
    Column("resolve", Boolean, nullable=False, server_default="0"),
    Column("count", Integer, nullable=False, server_default="1"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    #: failures on the current channel (the next is tried after ``fallback_after``)
    Column("channel_failures", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime()),
    Column("last_error", Text),
    Column("provider_message_id", String(255)),
    #: when the event happened (delivery latency = sent_at - occurred_at)
    Column("occurred_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    UniqueConstraint("tenant_id", "dedupe_key", name="uq_dictamesh_notifications_dedupe"),
    # Partial: most rows have neither key, and every index a message's writes touch costs
    # throughput (status is deliberately not indexed: it changes on every try).
    Index(
        "uq_dictamesh_notifications_window",
        "tenant_id",
        "window_key",
        unique=True,
        sqlite_where=text("window_key IS NOT NULL"),
        postgresql_where=text("window_key IS NOT NULL"),
    ),
    Index("ix_dictamesh_notifications_tenant_id_created_at", "tenant_id", "created_at"),
    Index(
        "ix_dictamesh_notifications_tenant_id_digest_key",
        "tenant_id",
        "digest_key",
        sqlite_where=text("digest_key IS NOT NULL"),
        postgresql_where=text("digest_key IS NOT NULL"),
    ),
)
ATTEMPTS = Table(
    "dictamesh_notification_attempts",
    notification_metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False, server_default="default"),
    Column(
        "notification_id",
        String(36),
        ForeignKey(
            "dictamesh_notifications.id",
            name="fk_dictamesh_notification_attempts_notification_id",
            ondelete="CASCADE",
        ),
        nullable=False,
    ),
    Column("attempt", Integer, nullable=False),
    Column("channel", String(63), nullable=False),
    #: sent, failed (will retry), dead (gave up), fallback (next channel)
    Column("outcome", String(12), nullable=False),
    Column("error", Text),
    Column("status_code", Integer),
    Column("provider_message_id", String(255)),
    Column("node", String(160)),
    Column("duration_ms", Float),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_dictamesh_notification_attempts_notification_id_id", "notification_id", "id"),
)
QUEUE = Table(
    "dictamesh_notification_queue",
    notification_metadata,
    Column("notification_id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("channel", String(63), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("lease_owner", String(160)),
    Column("lease_expires_at", UTCDateTime()),
    # no index on lease_owner: it changes on every claim; releasing (rare) scans the queue
    Index("ix_dictamesh_notification_queue_due_at", "due_at"),
)
INBOX = Table(
    "dictamesh_notification_inbox",
    notification_metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False, server_default="default"),
    Column("notification_id", String(36), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("rule", String(63), nullable=False),
    Column("priority", String(8), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("read_at", UTCDateTime()),
    UniqueConstraint("tenant_id", "notification_id", name="uq_dictamesh_notification_inbox_once"),
    Index(
        "ix_dictamesh_notification_inbox_tenant_id_recipient_created_at",
        "tenant_id",
        "recipient",
        "created_at",
    ),
)
PREFERENCES = Table(
    "dictamesh_notification_preferences",
    notification_metadata,
    Column("tenant_id", String(64), primary_key=True, server_default="default"),
    Column("recipient", String(320), primary_key=True),
    Column("preferences", _JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
