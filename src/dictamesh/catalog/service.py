"""The metadata catalog: where entities live, how they relate, their schemas, events, lineage.

:class:`CatalogService` is async and stateless apart from its engine; every method is one
transaction. It runs on SQLite (embedded default) and PostgreSQL with the same tables.

Rows belong to a tenant: the one an entity/event carries, else the current tenant of
:data:`dictamesh.core.context.current_tenant`, else ``'default'``. Reads see only the
current (or default) tenant.

Example::

    async with await CatalogService.open("sqlite+aiosqlite:///catalog.db") as catalog:
        await catalog.register_schema(invoice_schema)
        await catalog.register_entity(invoice)                       # upsert
        await catalog.record_relationship(invoice.ref, "billed_to", customer.ref)
        graph = await catalog.query_relationship_graph(customer.ref, max_depth=3)
        location = await catalog.get_entity_location("invoice", invoice.id)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, cast, get_args

from sqlalchemy import Row, Table, delete, func, or_, select, tuple_, union, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dictamesh.catalog import _search, _sql
from dictamesh.catalog._dialect import (
    WRITE_OPTION,
    configure_engine,
    create_catalog_engine,
    insert_for,
)
from dictamesh.catalog._errors import database_error
from dictamesh.catalog._graph import walk_graph
from dictamesh.catalog._limits import check_limit
from dictamesh.catalog._sql import AUDIT, CACHE, CONFIG, ENTITY, EVENTS, LINEAGE, RELS, SCHEMAS
from dictamesh.catalog.models import DEFAULT_TENANT
from dictamesh.catalog.records import (
    CacheStatusRecord,
    Compatibility,
    EntityLocation,
    EntitySearchResult,
    EventLogRecord,
    GraphDirection,
    GraphEdge,
    GraphNode,
    LineageRecord,
    LineageView,
    RelationshipGraph,
    RelationshipRecord,
    SchemaVersion,
    StoredSchema,
)
from dictamesh.catalog.schemas import check_compatibility
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import (
    CatalogError,
    EntityNotFound,
    NotFoundError,
    SchemaCompatibilityError,
    ValidationError,
)
from dictamesh.core.models import (
    MAX_QUERY_LIMIT,
    ChangeEvent,
    DatasetRef,
    Entity,
    EntityRef,
    EntitySchema,
)
from dictamesh.core.settings import CatalogPoolSettings

__all__ = [
    "DATA_PRODUCT_NAMESPACE",
    "DEFAULT_COMPATIBILITY",
    "MAX_EVENT_LOG_LIMIT",
    "MAX_GRAPH_DEPTH",
    "MAX_GRAPH_LIMIT",
    "SCHEMA_TYPES",
    "CatalogService",
    "SchemaCheck",
    "canonical_schema_text",
    "data_product_dataset",
    "entity_schema_text",
]

DATA_PRODUCT_NAMESPACE = "dictamesh"
DEFAULT_COMPATIBILITY = Compatibility.BACKWARD
SCHEMA_TYPES = ("DICTAMESH", "AVRO", "JSON")
MAX_GRAPH_DEPTH = 10
MAX_GRAPH_LIMIT = 10_000
MAX_EVENT_LOG_LIMIT = 1000
#: the graph walk stops after this many paths per requested node (see ``_graph``)
GRAPH_PATHS_PER_NODE = 20
_MIN_GRAPH_PATHS = 10_000
#: row-level security's tenant setting (migration 0004), set at the start of each transaction
_SET_TENANT = sql_text("SELECT set_config('dictamesh.tenant_id', :tenant, true)")
#: tables :meth:`CatalogService.tenants` looks in (those with a ``tenant_id``-led index)
_TENANT_LISTED = (
    ENTITY,
    SCHEMAS,
    CONFIG,
    EVENTS,
    LINEAGE,
    CACHE,
    AUDIT,
)

SchemaCheck = Callable[[Sequence[str], str, Compatibility], Sequence[str]]
"""``(earlier schema texts, new text, level) -> reasons it is incompatible`` ([] if not).

The earlier texts are those the level asks for: the latest only, or every live version
(oldest first) for ``*_TRANSITIVE``. ``level`` tells the direction (backward/forward/full).
"""

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DIRECTIONS: dict[str, str] = {
    "out": "out",
    "in": "in",
    "both": "both",
    "outgoing": "out",
    "incoming": "in",
}


def data_product_dataset(domain: str, entity_type: str) -> DatasetRef:
    """The dataset a data product publishes: ``dictamesh/<domain>.<entity_type>``."""
    return DatasetRef(namespace=DATA_PRODUCT_NAMESPACE, name=f"{domain}.{entity_type}")


def canonical_schema_text(text: str) -> str:
    """Whitespace/key-order independent JSON; non-JSON text (protobuf) only stripped."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.strip()
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entity_schema_text(schema: EntitySchema) -> str:
    """The stored form of an ``EntitySchema``: canonical JSON *without* its version.

    The registry assigns versions, so re-registering the same content under another
    declared version is recognised as the same schema.
    """
    body = schema.model_dump(mode="json", exclude={"version"})
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _dictamesh_check(previous: Sequence[str], new: str, level: Compatibility) -> list[str]:
    new_schema = EntitySchema.model_validate_json(new)
    earlier: list[EntitySchema] = []
    for position, text in enumerate(previous, start=1):
        try:
            earlier.append(EntitySchema.model_validate_json(text))
        except ValueError:
            return [f"earlier schema #{position} is not a DICTAMESH entity schema"]
    # ``previous`` already holds what the level asks for (latest only, or all).
    return check_compatibility(new_schema, earlier, level)


