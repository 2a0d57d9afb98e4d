"""Only the indexes a query needs: four that every ingested event paid for, none used.

Each index costs every insert (and every update that is not HOT, which is every registry
update: the search index covers ``attributes``). Measured on the ingest path
(docs/performance.md, "Ingest and the embedded bus"); the rationale per index is in
docs/catalog.md, "Indexes".

Both engines:

* ``ix_dictamesh_entity_catalog_entity_type`` and ``ix_dictamesh_entity_catalog_domain``:
  every registry query names the tenant first (row-level security even requires it), so
  ``uq_dictamesh_entity_catalog_key`` (tenant, type, id) serves "entities of a type", and
  nothing filters by domain without a tenant and a type. Without statistics the planner
  even preferred the type index for key lookups (every entity of the type, per key).

PostgreSQL only:

* ``ix_dictamesh_entity_catalog_attributes_gin`` (``jsonb_path_ops``, 0002): no query of
  the catalog uses ``@>`` on the snapshot; it was the second most expensive index of the
  registry (a hash per JSON path of every snapshot written);
* ``ix_dictamesh_event_log_entity`` (type, id, time; 0001): 0002's timeline index (tenant,
  type, id, time, id) answers every event log query, which all name the tenant. SQLite has
  no timeline index and keeps this one.

Downgrade recreates them.

Revision ID: 0008_ingest_indexes
Revises: 0007_graph_walk
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008_ingest_indexes"
down_revision: str | Sequence[str] | None = "0007_graph_walk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTITY = "dictamesh_entity_catalog"
EVENTS = "dictamesh_event_log"

#: ``(name, table, columns)`` dropped on both engines
PORTABLE = (
    ("ix_dictamesh_entity_catalog_entity_type", ENTITY, ["entity_type"]),
    ("ix_dictamesh_entity_catalog_domain", ENTITY, ["domain"]),
)
#: ``(name, CREATE INDEX statement)`` dropped on PostgreSQL only
POSTGRES = (
    (
        "ix_dictamesh_entity_catalog_attributes_gin",
        f"CREATE INDEX ix_dictamesh_entity_catalog_attributes_gin ON {ENTITY}"
        " USING gin (attributes jsonb_path_ops)",
    ),
    (
        "ix_dictamesh_event_log_entity",
        f"CREATE INDEX ix_dictamesh_event_log_entity ON {EVENTS}"
        " (entity_type, entity_id, event_timestamp)",
    ),
)


def upgrade() -> None:
    for name, table, _columns in PORTABLE:
        op.drop_index(name, table_name=table)
    if op.get_context().dialect.name == "postgresql":
        for name, _create in POSTGRES:
            op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for _name, create in POSTGRES:
            op.execute(create)
    for name, table, columns in PORTABLE:
        op.create_index(name, table, columns)
