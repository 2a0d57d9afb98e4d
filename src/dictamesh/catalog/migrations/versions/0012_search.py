"""Vectors for semantic search (``docs/search.md``, "Vector store").

``dictamesh_search_vectors`` (the tables of :mod:`dictamesh.search.tables`): one row per
(tenant, entity type, entity id, chunk) with the hash of the embedded text, the
provider/model/dimensions and the vector.

PostgreSQL needs the pgvector extension (0.5 or later; 0.8 for iterative index scans),
which only a superuser can create (it is not a trusted extension, and this migration runs
as the tables' owner): without it the migration stops and says so. The column is an
untyped ``vector``, so a model of another size needs no table rewrite: its vectors sit
beside the old ones until the indexer has re-embedded everything. The HNSW index
(``vector_cosine_ops``, m=16, ef_construction=64) is a *partial expression* index for the
default 256 dimensions — ``(embedding::vector(256)) WHERE dimensions = 256`` — which is what
queries for 256-dimension vectors use; another size gets its own index created the same way
(the statement is in ``docs/search.md``), and until then its queries scan exactly.

Row-level security as on every tenant table (0004): the policy
``dictamesh_tenant_isolation``, and ``SELECT, INSERT, UPDATE, DELETE`` for ``dictamesh_app``.

SQLite: the vector is a float32 blob (the layout ``sqlite-vec`` reads); search is exact.

Revision ID: 0012_search
Revises: 0011_cluster
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.types import UserDefinedType

revision: str = "0012_search"
down_revision: str | Sequence[str] | None = "0011_cluster"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VECTORS = "dictamesh_search_vectors"
APP_ROLE = "dictamesh_app"
POLICY = "dictamesh_tenant_isolation"
GUC = "dictamesh.tenant_id"
_CONDITION = f"tenant_id = current_setting('{GUC}', true)"
#: the dimension the HNSW index is built for (``search.embeddings.dimensions``' default)
DIMENSIONS = 256
HNSW_INDEX = f"ix_{VECTORS}_hnsw_{DIMENSIONS}"
#: HNSW needs pgvector 0.5
MINIMUM_PGVECTOR = (0, 5)

_GRANT = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
        RETURN;
    END IF;
    GRANT SELECT, INSERT, UPDATE, DELETE ON {VECTORS} TO {APP_ROLE};
END
$$
"""

_MISSING = (
    "the catalog's search migration (0012_search) needs the PostgreSQL extension pgvector"
    " ({problem}). Install pgvector on the database server (docs/search.md, 'Vector store')"
    " and run `CREATE EXTENSION vector;` in this database as a superuser (the migration"
    " role cannot: the extension is not trusted), then migrate again."
)


class _Vector(UserDefinedType[Any]):
    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "vector"


def _check_pgvector() -> None:
    version = (
        op.get_bind()
        .execute(sa.text("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'vector'"))
        .scalar()
    )
    if version is None:
        raise RuntimeError(_MISSING.format(problem="it is not created in this database"))
    parts = tuple(int(p) for p in str(version).split(".")[:2] if p.isdigit())
    if parts < MINIMUM_PGVECTOR:
        raise RuntimeError(_MISSING.format(problem=f"version {version} has no HNSW index"))


def upgrade() -> None:
    postgres = op.get_context().dialect.name == "postgresql"
    if postgres:
        _check_pgvector()
    op.create_table(
        VECTORS,
        sa.Column("tenant_id", sa.String(64), server_default="default", nullable=False),
        sa.Column("entity_type", sa.String(63), nullable=False),
        sa.Column("entity_id", sa.String(128), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(63), nullable=False),
        sa.Column("source_system", sa.String(63), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(63), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "embedding", sa.LargeBinary().with_variant(_Vector(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "entity_type", "entity_id", "chunk", name=f"pk_{VECTORS}"
        ),
    )
    if not postgres:
        return
    op.execute(
        f"CREATE INDEX {HNSW_INDEX} ON {VECTORS} USING hnsw"
        f" ((embedding::vector({DIMENSIONS})) vector_cosine_ops)"
        f" WITH (m = 16, ef_construction = 64) WHERE dimensions = {DIMENSIONS}"
    )
    op.execute(f"ALTER TABLE {VECTORS} ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY {POLICY} ON {VECTORS} USING ({_CONDITION}) WITH CHECK ({_CONDITION})"
    )
    op.execute(_GRANT)


def downgrade() -> None:
    op.drop_table(VECTORS)  # its index and policy go with it