def _fingerprint(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()


#: fingerprint (and text) of a permanently deleted schema row. The row stays as a tombstone
#: so that neither its version number nor its global id is ever handed out again (SQLite
#: would reuse the highest row id, and ids are the ids in Kafka records).
_PURGED = ""


def _encode_cursor(*key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        key = None
    if not isinstance(key, list) or len(key) != size or not all(isinstance(k, str) for k in key):
        raise ValidationError("invalid cursor", cursor=cursor[:64])
    return key


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValidationError(
            f"{what} must match {_NAME.pattern} (lowercase letters, digits, '_')", value=value
        )
    return value


class CatalogService:
    """The catalog over one database. Construct from an engine, or :meth:`open` a URL."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        owns_engine: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        configure_engine(engine)
        self.engine = engine
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self.dialect = engine.dialect.name
        self._owns_engine = owns_engine
        self._clock = clock or (lambda: datetime.now(UTC))

    # --- lifecycle --------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        pool: CatalogPoolSettings | None = None,
        migration_url: str | None = None,
        **engine_options: Any,
    ) -> CatalogService:
        """Connect to ``url``; migrate to head first unless ``migrate`` is False, in which
        case an unmigrated database is refused with a :class:`CatalogError`.

        ``migration_url`` (default ``url``) is the database as the role that owns the
        tables, which migrations run as; on PostgreSQL with row-level security the
        application's ``url`` must use another role (``docs/tenancy.md``).
        ``pool`` sizes the PostgreSQL connection pool (ignored on SQLite); ``engine_options``
        go to ``create_async_engine`` as they are (``pool_size=20``, ``echo=True``, ...)."""
        from dictamesh.catalog import migrate as migrations

        engine = create_catalog_engine(url, pool=pool, **engine_options)
        try:
            if migrate and migration_url and migration_url != url:
                await migrations.upgrade(migration_url)
                migrate = False  # and check that it was this database that got migrated
            if migrate:
                await migrations.upgrade_engine(engine)
            else:
                state = await migrations.status_engine(engine)
                if state.pending:
                    raise CatalogError(
                        f"catalog database is not migrated (at {state.current or 'nothing'},"
                        f" head {state.head}): run `dictamesh migrate up`",
                        pending=state.pending,
                    )
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, owns_engine=True)

    async def aclose(self) -> None:
        if self._owns_engine:
            await self.engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def ping(self) -> bool:
        async with self._read() as conn:
            await conn.execute(select(1))
        return True

    # --- plumbing -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock()

    @staticmethod
    def tenant(explicit: str | None = None) -> str:
        """The tenant a call acts for: ``explicit``, else the context's, else the default."""
        return explicit or current_tenant.get() or DEFAULT_TENANT

    async def set_tenant(self, conn: AsyncConnection, tenant: str | None = None) -> None:
        """Make ``tenant`` (resolved as :meth:`tenant`) the tenant of ``conn``'s transaction.

        PostgreSQL's row-level security (migration 0004) shows and accepts only rows of the
        transaction's ``dictamesh.tenant_id`` (set here, local to the transaction, so it
        never leaks to the next user of a pooled connection). ``_read`` and ``write`` set
        it; work spanning tenants in one transaction (the ingest) calls this before each
        tenant's part. No-op on SQLite.
        """
        if self.dialect == "postgresql":
            await conn.execute(_SET_TENANT, {"tenant": self.tenant(tenant)})

    @asynccontextmanager
    async def _read(self, tenant: str | None = None) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as conn:
                await self.set_tenant(conn, tenant)
                yield conn
        # OSError: asyncpg's connect failures (server down) are not wrapped by SQLAlchemy.
        except (SQLAlchemyError, OSError) as exc:
            raise database_error(exc) from exc

    @asynccontextmanager
    async def write(self, tenant: str | None = None) -> AsyncIterator[AsyncConnection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success.

        It acts for ``tenant`` (default: the current one, see :meth:`tenant`): on PostgreSQL
        row-level security refuses rows of any other tenant (:meth:`set_tenant`).
        :class:`IntegrityError` passes through unwrapped so callers can retry a lost race.
        """
        try:
            async with self._write_engine.begin() as conn:
                await self.set_tenant(conn, tenant)
                yield conn
        except IntegrityError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            raise database_error(exc) from exc

    # --- entity registry -----------------------------------------------------------------------

    def _entity_row(
        self,
        entity: Entity,
        *,
        api_base_path: str | None,
        schema_version: int,
        event_id: str | None,
    ) -> dict[str, Any]:
        now = self._now()
        return {
            "tenant_id": self.tenant(entity.tenant_id),
            "entity_type": entity.type,
            "entity_id": entity.id,
            "domain": entity.source.domain,
            "source_system": entity.source.system,
            "source_entity_id": entity.id,
            "api_base_path": api_base_path or _sql.default_api_base_path(entity.type),
            "version": entity.version,
            "schema_version": schema_version,
            "attributes": entity.model_dump(mode="json")["attributes"],
            "status": "active",
            "last_event_id": event_id,
            "created_at": now,
            "updated_at": now,
        }

    async def register_entity(
        self,
        entity: Entity,
        *,
        api_base_path: str | None = None,
        schema_version: int = 1,
        event_id: str | None = None,
    ) -> EntityLocation:
        """Insert or update where ``entity`` lives (its attributes are kept as a snapshot).

        An entity already registered with a *higher* version is left as it is (a late
        write never overwrites newer data); the stored location is returned either way.
        """
        row = self._entity_row(
            entity, api_base_path=api_base_path, schema_version=schema_version, event_id=event_id
        )
        async with self.write(row["tenant_id"]) as conn:
            await conn.execute(_sql.entity_upsert(self.dialect), [row])
            stored = (await conn.execute(self._entity_select(row["tenant_id"], entity.ref))).one()
        return _sql.location(stored)

    @staticmethod
    def _entity_select(tenant: str, ref: EntityRef) -> Any:
        return select(ENTITY).where(
            ENTITY.c.tenant_id == tenant,
            ENTITY.c.entity_type == ref.type,
            ENTITY.c.entity_id == ref.id,
        )

    async def mark_entity_deleted(self, ref: EntityRef, *, event_id: str | None = None) -> None:
        """Mark ``ref`` deleted (its row and last snapshot stay) and end its outgoing
        relationships. Raises :class:`EntityNotFound` if it was never registered."""
        tenant, now = self.tenant(), self._now()
        async with self.write() as conn:
            result = await conn.execute(
                update(ENTITY)
                .where(
                    ENTITY.c.tenant_id == tenant,
                    ENTITY.c.entity_type == ref.type,
                    ENTITY.c.entity_id == ref.id,
                )
                .values(
                    status="deleted",
                    updated_at=now,
                    last_event_id=func.coalesce(event_id, ENTITY.c.last_event_id),
                )
            )
            if result.rowcount == 0:
                raise EntityNotFound(ref.type, ref.id)
            await conn.execute(_sql.end_outgoing_relationships(tenant, ref, now))

    async def get_entity_location(self, entity_type: str, entity_id: str) -> EntityLocation:
        """Where the entity lives (also when marked deleted: see ``status``)."""
        async with self._read() as conn:
            row = (
                await conn.execute(
                    select(ENTITY).where(
                        ENTITY.c.tenant_id == self.tenant(),
                        ENTITY.c.entity_type == entity_type,
                        ENTITY.c.entity_id == entity_id,
                    )
                )
            ).first()
        if row is None:
            raise EntityNotFound(entity_type, entity_id)
        return _sql.location(row)

    async def list_entities(
        self,
        entity_type: str | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        include_deleted: bool = False,
    ) -> tuple[list[EntityLocation], str | None]:
        """A page of registered entities ordered by (type, id), and the next page's cursor."""
        check_limit(limit, MAX_QUERY_LIMIT, "page")
        query = select(ENTITY).where(ENTITY.c.tenant_id == self.tenant())
        if entity_type is not None:
            query = query.where(ENTITY.c.entity_type == entity_type)
        if not include_deleted:
            query = query.where(ENTITY.c.status == "active")
        if cursor:
            after_type, after_id = _decode_cursor(cursor, 2)
            query = query.where(
                tuple_(ENTITY.c.entity_type, ENTITY.c.entity_id) > tuple_(after_type, after_id)
            )
        query = query.order_by(ENTITY.c.entity_type, ENTITY.c.entity_id).limit(limit + 1)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        items = [_sql.location(r) for r in rows[:limit]]
        next_cursor = (
            _encode_cursor(items[-1].entity_type, items[-1].entity_id)
            if len(rows) > limit
            else None
        )
        return items, next_cursor

    async def count_entities(
        self, entity_type: str | None = None, *, include_deleted: bool = False
    ) -> int:
        query = select(func.count()).select_from(ENTITY).where(ENTITY.c.tenant_id == self.tenant())
        if entity_type is not None:
            query = query.where(ENTITY.c.entity_type == entity_type)
        if not include_deleted:
            query = query.where(ENTITY.c.status == "active")
        async with self._read() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def search_entities(
        self,
        text: str,
        *,
        entity_type: str | None = None,
        limit: int = 20,
        hidden: Mapping[str, Collection[str]] | None = None,
    ) -> list[EntitySearchResult]:
        """Active entities of the current tenant matching ``text``, best first.

        Matches the entity's type, id and attribute values. On PostgreSQL the search is
        fuzzy (``"Jhon Smtih"`` finds John Smith; see migration 0002); on SQLite each word
        must occur as written (case-insensitive). An exact id ranks first with score 1.
        ``hidden`` (``{entity_type: top-level attribute names}``): values the caller may
        not read in clear, left out of matching, scores and ``matched``.
        Empty or over-long ``text`` raises :class:`ValidationError`, ``limit`` above
        :data:`~dictamesh.catalog._search.MAX_SEARCH_LIMIT` :class:`QueryLimitExceeded`.

        Example::

            hits = await catalog.search_entities("Jhon Smtih", entity_type="customer")
            hits[0].ref, hits[0].score, hits[0].matched   # EntityRef(...), 0.45, ['name']
        """
        q = _search.check_search(text, limit)
        async with self._read() as conn:
            return await _search.search(
                conn,
                dialect=self.dialect,
                tenant=self.tenant(),
                q=q,
                entity_type=entity_type,
                limit=limit,
                hidden=hidden,
            )

    # --- relationships -------------------------------------------------------------------------

    async def record_relationship(
        self,
        subject: EntityRef,
        relationship_type: str,
        obj: EntityRef,
        *,
        metadata: dict[str, Any] | None = None,
        event_id: str | None = None,
    ) -> bool:
        """Record ``subject --relationship_type--> obj`` as current; True if it was not yet."""
        _check_name(relationship_type, "relationship_type")
        row = {
            "tenant_id": self.tenant(),
            "subject_type": subject.type,
            "subject_id": subject.id,
            "relationship_type": relationship_type,
            "object_type": obj.type,
            "object_id": obj.id,
            "meta": metadata or {},
            "valid_from": self._now(),
            "valid_to": None,
            "created_by_event_id": event_id,
        }
        async with self.write() as conn:
            result = await conn.execute(_sql.relationship_insert(self.dialect), [_rel_params(row)])
        return bool(result.rowcount == 1)

    async def end_relationship(
        self, subject: EntityRef, relationship_type: str, obj: EntityRef
    ) -> None:
        """End the current ``subject --relationship_type--> obj`` (kept as history).

        A relationship that is not current is left alone.
        """
        async with self.write() as conn:
            await conn.execute(
                update(RELS)
                .where(
                    RELS.c.tenant_id == self.tenant(),
                    RELS.c.subject_type == subject.type,
                    RELS.c.subject_id == subject.id,
                    RELS.c.relationship_type == relationship_type,
                    RELS.c.object_type == obj.type,
                    RELS.c.object_id == obj.id,
                    RELS.c.valid_to.is_(None),
                )
                .values(valid_to=self._now())
            )

    async def list_relationships(
        self,
        ref: EntityRef,
        *,
        direction: GraphDirection | str = "out",
        include_history: bool = False,
    ) -> list[RelationshipRecord]:
        """Relationships of ``ref`` (``out``: it is the subject; ``in``: the object)."""
        way = _direction(direction)
        tenant = self.tenant()
        as_subject = (RELS.c.subject_type == ref.type) & (RELS.c.subject_id == ref.id)
        as_object = (RELS.c.object_type == ref.type) & (RELS.c.object_id == ref.id)
        where = {"out": as_subject, "in": as_object, "both": or_(as_subject, as_object)}[way]
        query = select(RELS).where(RELS.c.tenant_id == tenant, where)
        if not include_history:
            query = query.where(RELS.c.valid_to.is_(None))
        query = query.order_by(RELS.c.valid_from, RELS.c.id)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            RelationshipRecord(
                subject=EntityRef(type=r.subject_type, id=r.subject_id),
                relationship_type=r.relationship_type,
                object=EntityRef(type=r.object_type, id=r.object_id),
                metadata=r._mapping["metadata"] or {},
                valid_from=r.valid_from,
                valid_to=r.valid_to,
                created_by_event_id=r.created_by_event_id,
            )
            for r in rows
        ]

    async def query_relationship_graph(
        self,
        root: EntityRef,
        *,
        max_depth: int = 3,
        direction: GraphDirection | str = "both",
        limit: int = 1000,
    ) -> RelationshipGraph:
        """Entities within ``max_depth`` hops of ``root`` over current relationships.

        ``direction``: ``out`` follows subject→object, ``in`` object→subject, ``both`` either
        (``outgoing``/``incoming`` are accepted too). Each node appears once with its
        minimum depth; ``edges`` are all current relationships among the returned nodes.
        At most ``limit`` nodes (nearest first); ``truncated`` says whether more exist.
        Raises :class:`EntityNotFound` if ``root`` is neither registered nor related.
        """
        way = _direction(direction)
        if not isinstance(max_depth, int) or not 1 <= max_depth <= MAX_GRAPH_DEPTH:
            raise ValidationError(
                f"max_depth must be between 1 and {MAX_GRAPH_DEPTH}", max_depth=max_depth
            )
        check_limit(limit, MAX_GRAPH_LIMIT, "graph")
        tenant = self.tenant()
        max_paths = max(_MIN_GRAPH_PATHS, limit * GRAPH_PATHS_PER_NODE)
        async with self._read() as conn:
            rows = await walk_graph(
                conn,
                tenant=tenant,
                root_type=root.type,
                root_id=root.id,
                direction=way,
                max_depth=max_depth,
                node_limit=limit + 1,
                max_paths=max_paths,
            )
            if len(rows.nodes) <= 1 and not await self._known(conn, tenant, root):
                raise EntityNotFound(root.type, root.id)
        truncated = len(rows.nodes) > limit or rows.paths >= max_paths
        kept = rows.nodes[:limit]
        keys = {(t, i) for t, i, _ in kept}
        return RelationshipGraph(
            root=root,
            nodes=[GraphNode(type=t, id=i, depth=d) for t, i, d in kept],
            edges=[
                GraphEdge(
                    subject=EntityRef(type=st, id=si),
                    relationship_type=rel,
                    object=EntityRef(type=ot, id=oi),
                )
                for st, si, rel, ot, oi in rows.edges
                if (st, si) in keys and (ot, oi) in keys
            ],
            max_depth=max_depth,
            direction=way,
            truncated=truncated,
        )

    async def _known(self, conn: AsyncConnection, tenant: str, ref: EntityRef) -> bool:
        """Registered, or an end of some current relationship."""
        if (await conn.execute(self._entity_select(tenant, ref))).first() is not None:
            return True
        as_subject = (RELS.c.subject_type == ref.type) & (RELS.c.subject_id == ref.id)
        as_object = (RELS.c.object_type == ref.type) & (RELS.c.object_id == ref.id)
        related = await conn.execute(
            select(RELS.c.id)
            .where(
                RELS.c.tenant_id == tenant, RELS.c.valid_to.is_(None), or_(as_subject, as_object)
            )
            .limit(1)
        )
        return related.first() is not None

    # --- lineage ---------------------------------------------------------------------------------

    async def track_lineage(
        self,
        upstream: DatasetRef,
        downstream: DatasetRef,
        transformation: str,
        *,
        upstream_entity: EntityRef | None = None,
        downstream_entity: EntityRef | None = None,
        event_id: str | None = None,
    ) -> None:
        """Record that data flows ``upstream`` → ``downstream`` (again: ``occurrences`` += 1)."""
        if not transformation:
            raise ValidationError("transformation must not be empty")
        now = self._now()
        row = _sql.lineage_row(
            self.tenant(),
            upstream,
            downstream,
            transformation,
            upstream_entity=upstream_entity,
            downstream_entity=downstream_entity,
            event_id=event_id,
            now=now,
        )
        async with self.write() as conn:
            await conn.execute(_sql.lineage_upsert(self.dialect), [row])

    async def get_lineage(self, entity_type: str, entity_id: str | None = None) -> LineageView:
        """Lineage of the data product ``dictamesh/<domain>.<entity_type>``.

        Without ``entity_id``: the dataset-level flows into and out of that dataset. With
        it: additionally the entity-level flows of that entity (e.g. invoice → its items).
        """
        tenant = self.tenant()
        async with self._read() as conn:
            dataset = await self._product_dataset(conn, tenant, entity_type, entity_id)
            clauses = []
            if dataset is not None:
                no_entities = (LINEAGE.c.upstream_entity_id == "") & (
                    LINEAGE.c.downstream_entity_id == ""
                )
                clauses.append(
                    no_entities
                    & (
                        (
                            (LINEAGE.c.upstream_namespace == dataset.namespace)
                            & (LINEAGE.c.upstream_name == dataset.name)
                        )
                        | (
                            (LINEAGE.c.downstream_namespace == dataset.namespace)
                            & (LINEAGE.c.downstream_name == dataset.name)
                        )
                    )
                )
            if entity_id is not None:
                clauses.append(
                    (LINEAGE.c.upstream_entity_type == entity_type)
                    & (LINEAGE.c.upstream_entity_id == entity_id)
                )
                clauses.append(
                    (LINEAGE.c.downstream_entity_type == entity_type)
                    & (LINEAGE.c.downstream_entity_id == entity_id)
                )
            rows: Sequence[Row[Any]] = []
            if clauses:
                rows = (
                    await conn.execute(
                        select(LINEAGE)
                        .where(LINEAGE.c.tenant_id == tenant, or_(*clauses))
                        .order_by(LINEAGE.c.first_seen_at, LINEAGE.c.id)
                    )
                ).all()
        upstream: list[LineageRecord] = []
        downstream: list[LineageRecord] = []
        for row in rows:
            record = _sql.lineage_record(row)
            if entity_id is not None and (
                record.downstream_entity is not None or record.upstream_entity is not None
            ):
                is_down = record.downstream_entity == EntityRef(type=entity_type, id=entity_id)
            else:
                is_down = record.downstream == dataset
            (upstream if is_down else downstream).append(record)
        return LineageView(
            entity_type=entity_type,
            entity_id=entity_id,
            dataset=dataset,
            upstream=upstream,
            downstream=downstream,
        )

    async def _product_dataset(
        self, conn: AsyncConnection, tenant: str, entity_type: str, entity_id: str | None
    ) -> DatasetRef | None:
        # The domain of a type: from the registry, else its schema, else a lineage name.
        query = select(ENTITY.c.domain).where(
            ENTITY.c.tenant_id == tenant, ENTITY.c.entity_type == entity_type
        )
        if entity_id is not None:
            query = query.where(ENTITY.c.entity_id == entity_id)
        domain = (await conn.execute(query.limit(1))).scalar()
        if domain is None and entity_id is not None:
            domain = (
                await conn.execute(
                    select(ENTITY.c.domain)
                    .where(ENTITY.c.tenant_id == tenant, ENTITY.c.entity_type == entity_type)
                    .limit(1)
                )
            ).scalar()
        if domain is None:
            text = (
                await conn.execute(
                    select(SCHEMAS.c.schema_text)
                    .where(
                        SCHEMAS.c.tenant_id == tenant,
                        SCHEMAS.c.subject == entity_type,
                        SCHEMAS.c.schema_type == "DICTAMESH",
                        SCHEMAS.c.deleted.is_(False),
                    )
                    .order_by(SCHEMAS.c.version.desc())
                    .limit(1)
                )
            ).scalar()
            if text is not None:
                domain = json.loads(text).get("domain")
        if domain is None:
            names = (
                await conn.execute(
                    select(LINEAGE.c.downstream_name)
                    .where(
                        LINEAGE.c.tenant_id == tenant,
                        LINEAGE.c.downstream_namespace == DATA_PRODUCT_NAMESPACE,
                    )
                    .distinct()
                )
            ).scalars()
            domain = next(
                (n.split(".", 1)[0] for n in names if n.split(".", 1)[-1] == entity_type), None
            )
        return None if domain is None else data_product_dataset(domain, entity_type)

    # --- schemas ---------------------------------------------------------------------------------

    async def register_schema(
        self, schema: EntitySchema, *, compatibility: Compatibility | None = None
    ) -> SchemaVersion:
        """Register ``schema`` under subject ``schema.entity_type`` (type ``DICTAMESH``).

        The same content again returns its existing version. Otherwise it is checked against
        earlier versions under ``compatibility`` (default: the subject's configured level,
        else the global one, else BACKWARD) and refused with
        :class:`SchemaCompatibilityError` listing the reasons. The new version number is
        ``schema.version`` if that is above every existing one, else the next free number.
        """
        return await self._register(
            schema.entity_type,
            "DICTAMESH",
            entity_schema_text(schema),
            _dictamesh_check,
            compatibility=compatibility,
            min_version=schema.version,
        )

    async def register_schema_text(
        self,
        subject: str,
        schema_type: str,
        text: str,
        check: SchemaCheck | None = None,
        *,
        compatibility: Compatibility | None = None,
    ) -> SchemaVersion:
        """Register a schema given as text (the base of a Confluent-compatible registry).

        Versions count up from 1 per subject; the returned ``id`` is global: the same
        canonical text and type under two subjects share one id. Without ``check`` no
        compatibility check is made.
        """
        return await self._register(subject, schema_type, text, check, compatibility=compatibility)

    async def _register(
        self,
        subject: str,
        schema_type: str,
        text: str,
        check: SchemaCheck | None,
        *,
        compatibility: Compatibility | None,
        min_version: int = 1,
    ) -> SchemaVersion:
        if not subject or not subject.strip() or len(subject) > 255:
            raise ValidationError("schema subject must be 1-255 characters", subject=subject)
        if schema_type not in SCHEMA_TYPES:
            raise ValidationError(
                f"schema type must be one of {list(SCHEMA_TYPES)}", schema_type=schema_type
            )
        canonical = canonical_schema_text(text)
        fingerprint = _fingerprint(canonical)
        tenant = self.tenant()
        for attempt in range(3):
            try:
                async with self.write() as conn:
                    return await self._register_in(
                        conn,
                        tenant,
                        subject,
                        schema_type,
                        canonical,
                        fingerprint,
                        check,
                        compatibility,
                        min_version,
                    )
            except IntegrityError as exc:  # a concurrent registration took the version
                if attempt == 2:
                    raise CatalogError(
                        f"could not register a schema under {subject!r}: {exc.orig}"
                    ) from exc
        raise AssertionError("unreachable")

    async def _register_in(
        self,
        conn: AsyncConnection,
        tenant: str,
        subject: str,
        schema_type: str,
        canonical: str,
        fingerprint: str,
        check: SchemaCheck | None,
        compatibility: Compatibility | None,
        min_version: int,
    ) -> SchemaVersion:
        rows = (
            await conn.execute(
                select(SCHEMAS)
                .where(SCHEMAS.c.tenant_id == tenant, SCHEMAS.c.subject == subject)
                .order_by(SCHEMAS.c.version)
            )
        ).all()
        for row in rows:
            if (
                not row.deleted
                and row.fingerprint == fingerprint
                and (row.schema_type == schema_type)
            ):
                return _schema_version(row)
        live = [r for r in rows if not r.deleted]
        level = compatibility or await self._compatibility(conn, tenant, subject)
        if live and check is not None and level is not Compatibility.NONE:
            earlier = live if level.transitive else live[-1:]
            texts = [
                _with_version(r) if schema_type == "DICTAMESH" else r.schema_text for r in earlier
            ]
            reasons = list(check(texts, canonical, level))
            if reasons:
                raise SchemaCompatibilityError(
                    f"schema for {subject!r} is incompatible with version"
                    f"{'s' if len(earlier) > 1 else ''}"
                    f" {', '.join(str(r.version) for r in earlier)} under {level.value}:"
                    f" {'; '.join(reasons)}",
                    subject=subject,
                    compatibility=level.value,
                    reasons=reasons,
                    versions=[r.version for r in earlier],
                )
        version = max(rows[-1].version + 1 if rows else 1, min_version)
        same = (
            await conn.execute(
                select(SCHEMAS.c.schema_id)
                .where(
                    SCHEMAS.c.tenant_id == tenant,
                    SCHEMAS.c.fingerprint == fingerprint,
                    SCHEMAS.c.schema_type == schema_type,
                )
                .order_by(SCHEMAS.c.id)
                .limit(1)
            )
        ).scalar()
        row_id = (
            await conn.execute(
                SCHEMAS.insert()
                .values(
                    schema_id=same or 0,
                    tenant_id=tenant,
                    subject=subject,
                    version=version,
                    schema_type=schema_type,
                    schema_text=canonical,
                    fingerprint=fingerprint,
                    compatibility=level.value,
                    deleted=False,
                    created_at=self._now(),
                )
                .returning(SCHEMAS.c.id)
            )
        ).scalar_one()
        if same is None:
            # A new schema's global id is its first row's id: unique without a sequence.
            await conn.execute(
                update(SCHEMAS).where(SCHEMAS.c.id == row_id).values(schema_id=row_id)
            )
        return SchemaVersion(
            subject=subject,
            version=version,
            id=same or row_id,
            compatibility=level,
            schema_type=schema_type,
            fingerprint=fingerprint,
        )

    async def _compatibility(
        self, conn: AsyncConnection, tenant: str, subject: str
    ) -> Compatibility:
        rows = (
            await conn.execute(
                select(CONFIG.c.subject, CONFIG.c.compatibility).where(
                    CONFIG.c.tenant_id == tenant, CONFIG.c.subject.in_([subject, ""])
                )
            )
        ).all()
        levels = {r.subject: r.compatibility for r in rows}
        level = levels.get(subject) or levels.get("")
        return Compatibility(level) if level else DEFAULT_COMPATIBILITY

    async def get_compatibility(self, subject: str | None = None) -> Compatibility:
        """The level for ``subject`` (its own, else global), or the global one (None)."""
        async with self._read() as conn:
            return await self._compatibility(conn, self.tenant(), subject or "")

    async def get_subject_compatibility(self, subject: str | None = None) -> Compatibility | None:
        """The level configured for ``subject`` itself (None: global), None if unset."""
        async with self._read() as conn:
            level = (
                await conn.execute(
                    select(CONFIG.c.compatibility).where(
                        CONFIG.c.tenant_id == self.tenant(), CONFIG.c.subject == (subject or "")
                    )
                )
            ).scalar()
        return Compatibility(level) if level else None

    async def delete_compatibility(self, subject: str | None = None) -> Compatibility | None:
        """Remove the level of ``subject`` (None: the global one); returns it, None if unset."""
        where = (CONFIG.c.tenant_id == self.tenant(), CONFIG.c.subject == (subject or ""))
        async with self.write() as conn:
            level = (await conn.execute(select(CONFIG.c.compatibility).where(*where))).scalar()
            if level is not None:
                await conn.execute(delete(CONFIG).where(*where))
        return Compatibility(level) if level else None

    async def set_compatibility(self, level: Compatibility, subject: str | None = None) -> None:
        """Set the level of ``subject``, or the global default when ``subject`` is None."""
        level = Compatibility(level)
        ins = _insert(self.dialect, CONFIG)
        stmt = ins.on_conflict_do_update(
            index_elements=[CONFIG.c.tenant_id, CONFIG.c.subject],
            set_={
                "compatibility": ins.excluded.compatibility,
                "updated_at": ins.excluded.updated_at,
            },
        )
        async with self.write() as conn:
            await conn.execute(
                stmt,
                [
                    {
                        "tenant_id": self.tenant(),
                        "subject": subject or "",
                        "compatibility": level.value,
                        "updated_at": self._now(),
                    }
                ],
            )

    async def get_schema(self, entity_type: str, version: int | None = None) -> EntitySchema:
        """The latest (or the given) registered version of ``entity_type``'s schema.

        Raises :class:`NotFoundError` if there is none.
        """
        stored = await self.get_schema_text(entity_type, version, schema_type="DICTAMESH")
        body = json.loads(stored.schema_text)
        body["version"] = stored.version
        return EntitySchema.model_validate(body)

    async def get_schema_text(
        self, subject: str, version: int | None = None, *, schema_type: str | None = None
    ) -> StoredSchema:
        """A stored schema: the latest live version of ``subject``, or ``version``."""
        query = select(SCHEMAS).where(
            SCHEMAS.c.tenant_id == self.tenant(),
            SCHEMAS.c.subject == subject,
            SCHEMAS.c.deleted.is_(False),
        )
        if schema_type is not None:
            query = query.where(SCHEMAS.c.schema_type == schema_type)
        if version is not None:
            query = query.where(SCHEMAS.c.version == version)
        async with self._read() as conn:
            row = (await conn.execute(query.order_by(SCHEMAS.c.version.desc()).limit(1))).first()
        if row is None:
            what = f"version {version} of " if version is not None else ""
            raise NotFoundError(
                f"no {what}schema registered for {subject!r}", subject=subject, version=version
            )
        return _stored_schema(row)

    async def get_schema_by_id(self, schema_id: int) -> StoredSchema:
        """The schema with this global id (the first row that carried it)."""
        async with self._read() as conn:
            row = (
                await conn.execute(
                    select(SCHEMAS)
                    .where(
                        SCHEMAS.c.tenant_id == self.tenant(),
                        SCHEMAS.c.schema_id == schema_id,
                        SCHEMAS.c.fingerprint != _PURGED,
                    )
                    .order_by(SCHEMAS.c.id)
                    .limit(1)
                )
            ).first()
        if row is None:
            raise NotFoundError(f"schema id {schema_id} not found", schema_id=schema_id)
        return _stored_schema(row)

    async def list_schema_versions(self, subject: str) -> list[int]:
        """Live version numbers of ``subject``, ascending ([] if unknown)."""
        async with self._read() as conn:
            rows = await conn.execute(
                select(SCHEMAS.c.version)
                .where(
                    SCHEMAS.c.tenant_id == self.tenant(),
                    SCHEMAS.c.subject == subject,
                    SCHEMAS.c.deleted.is_(False),
                )
                .order_by(SCHEMAS.c.version)
            )
            return [int(v) for v in rows.scalars()]

    async def list_subjects(
        self, *, deleted: bool = False, schema_types: Sequence[str] | None = None
    ) -> list[str]:
        """Subjects with a live version (``deleted``: or a soft-deleted one), sorted;
        ``schema_types`` keeps only subjects with versions of those types."""
        query = select(SCHEMAS.c.subject).where(
            SCHEMAS.c.tenant_id == self.tenant(), SCHEMAS.c.fingerprint != _PURGED
        )
        if not deleted:
            query = query.where(SCHEMAS.c.deleted.is_(False))
        if schema_types is not None:
            query = query.where(SCHEMAS.c.schema_type.in_(list(schema_types)))
        async with self._read() as conn:
            rows = await conn.execute(query.distinct().order_by(SCHEMAS.c.subject))
            return list(rows.scalars())

    async def list_schemas(
        self,
        subject: str | None = None,
        *,
        schema_id: int | None = None,
        deleted: bool = False,
        schema_types: Sequence[str] | None = None,
    ) -> list[StoredSchema]:
        """Stored versions, by subject then version: of ``subject`` and/or carrying the
        global ``schema_id``; live ones only unless ``deleted`` (soft-deleted ones too).
        Permanently deleted versions are never returned."""
        query = select(SCHEMAS).where(
            SCHEMAS.c.tenant_id == self.tenant(), SCHEMAS.c.fingerprint != _PURGED
        )
        if subject is not None:
            query = query.where(SCHEMAS.c.subject == subject)
        if schema_id is not None:
            query = query.where(SCHEMAS.c.schema_id == schema_id)
        if not deleted:
            query = query.where(SCHEMAS.c.deleted.is_(False))
        if schema_types is not None:
            query = query.where(SCHEMAS.c.schema_type.in_(list(schema_types)))
        async with self._read() as conn:
            rows = await conn.execute(query.order_by(SCHEMAS.c.subject, SCHEMAS.c.version))
            return [_stored_schema(row) for row in rows]

    async def delete_schema_version(
        self, subject: str, version: int, *, permanent: bool = False
    ) -> None:
        """Soft-delete one version: hidden from reads and checks; its number is not reused.

        ``permanent`` erases a version (live or soft-deleted): its text is gone, even by id
        (unless another subject shares the id); its number and id are still never reused.
        """
        values: dict[str, Any] = {"deleted": True}
        query = update(SCHEMAS).where(
            SCHEMAS.c.tenant_id == self.tenant(),
            SCHEMAS.c.subject == subject,
            SCHEMAS.c.version == version,
        )
        if permanent:
            query = query.where(SCHEMAS.c.fingerprint != _PURGED)
            values.update(schema_text=_PURGED, fingerprint=_PURGED)
        else:
            query = query.where(SCHEMAS.c.deleted.is_(False))
        async with self.write() as conn:
            result = await conn.execute(query.values(**values))
        if result.rowcount == 0:
            raise NotFoundError(
                f"no version {version} of {subject!r} to delete", subject=subject, version=version
            )

    async def delete_subject(
        self,
        subject: str,
        *,
        permanent: bool = False,
        schema_types: Sequence[str] | None = None,
    ) -> list[int]:
        """Soft-delete every live version of ``subject`` (``permanent``: erase every version,
        as :meth:`delete_schema_version`); returns the version numbers affected, ascending."""
        query = update(SCHEMAS).where(
            SCHEMAS.c.tenant_id == self.tenant(), SCHEMAS.c.subject == subject
        )
        if schema_types is not None:
            query = query.where(SCHEMAS.c.schema_type.in_(list(schema_types)))
        if permanent:
            query = query.where(SCHEMAS.c.fingerprint != _PURGED).values(
                deleted=True, schema_text=_PURGED, fingerprint=_PURGED
            )
        else:
            query = query.where(SCHEMAS.c.deleted.is_(False)).values(deleted=True)
        async with self.write() as conn:
            rows = await conn.execute(query.returning(SCHEMAS.c.version))
            return sorted(int(v) for v in rows.scalars())

    # --- event log -------------------------------------------------------------------------------

    async def record_event(self, event: ChangeEvent, topic: str) -> bool:
        """Append ``event`` to the log; False if its ``event_id`` is already there.

        Only logs: applying an event to the registry is :class:`CatalogIngestor`'s job.
        """
        row = _sql.event_log_row(event, topic, self.tenant(event.tenant_id), self._now())
        async with self.write(row["tenant_id"]) as conn:
            result = await conn.execute(_sql.event_log_insert(self.dialect), [row])
        return bool(result.rowcount == 1)

    async def get_event_log(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        limit: int = 100,
        since_ms: int | None = None,
    ) -> list[EventLogRecord]:
        """Logged events, newest (by event time) first; ``since_ms`` is inclusive."""
        check_limit(limit, MAX_EVENT_LOG_LIMIT, "event log")
        query = select(EVENTS).where(EVENTS.c.tenant_id == self.tenant())
        if entity_type is not None:
            query = query.where(EVENTS.c.entity_type == entity_type)
        if entity_id is not None:
            query = query.where(EVENTS.c.entity_id == entity_id)
        if since_ms is not None:
            query = query.where(EVENTS.c.event_timestamp >= since_ms)
        query = query.order_by(EVENTS.c.event_timestamp.desc(), EVENTS.c.id.desc()).limit(limit)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [_sql.log_record(r) for r in rows]

    async def prune_event_log(self, older_than: datetime | timedelta) -> int:
        """Retention: delete log rows *recorded* before ``older_than`` (a time, or an age).

        The only way rows ever leave the log. A pruned event that is delivered again is
        logged and applied again (the registry's version check still drops stale data).
        Runs across all tenants (:meth:`tenants`), one transaction per tenant: row-level
        security lets each see its own rows only. Returns the number of rows deleted.
        """
        cutoff = self._now() - older_than if isinstance(older_than, timedelta) else older_than
        deleted = 0
        for tenant in await self.tenants():
            async with self.write(tenant) as conn:
                result = await conn.execute(
                    delete(EVENTS).where(
                        EVENTS.c.tenant_id == tenant, EVENTS.c.recorded_at < cutoff
                    )
                )
            deleted += int(result.rowcount)
        return deleted

    async def tenants(self) -> list[str]:
        """Every tenant with rows in the catalog, sorted: for jobs that work across tenants
        (retention), which then act tenant by tenant.

        On PostgreSQL the application's role sees one tenant per transaction (row-level
        security), so this asks ``dictamesh_catalog_tenants()`` (migration 0004), which runs
        as the tables' owner and returns names only. Tenants with relationships only are
        not listed.
        """
        async with self._read() as conn:
            if self.dialect == "postgresql":
                rows = await conn.execute(
                    sql_text("SELECT t FROM dictamesh_catalog_tenants() AS t")
                )
            else:
                rows = await conn.execute(
                    union(*(select(table.c.tenant_id) for table in _TENANT_LISTED))
                )
            return sorted(str(t) for t in rows.scalars())

    # --- cache status ----------------------------------------------------------------------------

    async def set_cache_status(
        self,
        ref: EntityRef,
        layer: str,
        *,
        cached_at: datetime,
        expires_at: datetime | None,
        event_id: str | None = None,
    ) -> None:
        """Record that ``layer`` (``l1``, ``l2``…) now caches ``ref`` (clears invalidation)."""
        if not layer or len(layer) > 16:
            raise ValidationError("cache layer must be 1-16 characters", layer=layer)
        ins = _insert(self.dialect, CACHE)
        stmt = ins.on_conflict_do_update(
            index_elements=[
                CACHE.c.tenant_id,
                CACHE.c.entity_type,
                CACHE.c.entity_id,
                CACHE.c.layer,
            ],
            set_={
                "cached_at": ins.excluded.cached_at,
                "expires_at": ins.excluded.expires_at,
                "invalidated_at": None,
                "last_event_id": func.coalesce(ins.excluded.last_event_id, CACHE.c.last_event_id),
            },
        )
        row = {
            "tenant_id": self.tenant(),
            "entity_type": ref.type,
            "entity_id": ref.id,
            "layer": layer,
            "cached_at": cached_at,
            "expires_at": expires_at,
            "invalidated_at": None,
            "last_event_id": event_id,
        }
        async with self.write() as conn:
            await conn.execute(stmt, [row])

    async def mark_cache_invalidated(self, ref: EntityRef, *, event_id: str | None = None) -> int:
        """Mark every layer's copy of ``ref`` invalidated now; returns how many layers."""
        async with self.write() as conn:
            result = await conn.execute(
                update(CACHE)
                .where(
                    CACHE.c.tenant_id == self.tenant(),
                    CACHE.c.entity_type == ref.type,
                    CACHE.c.entity_id == ref.id,
                )
                .values(
                    invalidated_at=self._now(),
                    last_event_id=func.coalesce(event_id, CACHE.c.last_event_id),
                )
            )
        return int(result.rowcount)

    async def get_cache_status(self, ref: EntityRef) -> list[CacheStatusRecord]:
        async with self._read() as conn:
            rows = (
                await conn.execute(
                    select(CACHE)
                    .where(
                        CACHE.c.tenant_id == self.tenant(),
                        CACHE.c.entity_type == ref.type,
                        CACHE.c.entity_id == ref.id,
                    )
                    .order_by(CACHE.c.layer)
                )
            ).all()
        return [CacheStatusRecord.model_validate(dict(r._mapping)) for r in rows]

    # --- health ----------------------------------------------------------------------------------

    async def stats(self) -> dict[str, int]:
        """Row counts for health pages and metrics (current tenant; one query)."""
        tenant = self.tenant()

        def count(table: Table, *where: Any) -> Any:
            return (
                select(func.count())
                .select_from(table)
                .where(table.c.tenant_id == tenant, *where)
                .scalar_subquery()
            )

        query = select(
            count(ENTITY, ENTITY.c.status == "active").label("entities"),
            count(ENTITY, ENTITY.c.status == "deleted").label("entities_deleted"),
            count(RELS, RELS.c.valid_to.is_(None)).label("relationships"),
            count(RELS, RELS.c.valid_to.is_not(None)).label("relationships_ended"),
            count(SCHEMAS, SCHEMAS.c.deleted.is_(False)).label("schemas"),
            count(EVENTS).label("events"),
            count(LINEAGE).label("lineage"),
            count(CACHE).label("cache_status"),
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).one()
        return {key: int(value) for key, value in row._mapping.items()}


# --- helpers ---------------------------------------------------------------------------------


def _insert(dialect: str, table: Table) -> Any:
    return insert_for(dialect, table)


def _direction(direction: str) -> GraphDirection:
    way = cast("GraphDirection | None", _DIRECTIONS.get(direction))
    if way is None:
        raise ValidationError(
            f"unknown direction {direction!r}: use one of {list(get_args(GraphDirection))}",
            direction=direction,
        )
    return way


def _rel_params(row: dict[str, Any]) -> dict[str, Any]:
    # The ORM attribute is ``meta``; the column (and so the Core parameter) is ``metadata``.
    params = dict(row)
    params["metadata"] = params.pop("meta")
    return params


def _with_version(row: Any) -> str:
    # Stored DICTAMESH texts leave the version out; the check's reasons should name it.
    body = json.loads(row.schema_text)
    body["version"] = row.version
    return json.dumps(body)


def _schema_version(row: Any) -> SchemaVersion:
    return SchemaVersion(
        subject=row.subject,
        version=row.version,
        id=row.schema_id,
        compatibility=Compatibility(row.compatibility),
        schema_type=row.schema_type,
        fingerprint=row.fingerprint,
    )


def _stored_schema(row: Any) -> StoredSchema:
    return StoredSchema(
        id=row.schema_id,
        subject=row.subject,
        version=row.version,
        schema_type=row.schema_type,
        schema_text=row.schema_text,
        fingerprint=row.fingerprint,
        compatibility=Compatibility(row.compatibility),
        deleted=bool(row.deleted),
        created_at=row.created_at,
    )
