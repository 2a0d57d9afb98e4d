"""The vector store: catalog entries' embeddings and nearest-neighbour queries.

One row per (tenant, entity type, entity id, chunk) in ``dictamesh_search_vectors``
(:mod:`dictamesh.search.tables`, migration ``0012_search``), on the catalog's database
(:class:`~dictamesh.catalog.database.CatalogDatabase`: its tenant-scoped transactions, so
row-level security separates tenants on PostgreSQL).

* PostgreSQL: pgvector. ``vector_index: hnsw`` orders by cosine distance over the partial
  HNSW index of the model's dimension with ``hnsw.ef_search`` and pgvector 0.8's iterative
  scan (``relaxed_order``), so a query filtered by tenant, type or domain still finds
  ``limit`` rows; ``exact`` (or ``nearest(..., exact=True)``) scans every candidate row.
* SQLite: exact search, with ``sqlite-vec``'s ``vec_distance_cosine`` when the extension
  loads into the connection, else in NumPy over the tenant's vectors (the Python build may
  not allow loading extensions; logged once).

Scores are cosine similarities (1 - cosine distance); an entity's score is its best
chunk's; ties are ordered by (entity type, entity id). Only vectors of the store's own
provider, model and dimensions are compared: the rows of an older model wait for the
indexer to replace them.

Example::

    store = VectorStore(database, provider="wordllama", model="l2_supercat", dimensions=256)
    await store.upsert([EntityVectors("default", "customer", "c1", "crm", "directus",
                                      text_hash, [vector])])
    hits = await store.nearest(query_vector, tenant="default", limit=10)
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import delete, func, select, tuple_
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncConnection

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.tables import insert_for
from dictamesh.core.errors import ValidationError
from dictamesh.core.settings import SearchSettings
from dictamesh.search.tables import VECTORS, after_key, as_vector, pack_vector, pg_vector_text

__all__ = [
    "MAX_LIMIT",
    "EntityVectors",
    "Fingerprint",
    "VectorHit",
    "VectorStore",
    "erase_vectors",
]

log = logging.getLogger(__name__)

#: most hits one query returns
MAX_LIMIT = 100
#: most type or domain filter values, chunks per entity, entities per upsert
MAX_FILTER_VALUES = 100
MAX_CHUNKS = 1000
#: HNSW returns chunk rows: this many candidates per wanted entity before the best chunk of
#: each is kept (an entity with more close chunks than this may push others out)
_CANDIDATES_PER_HIT = 4

Key = tuple[str, str]
"""(entity type, entity id)"""


@dataclass(frozen=True, slots=True)
class EntityVectors:
    """All chunks' vectors of one entity, as embedded from text hashing to ``text_hash``."""

    tenant: str
    entity_type: str
    entity_id: str
    domain: str
    source_system: str
    text_hash: str
    vectors: Sequence[Sequence[float]]


@dataclass(frozen=True, slots=True)
class VectorHit:
    entity_type: str
    entity_id: str
    domain: str
    #: cosine similarity of the entity's best chunk, in [-1, 1]
    score: float


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What an entity's stored vectors were made from: re-embed when any differs."""

    text_hash: str
    provider: str
    model: str
    dimensions: int
    chunks: int


