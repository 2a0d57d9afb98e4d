"""The cluster layer's tables in the catalog database (migration ``0011_cluster``).

* :data:`LEASES` — one row per named lease (``capture:<adapter>``): who holds it, its fencing
  token (one more on every acquisition, never reset: a release only expires the row) and
  when it expires, in epoch seconds *by the database's clock*, so nodes with skewed clocks
  still agree.
* :data:`WATERMARKS`, :data:`SEEN` — the change-detection state of
  :mod:`dictamesh.adapters.state` shared by every node, so a new capture leader resumes
  where the old one committed.
* :data:`WEBHOOK_INBOX` — webhooks accepted by any node, drained by the capture leader
  (:mod:`dictamesh.adapters.webhook_inbox`'s rows, shared).

Neither is a tenant's table: they hold the mesh's capture bookkeeping, read and written only
by capture leaders, never served (``docs/scale-out.md``).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects import postgresql

__all__ = ["LEASES", "SEEN", "WATERMARKS", "WEBHOOK_INBOX", "cluster_metadata"]

cluster_metadata = MetaData()

# a tombstone's snapshot is SQL NULL, not JSON null, so "deleted" reads back as None
_SNAPSHOT = JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")

LEASES = Table(
    "dictamesh_leases",
    cluster_metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

WATERMARKS = Table(
    "dictamesh_change_watermarks",
    cluster_metadata,
    Column("adapter", String(200), primary_key=True),
    Column("watermark", Text, nullable=False),
)

SEEN = Table(
    "dictamesh_change_seen",
    cluster_metadata,
    Column("adapter", String(200), primary_key=True),
    Column("entity_id", String(512), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("snapshot", _SNAPSHOT, nullable=True),
)

WEBHOOK_INBOX = Table(
    "dictamesh_webhook_inbox",
    cluster_metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("adapter", String(200), nullable=False, index=True),
    Column("body", JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
    Column("accepted_at", Float, nullable=False),
)
