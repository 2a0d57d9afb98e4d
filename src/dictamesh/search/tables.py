"""The search layer's table in the catalog database (migrations ``0012_search`` and
``0013_search_tuning``).

:data:`VECTORS` — one row per (tenant, entity type, entity id, chunk): the entity's domain
and source, the hash of the text that was embedded (re-embedded only when it changes), the
provider/model/dimensions that made the vector, when, and the vector itself. A tenant's
rows (row-level security on PostgreSQL, like the catalog's).

The vector column is typed per engine (:class:`VectorType`): pgvector's ``vector`` on
PostgreSQL — deliberately without a fixed dimension, so vectors of another model can sit
beside the old ones while the indexer re-embeds, and each dimension gets its own partial
HNSW index (``docs/search.md``, "Vector store") — and little-endian float32 bytes on SQLite,
the layout ``sqlite-vec`` reads. Both read and write ``list[float]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    and_,
    cast,
    literal_column,
    or_,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import UserDefinedType

from dictamesh.catalog.models import UTCDateTime

__all__ = [
    "VECTORS",
    "PgVector",
    "SqliteVector",
    "VectorType",
    "after_key",
    "as_vector",
    "pack_vector",
    "pg_vector_text",
    "search_metadata",
    "unpack_vector",
]

search_metadata = MetaData()


def after_key(table: Table, after: tuple[str, str]) -> ColumnElement[bool]:
    """Rows of ``table`` after ``after`` in (entity_type, entity_id) order: keyset paging
    over the registry and the vectors alike."""
    entity_type, entity_id = table.c.entity_type, table.c.entity_id
    return or_(entity_type > after[0], and_(entity_type == after[0], entity_id > after[1]))


def pack_vector(vector: Sequence[float]) -> bytes:
    """float32 little-endian bytes: sqlite-vec's vector blob."""
    return np.asarray(vector, dtype="<f4").tobytes()


def unpack_vector(blob: bytes) -> list[float]:
    return [float(x) for x in np.frombuffer(blob, dtype="<f4")]


def as_vector(value: Any) -> list[float]:
    """A stored vector as read on either engine (a list, pgvector's text, or a blob):
    SQLAlchemy does not apply a variant's result processing to every select."""
    if isinstance(value, bytes | bytearray | memoryview):
        return unpack_vector(bytes(value))
    if isinstance(value, str):
        return [float(x) for x in value.strip("[]").split(",") if x]
    return [float(x) for x in value]


def pg_vector_text(vector: Sequence[float]) -> str:
    """pgvector's text form ``[1,2,3]`` (sent as text and cast: asyncpg has no codec)."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


class PgVector(UserDefinedType[list[float]]):
    """pgvector's ``vector`` (no dimension), bound as text and read back as text."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "vector"

    def bind_expression(self, bindvalue: Any) -> ColumnElement[Any]:
        return cast(bindvalue, Text).op("::")(literal_column("vector"))

    def column_expression(self, colexpr: Any) -> ColumnElement[Any]:
        return cast(colexpr, Text)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        return lambda value: None if value is None else pg_vector_text(value)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        def parse(value: Any) -> list[float] | None:
            if value is None:
                return None
            return [float(x) for x in str(value).strip("[]").split(",") if x]

        return parse


class SqliteVector(TypeDecorator[list[float]]):
    """float32 blob on SQLite, ``list[float]`` in Python."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else pack_vector(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> list[float] | None:
        return None if value is None else unpack_vector(value)


#: the vector column's type on either engine
VectorType = SqliteVector().with_variant(PgVector(), "postgresql")

VECTORS = Table(
    "dictamesh_search_vectors",
    search_metadata,
    Column("tenant_id", String(64), nullable=False, server_default="default"),
    Column("entity_type", String(63), nullable=False),
    Column("entity_id", String(128), nullable=False),
    #: 0, 1, ... in text order: an entity's score is its best chunk's
    Column("chunk", Integer, nullable=False),
    Column("domain", String(63), nullable=False),
    Column("source_system", String(63), nullable=False),
    #: sha256 of the entity's whole embedded text (the same on each of its chunks)
    Column("text_hash", String(64), nullable=False),
    Column("provider", String(63), nullable=False),
    Column("model", String(255), nullable=False),
    Column("dimensions", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("embedding", VectorType, nullable=False),
    PrimaryKeyConstraint(
        "tenant_id", "entity_type", "entity_id", "chunk", name="pk_dictamesh_search_vectors"
    ),
    Index("ix_dictamesh_search_vectors_tenant_id_domain", "tenant_id", "domain"),
)