class VectorStore:
    """Embeddings of catalog entries on the catalog's database (see the module doc)."""

    def __init__(
        self,
        database: CatalogDatabase,
        *,
        provider: str,
        model: str,
        dimensions: int,
        vector_index: Literal["hnsw", "exact"] = "hnsw",
        ef_search: int = 64,
        matrix_ttl: float = 1.0,
        exact_below: int = 10_000,
    ) -> None:
        self.database = database
        self.provider = provider
        self.model = model
        self.dimensions = int(dimensions)
        self.vector_index = vector_index
        self.ef_search = int(ef_search)
        self._sqlite_vec: bool | None = None if database.dialect == "sqlite" else False
        self._warned = False
        # NumPy fallback: each tenant's vectors as one matrix, rebuilt when the table changed
        self._matrices: dict[str, _Matrix] = {}
        self.matrix_ttl = matrix_ttl
        #: PostgreSQL: a filtered query the planner expects to keep at most this many rows
        #: is answered exactly (:meth:`_few`)
        self.exact_below = exact_below

    @classmethod
    def from_settings(
        cls, database: CatalogDatabase, settings: SearchSettings, *, provider: str, model: str
    ) -> VectorStore:
        return cls(
            database,
            provider=provider,
            model=model,
            dimensions=settings.embeddings.dimensions,
            vector_index=settings.vector_index,
            ef_search=settings.hnsw_ef_search,
        )

    @property
    def dialect(self) -> str:
        return self.database.dialect

    # --- writes -------------------------------------------------------------------------------

    async def upsert(self, entries: Sequence[EntityVectors]) -> int:
        """Replace each entity's vectors by ``entries``' (one transaction per tenant); how
        many rows were written."""
        for entry in entries:
            if not 1 <= len(entry.vectors) <= MAX_CHUNKS:
                raise ValidationError(
                    f"an entity has 1 to {MAX_CHUNKS} chunks", entity=entry.entity_id
                )
            for vector in entry.vectors:
                self._check_vector(vector)
        by_tenant: dict[str, list[EntityVectors]] = {}
        for entry in entries:
            by_tenant.setdefault(entry.tenant, []).append(entry)
        written = 0
        for tenant, group in by_tenant.items():
            now = self.database.now()
            rows = [
                {
                    "tenant_id": tenant,
                    "entity_type": e.entity_type,
                    "entity_id": e.entity_id,
                    "chunk": position,
                    "domain": e.domain,
                    "source_system": e.source_system,
                    "text_hash": e.text_hash,
                    "provider": self.provider,
                    "model": self.model,
                    "dimensions": self.dimensions,
                    "updated_at": now,
                    "embedding": [float(x) for x in vector],
                }
                for e in group
                for position, vector in enumerate(e.vectors)
            ]
            async with self.database.write(tenant) as conn:
                await self._delete_keys(conn, tenant, [(e.entity_type, e.entity_id) for e in group])
                await conn.execute(self._insert(), rows)
            written += len(rows)
            self._changed(tenant)
        return written

    def _insert(self) -> Any:
        """INSERT that overwrites a row another node wrote meanwhile (two ingest nodes
        reconciling the same entity): the last writer's vectors stand, no key error."""
        insert = insert_for(self.dialect, VECTORS)
        columns = ("domain", "source_system", "text_hash", "provider", "model", "dimensions")
        return insert.on_conflict_do_update(
            index_elements=["tenant_id", "entity_type", "entity_id", "chunk"],
            set_={c: insert.excluded[c] for c in (*columns, "updated_at", "embedding")},
        )

    async def delete(self, entity_type: str, entity_id: str, *, tenant: str | None = None) -> int:
        """Remove an entity's vectors; how many rows went."""
        return await self.delete_many([(entity_type, entity_id)], tenant=tenant)

    async def delete_many(self, keys: Sequence[Key], *, tenant: str | None = None) -> int:
        tenant = self.database.tenant(tenant)
        if not keys:
            return 0
        async with self.database.write(tenant) as conn:
            removed = await self._delete_keys(conn, tenant, keys)
        self._changed(tenant)
        return removed

    async def erase(
        self, conn: AsyncConnection, tenant: str, entity_type: str, entity_id: str
    ) -> int:
        """:func:`erase_vectors`, forgetting this store's cached matrix of the tenant."""
        removed = await erase_vectors(conn, tenant, entity_type, entity_id)
        self._changed(tenant)
        return removed

    async def _delete_keys(self, conn: AsyncConnection, tenant: str, keys: Sequence[Key]) -> int:
        return await _delete_keys(conn, tenant, keys)

    # --- lookups for the indexer -------------------------------------------------------------

    async def fingerprints(
        self, keys: Sequence[Key], *, tenant: str | None = None
    ) -> dict[Key, Fingerprint]:
        """What each of ``keys``' stored vectors were made from (absent: none stored)."""
        tenant = self.database.tenant(tenant)
        found: dict[Key, Fingerprint] = {}
        async with self.database.read(tenant) as conn:
            for start in range(0, len(keys), 500):
                part = list(keys[start : start + 500])
                rows = await conn.execute(
                    select(
                        VECTORS.c.entity_type,
                        VECTORS.c.entity_id,
                        func.min(VECTORS.c.text_hash),
                        func.min(VECTORS.c.provider),
                        func.min(VECTORS.c.model),
                        func.min(VECTORS.c.dimensions),
                        func.count(),
                    )
                    .where(
                        VECTORS.c.tenant_id == tenant,
                        tuple_(VECTORS.c.entity_type, VECTORS.c.entity_id).in_(part),
                    )
                    .group_by(VECTORS.c.entity_type, VECTORS.c.entity_id)
                )
                for etype, eid, text_hash, provider, model, dims, chunks in rows:
                    found[(etype, eid)] = Fingerprint(
                        text_hash, provider, model, int(dims), int(chunks)
                    )
        return found

    def current(self, fingerprint: Fingerprint | None, text_hash: str) -> bool:
        """Whether vectors with ``fingerprint`` stand for text hashing to ``text_hash`` under
        this store's model (else the entity is embedded again)."""
        return fingerprint is not None and (
            fingerprint.text_hash,
            fingerprint.provider,
            fingerprint.model,
            fingerprint.dimensions,
        ) == (text_hash, self.provider, self.model, self.dimensions)

    async def keys(
        self, *, tenant: str | None = None, after: Key | None = None, limit: int = 1000
    ) -> list[Key]:
        """The tenant's entities with vectors, in key order after ``after`` (paging)."""
        tenant = self.database.tenant(tenant)
        query = (
            select(VECTORS.c.entity_type, VECTORS.c.entity_id)
            .where(VECTORS.c.tenant_id == tenant, VECTORS.c.chunk == 0)
            .order_by(VECTORS.c.entity_type, VECTORS.c.entity_id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(after_key(VECTORS, after))
        async with self.database.read(tenant) as conn:
            return [(str(t), str(i)) for t, i in await conn.execute(query)]

    async def vectors_of(
        self, entity_type: str, entity_id: str, *, tenant: str | None = None
    ) -> list[list[float]]:
        """An entity's vectors of this store's model, in chunk order (none: not embedded)."""
        tenant = self.database.tenant(tenant)
        query = (
            select(VECTORS.c.embedding)
            .where(
                VECTORS.c.tenant_id == tenant,
                VECTORS.c.entity_type == entity_type,
                VECTORS.c.entity_id == entity_id,
                *self._model_filter(),
            )
            .order_by(VECTORS.c.chunk)
        )
        async with self.database.read(tenant) as conn:
            return [as_vector(v) for v in (await conn.execute(query)).scalars()]

    async def count(self, *, tenant: str | None = None) -> int:
        """Vector rows (chunks) of the tenant."""
        tenant = self.database.tenant(tenant)
        async with self.database.read(tenant) as conn:
            query = select(func.count()).select_from(VECTORS).where(VECTORS.c.tenant_id == tenant)
            return int((await conn.execute(query)).scalar_one())

    # --- queries -----------------------------------------------------------------------------

    async def nearest(
        self,
        vector: Sequence[float],
        *,
        tenant: str | None = None,
        entity_types: Iterable[str] | None = None,
        domains: Iterable[str] | None = None,
        limit: int = 10,
        exact: bool = False,
        exclude: Key | None = None,
    ) -> list[VectorHit]:
        """The ``limit`` entities closest to ``vector`` (cosine), best first; ``exclude``:
        an entity left out (the one whose neighbours are asked for)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}", limit=str(limit))
        query = self._check_vector(vector)
        types = _filter_values("entity_types", entity_types)
        domain_list = _filter_values("domains", domains)
        tenant = self.database.tenant(tenant)
        wanted = limit + (1 if exclude is not None else 0)
        if self.dialect == "postgresql":
            if exact or self.vector_index == "exact":
                rows = await self._pg_exact(query, tenant, types, domain_list, wanted)
            else:
                rows = await self._pg_hnsw(query, tenant, types, domain_list, wanted)
        elif await self._has_sqlite_vec():
            rows = await self._sqlite_vec_exact(query, tenant, types, domain_list, wanted)
        else:
            rows = await self._numpy_exact(query, tenant, types, domain_list, wanted)
        return _best(rows, limit, exclude)

    def _check_vector(self, vector: Sequence[float]) -> list[float]:
        try:
            values = [float(x) for x in vector]
        except (TypeError, ValueError):
            raise ValidationError("a vector is a list of numbers") from None
        if len(values) != self.dimensions:
            raise ValidationError(
                f"vector has {len(values)} dimensions, the model {self.dimensions}",
                dimensions=len(values),
            )
        if not all(math.isfinite(x) for x in values):
            raise ValidationError("vector values must be finite numbers")
        return values

    def _model_filter(self) -> list[Any]:
        return [
            VECTORS.c.provider == self.provider,
            VECTORS.c.model == self.model,
            VECTORS.c.dimensions == self.dimensions,
        ]

    def _where(
        self, tenant: str, types: list[str] | None, domains: list[str] | None
    ) -> tuple[str, dict[str, Any]]:
        """The filter of every query, applied inside it (never to the hits afterwards)."""
        clauses = [
            "tenant_id = :tenant",
            "provider = :provider",
            "model = :model",
            f"dimensions = {self.dimensions}",
        ]
        params: dict[str, Any] = {"tenant": tenant, "provider": self.provider, "model": self.model}
        if types is not None:
            clauses.append("entity_type = ANY(:types)")
            params["types"] = types
        if domains is not None:
            clauses.append("domain = ANY(:domains)")
            params["domains"] = domains
        return " AND ".join(clauses), params

    async def _pg_hnsw(
        self,
        query: list[float],
        tenant: str,
        types: list[str] | None,
        domains: list[str] | None,
        wanted: int,
    ) -> list[tuple[str, str, str, float]]:
        where, params = self._where(tenant, types, domains)
        dims = self.dimensions
        # The expression matches the partial index of migration 0012 (dimensions = N).
        # relaxed_order may return rows slightly out of order: _best sorts them again.
        statement = sql_text(
            f"SELECT entity_type, entity_id, domain,"
            f" (embedding::vector({dims})) <=> CAST(:q AS text)::vector({dims}) AS distance"
            f" FROM {VECTORS.name} WHERE {where}"
            f" ORDER BY distance LIMIT :candidates"
        )
        params.update(q=pg_vector_text(query), candidates=wanted * _CANDIDATES_PER_HIT)
        async with self.database.read(tenant) as conn:
            if (types is not None or domains is not None) and await self._few(conn, where, params):
                return await self._pg_exact(query, tenant, types, domains, wanted, conn=conn)
            await conn.execute(
                sql_text(
                    "SELECT set_config('hnsw.ef_search', :ef, true),"
                    " set_config('hnsw.iterative_scan', 'relaxed_order', true)"
                ),
                {"ef": str(max(self.ef_search, wanted * _CANDIDATES_PER_HIT))},
            )
            result = await conn.execute(statement, params)
            return [(t, i, d, float(dist)) for t, i, d, dist in result]

    async def _few(self, conn: AsyncConnection, where: str, params: dict[str, Any]) -> bool:
        """Whether the planner expects a filter to leave at most ``exact_below`` rows: then
        comparing them all is exact and about as fast, where the index, walking a graph
        of every row, finds them late and misses some (measured: recall@10 0.82 with a
        filter keeping 5 % of 100 000 rows)."""
        plan = (
            await conn.execute(
                sql_text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {VECTORS.name} WHERE {where}"),
                params,
            )
        ).scalar_one()
        document = json.loads(plan) if isinstance(plan, str) else plan
        return float(document[0]["Plan"]["Plan Rows"]) <= self.exact_below

    async def _pg_exact(
        self,
        query: list[float],
        tenant: str,
        types: list[str] | None,
        domains: list[str] | None,
        wanted: int,
        *,
        conn: AsyncConnection | None = None,
    ) -> list[tuple[str, str, str, float]]:
        where, params = self._where(tenant, types, domains)
        # untyped <=>: no index expression matches, every candidate row is compared
        statement = sql_text(
            f"SELECT entity_type, entity_id, min(domain) AS domain,"
            f" min(embedding <=> CAST(:q AS text)::vector) AS distance"
            f" FROM {VECTORS.name} WHERE {where}"
            f" GROUP BY entity_type, entity_id"
            f" ORDER BY distance, entity_type, entity_id LIMIT :wanted"
        )
        params.update(q=pg_vector_text(query), wanted=wanted)
        if conn is not None:
            result = await conn.execute(statement, params)
            return [(t, i, d, float(dist)) for t, i, d, dist in result]
        async with self.database.read(tenant) as own:
            result = await own.execute(statement, params)
            return [(t, i, d, float(dist)) for t, i, d, dist in result]

    async def _sqlite_vec_exact(
        self,
        query: list[float],
        tenant: str,
        types: list[str] | None,
        domains: list[str] | None,
        wanted: int,
    ) -> list[tuple[str, str, str, float]]:
        filters = [VECTORS.c.tenant_id == tenant, *self._model_filter()]
        if types is not None:
            filters.append(VECTORS.c.entity_type.in_(types))
        if domains is not None:
            filters.append(VECTORS.c.domain.in_(domains))
        distance = func.min(func.vec_distance_cosine(VECTORS.c.embedding, pack_vector(query)))
        statement = (
            select(
                VECTORS.c.entity_type,
                VECTORS.c.entity_id,
                func.min(VECTORS.c.domain),
                distance.label("d"),
            )
            .where(*filters)
            .group_by(VECTORS.c.entity_type, VECTORS.c.entity_id)
            .order_by(distance, VECTORS.c.entity_type, VECTORS.c.entity_id)
            .limit(wanted)
        )
        async with self.database.read(tenant) as conn:
            await self._load_sqlite_vec(conn)
            return [(t, i, d, float(dist)) for t, i, d, dist in await conn.execute(statement)]

    async def _numpy_exact(
        self,
        query: list[float],
        tenant: str,
        types: list[str] | None,
        domains: list[str] | None,
        wanted: int,
    ) -> list[tuple[str, str, str, float]]:
        matrix = await self._matrix(tenant)
        if not len(matrix.keys):
            return []
        q = np.asarray(query, dtype=np.float32)
        norm = float(np.linalg.norm(q))
        similarity = matrix.unit @ (q / norm if norm else q)
        rows = np.arange(len(matrix.keys))
        if types is not None:
            rows = rows[np.isin(matrix.types[rows], types)]
        if domains is not None:
            rows = rows[np.isin(matrix.domains[rows], domains)]
        # the best rows first; enough of them that ``wanted`` distinct entities are among
        # them (an entity's further chunks take places), exactly: widened until they are
        take = wanted * _CANDIDATES_PER_HIT
        while True:
            if take >= len(rows):
                top = rows[np.argsort(-similarity[rows], kind="stable")]
            else:
                part = rows[np.argpartition(-similarity[rows], take)[:take]]
                top = part[np.argsort(-similarity[part], kind="stable")]
            found: dict[Key, tuple[str, str, str, float]] = {}
            for index in top:
                key = matrix.keys[index]
                if key not in found:  # rows come best first: the entity's best chunk
                    found[key] = (
                        key[0],
                        key[1],
                        str(matrix.domains[index]),
                        1.0 - float(similarity[index]),
                    )
            if len(found) >= wanted or len(top) == len(rows):
                break
            take *= 4
        if not found:
            return []
        # rows tied with the last one kept compete on (type, id) in _best: add them all
        cutoff = sorted(found.values(), key=lambda r: r[3])[:wanted][-1][3]
        for index in rows[1.0 - similarity[rows].astype(np.float64) <= cutoff]:
            key = matrix.keys[index]
            distance = 1.0 - float(similarity[index])
            if key not in found or distance < found[key][3]:
                found[key] = (key[0], key[1], str(matrix.domains[index]), distance)
        return list(found.values())

    async def _matrix(self, tenant: str) -> _Matrix:
        """The tenant's vectors of this model as one normalised matrix. This store's writes
        drop it; another process's are seen by a cheap stamp query (row count, newest
        write) made at most every ``matrix_ttl`` seconds."""
        now = time.monotonic()
        cached = self._matrices.get(tenant)
        if cached is not None and now - cached.checked < self.matrix_ttl:
            return cached
        filters = [VECTORS.c.tenant_id == tenant, *self._model_filter()]
        async with self.database.read(tenant) as conn:
            stamp = tuple(
                (
                    await conn.execute(
                        select(func.count(), func.max(VECTORS.c.updated_at)).where(*filters)
                    )
                ).one()
            )
            if cached is not None and cached.stamp == stamp:
                cached.checked = now
                return cached
            rows = (
                await conn.execute(
                    select(
                        VECTORS.c.entity_type,
                        VECTORS.c.entity_id,
                        VECTORS.c.domain,
                        VECTORS.c.embedding,
                    ).where(*filters)
                )
            ).all()
        if rows:
            vectors = np.asarray([as_vector(r.embedding) for r in rows], dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            unit = vectors / np.where(norms == 0, 1, norms)
        else:
            unit = np.zeros((0, self.dimensions), dtype=np.float32)
        matrix = _Matrix(
            keys=[(str(r.entity_type), str(r.entity_id)) for r in rows],
            types=np.asarray([r.entity_type for r in rows], dtype=object),
            domains=np.asarray([r.domain for r in rows], dtype=object),
            unit=unit,
            stamp=stamp,
            checked=now,
        )
        self._matrices[tenant] = matrix
        return matrix

    def _changed(self, tenant: str) -> None:
        self._matrices.pop(tenant, None)

    # --- sqlite-vec ------------------------------------------------------------------------

    async def _has_sqlite_vec(self) -> bool:
        if self._sqlite_vec is None:
            async with self.database.read() as conn:
                self._sqlite_vec = await self._load_sqlite_vec(conn)
        return self._sqlite_vec

    async def _load_sqlite_vec(self, conn: AsyncConnection) -> bool:
        """Load sqlite-vec into ``conn``'s SQLite connection (once per connection)."""
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        if getattr(driver, "_dictamesh_sqlite_vec", False):
            return True
        try:
            import sqlite_vec  # type: ignore[import-untyped]

            await driver.enable_load_extension(True)
            try:
                await driver.load_extension(sqlite_vec.loadable_path())
            finally:
                await driver.enable_load_extension(False)
        except Exception as exc:  # not installed, or a Python build without extension loading
            if not self._warned:
                self._warned = True
                log.info(
                    "sqlite-vec cannot be loaded (%s): vector search on SQLite runs exactly"
                    " in NumPy",
                    exc,
                )
            return False
        driver._dictamesh_sqlite_vec = True
        return True


@dataclass(slots=True)
class _Matrix:
    keys: list[Key]
    types: Any
    domains: Any
    unit: Any
    #: (rows, newest write) when read, and when that was last checked (monotonic)
    stamp: tuple[Any, ...]
    checked: float


async def erase_vectors(
    conn: AsyncConnection, tenant: str, entity_type: str, entity_id: str
) -> int:
    """Delete an entity's vectors on ``conn``: an erasure step
    (:func:`dictamesh.governance.erasure.erase_entity`), run in the erasure's transaction."""
    return await _delete_keys(conn, tenant, [(entity_type, entity_id)])


async def _delete_keys(conn: AsyncConnection, tenant: str, keys: Sequence[Key]) -> int:
    removed = 0
    for start in range(0, len(keys), 500):
        part = list(keys[start : start + 500])
        result = await conn.execute(
            delete(VECTORS).where(
                VECTORS.c.tenant_id == tenant,
                tuple_(VECTORS.c.entity_type, VECTORS.c.entity_id).in_(part),
            )
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed


def _filter_values(name: str, values: Iterable[str] | None) -> list[str] | None:
    if values is None:
        return None
    out = sorted({str(v) for v in values})
    if not out or len(out) > MAX_FILTER_VALUES or any(len(v) > 128 for v in out):
        raise ValidationError(f"{name}: 1 to {MAX_FILTER_VALUES} names of at most 128 characters")
    return out


def _best(
    rows: Iterable[tuple[str, str, str, float]], limit: int, exclude: Key | None
) -> list[VectorHit]:
    """The best chunk per entity, ordered by score then (type, id), ``limit`` of them."""
    best: dict[Key, VectorHit] = {}
    for entity_type, entity_id, domain, distance in rows:
        key = (entity_type, entity_id)
        if key == exclude:
            continue
        score = 1.0 - float(distance)
        known = best.get(key)
        if known is None or score > known.score:
            best[key] = VectorHit(entity_type, entity_id, domain, score)
    ordered = sorted(best.values(), key=lambda h: (-h.score, h.entity_type, h.entity_id))
    return ordered[:limit]
