"""Change events → catalog: event log, entity registry, relationships and lineage.

:class:`CatalogIngestor` applies each event (or a whole batch) in **one transaction**: a crash
leaves either everything of it or nothing, and a redelivered event is recognised by its
``event_id`` and skipped — so at-least-once delivery gives exactly-once effects.

For every event not seen before:

1. it is appended to ``dictamesh_event_log``;
2. the registry row of ``event.entity`` is upserted from ``event.after`` (the full snapshot);
   ``DELETED`` marks it deleted (its last snapshot is kept);
3. relationships are derived from the type's schema (``relationships`` via their
   ``via_field``; every ``nested`` object list item becomes a child entity
   ``<parent id>:<item id>`` with ``parent --has_item--> child`` and the child's own
   relationships). Relationships the new snapshot no longer implies are ended
   (``valid_to``), new ones opened — history is kept. ``DELETED`` ends all of the entity's
   (and its children's) outgoing relationships and marks its children deleted;
4. lineage: ``<source.system>/<collection>`` → ``dictamesh/<domain>.<entity_type>`` with
   transformation ``adapter:<domain>.<system>`` (the collection defaults to the entity
   type), and for children ``dictamesh/<domain>.<parent>`` → ``dictamesh/<domain>.<child>``
   (``nested:<field>``) at dataset and entity level.

Out-of-order events: an event whose entity version is *lower* than the registry's is logged
(and counted in lineage) but changes neither the registry nor relationships. Equal versions
are applied (a re-sent snapshot).

Example::

    ingestor = CatalogIngestor(catalog, {"invoice": invoice_schema})
    await ingestor.handle(event, "billing.shop.entity_changed")     # True: applied
    await ingestor.handle(event, "billing.shop.entity_changed")     # False: already seen
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

import dictamesh.catalog._pg_ingest as _pg
import dictamesh.catalog._sql as _sql
from dictamesh.catalog._derive import NESTED_RELATIONSHIP, Derived, DerivedChild, derive
from dictamesh.catalog.lineage_store import DATA_PRODUCT_NAMESPACE
from dictamesh.catalog.service import CatalogService
from dictamesh.catalog.system_outbox import (
    SystemNotice,
    SystemOutboxStore,
    entity_notice,
    iso,
    ms_iso,
    relationship_notice,
)
from dictamesh.catalog.tables import ENTITY, RELS
from dictamesh.core.context import current_tenant
from dictamesh.core.models import ChangeEvent, EntityRef, EntitySchema, EventType
from dictamesh.observability.tracing import traced

__all__ = [
    "CatalogIngestor",
    "CreatedRelationship",
    "IngestOutcome",
    "IngestStats",
    "RegisteredEntity",
]

log = logging.getLogger(__name__)

Key = tuple[str, str, str]
"""(tenant, entity type, entity id)"""
Link = tuple[str, str, str]
"""(relationship type, object type, object id)"""
_K = TypeVar("_K", bound=tuple[str, ...])


@dataclass(slots=True)
class IngestStats:
    """Counters since the ingestor was created (for metrics)."""

    events: int = 0
    duplicates: int = 0
    stale: int = 0
    batches: int = 0


@dataclass(frozen=True, slots=True)
class RegisteredEntity:
    """An entity a batch made known and active (no row before, or a deleted one)."""

    tenant: str
    type: str
    id: str
    domain: str
    source_system: str
    version: int
    #: the event that registered it
    event_id: str
    #: a nested item's parent entity, else None
    parent: EntityRef | None = None


@dataclass(frozen=True, slots=True)
class CreatedRelationship:
    """A relationship a batch opened (a new row of the relationship history)."""

    tenant: str
    subject: EntityRef
    relationship_type: str
    object: EntityRef
    metadata: dict[str, Any]
    valid_from: datetime
    #: set when the same batch already ended it again
    valid_to: datetime | None
    #: the event that implied it
    event_id: str


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What one :meth:`CatalogIngestor.apply_batch` committed (built after the commit).

    Listeners (system topics, OpenLineage) read it; it holds nothing of a batch whose
    transaction failed.
    """

    #: events new to the catalog (the rest were duplicates)
    applied: int
    duplicates: int
    #: applied events older than the registry's version (logged only)
    stale: int
    #: the new events and their topics, in batch order (per tenant)
    events: tuple[tuple[ChangeEvent, str], ...] = ()
    registered: tuple[RegisteredEntity, ...] = ()
    relationships: tuple[CreatedRelationship, ...] = ()
    #: system-topic notices written to the outbox with the change (``outbox=True``)
    notices: int = 0


@dataclass(slots=True)
class _State:
    version: int
    attributes: dict[str, Any]
    status: str


@dataclass(slots=True)
class _Edge:
    valid_from: datetime
    db_id: int | None = None
    row: dict[str, Any] | None = None  # not yet inserted


@dataclass(slots=True)
class _Fresh:
    event: ChangeEvent
    topic: str
    event_id: str
    tenant: str
    #: the event's ``after`` and ``before`` as stored (JSON values)
    after: dict[str, Any] | None
    before: dict[str, Any] | None
    derived: Derived | None


#: fields whose defaults differ on every decode: a received JSON document lacking one is not
#: the event the catalog applies, so it is stored re-encoded instead
_UNSTABLE_DEFAULTS = frozenset({"event_id", "timestamp"})


def _received_json(event: ChangeEvent, raw: bytes | str | None) -> str | None:
    """``raw`` as text if it can stand for ``event`` in the log, else None."""
    if raw is None or not event.model_fields_set >= _UNSTABLE_DEFAULTS:
        return None
    if isinstance(raw, str):
        return raw
    try:
        return bytes(raw).decode()
    except UnicodeDecodeError:
        return None


class CatalogIngestor:
    """Applies change events to a :class:`CatalogService`, idempotently.

    ``schemas``: entity type → schema (relationships and nested lists are derived from it;
    events of other types are registered without relationships). ``collections``: entity
    type → the source's name for its dataset (lineage upstream), default the entity type.
    ``outbox``: also write a system-topic notice (:mod:`dictamesh.catalog.system_outbox`)
    for every entity registered and relationship created, in the same transaction.
    """

    def __init__(
        self,
        catalog: CatalogService,
        schemas: Mapping[str, EntitySchema],
        *,
        collections: Mapping[str, str] | None = None,
        outbox: bool = False,
    ) -> None:
        self.catalog = catalog
        self.outbox = SystemOutboxStore(catalog.database) if outbox else None
        self.schemas = schemas
        self.collections = dict(collections or {})
        self.stats = IngestStats()
        # PostgreSQL: force custom plans until the registry has statistics (_sql.PG_CUSTOM_PLANS)
        self._custom_plans = True
        self._managed: dict[str, frozenset[tuple[str, str]]] = {}
        for schema in schemas.values():
            self._collect(schema)

    def _collect(self, schema: EntitySchema) -> None:
        if schema.entity_type in self._managed:
            return
        links = {(r.relationship_type, r.target_type) for r in schema.relationships}
        links |= {(NESTED_RELATIONSHIP, n.entity_type) for n in schema.nested.values()}
        self._managed[schema.entity_type] = frozenset(links)
        for nested in schema.nested.values():
            self._collect(nested)

    def managed(self, entity_type: str) -> frozenset[tuple[str, str]]:
        """(relationship type, object type) pairs ingest derives for ``entity_type``.

        Only these are ended when a snapshot no longer implies them, so relationships
        recorded by other means (``record_relationship``) survive updates.
        """
        return self._managed.get(entity_type, frozenset())

    async def handle(self, event: ChangeEvent, topic: str) -> bool:
        """Apply one event; False if its ``event_id`` was already ingested."""
        return await self.handle_batch([(event, topic)]) == 1

    async def handle_batch(
        self,
        events: Sequence[tuple[ChangeEvent, str]],
        *,
        payloads: Sequence[bytes | str | None] | None = None,
    ) -> int:
        """:meth:`apply_batch`; returns how many events were new."""
        return (await self.apply_batch(events, payloads=payloads)).applied

    @traced(
        "catalog.ingest", attributes=lambda _self, events, **_: {"dictamesh.events": len(events)}
    )
    async def apply_batch(
        self,
        events: Sequence[tuple[ChangeEvent, str]],
        *,
        payloads: Sequence[bytes | str | None] | None = None,
    ) -> IngestOutcome:
        """Apply events in order, all in one transaction; what was new (after the commit).

        A batch may mix tenants: it is applied tenant by tenant (each tenant's events in
        their order; tenants share no rows), inside the one transaction, with the
        transaction's tenant switched for each part (row-level security on PostgreSQL) and
        :data:`~dictamesh.core.context.current_tenant` bound to it. Event ids are
        deduplicated per tenant.

        ``payloads`` (parallel to ``events``, None where unknown): the JSON text each event
        was decoded from. The event log then stores it as received instead of re-encoding
        the event (only if it names the event's id and timestamp, whose defaults would
        differ on every decode).
        """
        catalog = self.catalog
        if payloads is not None and len(payloads) != len(events):
            raise ValueError("payloads must be parallel to events")
        unique: dict[tuple[str, str], tuple[ChangeEvent, str, bytes | str | None]] = {}
        for position, (event, topic) in enumerate(events):
            key = (catalog.tenant(event.tenant_id), str(event.event_id))
            if key not in unique:
                unique[key] = (event, topic, payloads[position] if payloads else None)
        if not unique:
            return IngestOutcome(applied=0, duplicates=len(events), stale=0)
        now = catalog.database.now()
        postgres = catalog.dialect == "postgresql"
        dumps = _json_dumps(catalog)
        # tenant -> its events and log rows, in batch order (PostgreSQL: rows as tuples in
        # _pg.LOG_COLUMNS order, SQLite: dicts for executemany)
        groups: dict[str, tuple[list[_Fresh], list[Any]]] = {}
        for (tenant, event_id), (event, topic, raw) in unique.items():
            text = _received_json(event, raw)
            if text is None:
                payload = event.model_dump(mode="json")
                after, before = payload["after"], payload["before"]
                text = dumps(payload)
            else:  # decoded from JSON: after and before hold JSON values already
                after, before = event.after, event.before
            derived = None
            if event.event_type is not EventType.DELETED and after is not None:
                derived = derive(
                    event.entity.type, event.entity.id, after, self.schemas.get(event.entity.type)
                )
            prepared, log_rows = groups.setdefault(tenant, ([], []))
            prepared.append(_Fresh(event, topic, event_id, tenant, after, before, derived))
            trace_id = event.trace_context.trace_id if event.trace_context else None
            if postgres:
                log_rows.append(
                    (
                        event_id,
                        topic,
                        event.event_type.value,
                        event.entity.type,
                        event.entity.id,
                        event.entity.version,
                        event.source.domain,
                        event.source.system,
                        dumps(list(event.changed_fields)),
                        text,
                        trace_id,
                        event.timestamp,
                    )
                )
            else:
                log_rows.append(_sql.event_log_row(event, topic, tenant, now, text))

        stale = fresh_count = notices = 0
        applied: list[tuple[ChangeEvent, str]] = []
        registered: list[RegisteredEntity] = []
        relationships: list[CreatedRelationship] = []
        tenants = list(groups)
        async with catalog.write(tenants[0]) as conn:
            if postgres and self._custom_plans:
                analyzed = (await conn.execute(_sql.PG_CUSTOM_PLANS)).one().analyzed
                self._custom_plans = not analyzed
            for position, tenant in enumerate(tenants):
                if position:
                    await catalog.set_tenant(conn, tenant)
                prepared, log_rows = groups[tenant]
                token = current_tenant.set(tenant)
                try:
                    registry: dict[Key, _State] | None = None
                    if postgres:
                        inserted, registry = await _pg_log(conn, tenant, now, prepared, log_rows)
                    else:
                        inserted = await _insert_log(conn, catalog.dialect, log_rows)
                    fresh = [f for f in prepared if f.event_id in inserted]
                    if fresh:
                        batch = _Batch(self, conn, tenant, now, dumps)
                        await batch.load(fresh, registry)
                        for item in fresh:
                            batch.apply(item)
                        await batch.flush()
                        stale += batch.stale
                        notices += batch.notices
                        applied.extend((f.event, f.topic) for f in fresh)
                        registered.extend(batch.registered)
                        relationships.extend(batch.created())
                finally:
                    current_tenant.reset(token)
                fresh_count += len(fresh)
        # Counted only once committed: a failed transaction is retried and counts then.
        self.stats.stale += stale
        self.stats.batches += 1
        self.stats.events += fresh_count
        self.stats.duplicates += len(events) - fresh_count
        return IngestOutcome(
            applied=fresh_count,
            duplicates=len(events) - fresh_count,
            stale=stale,
            events=tuple(applied),
            registered=tuple(registered),
            relationships=tuple(relationships),
            notices=notices,
        )


def _in_key_order(rows: Mapping[_K, dict[str, Any]]) -> list[dict[str, Any]]:
    return [rows[key] for key in sorted(rows)]


def _json_dumps(catalog: CatalogService) -> Callable[[Any], str]:
    """The engine's JSON serializer (as SQLAlchemy's JSON type would use), else json.dumps."""
    dumps = getattr(catalog.engine.dialect, "_json_serializer", None)
    return dumps if dumps is not None else json.dumps


async def _pg_log(
    conn: AsyncConnection,
    tenant: str,
    now: datetime,
    prepared: list[_Fresh],
    rows: list[tuple[Any, ...]],
) -> tuple[set[str], dict[Key, _State]]:
    """Append one tenant's events to the log; the ids inserted and the registry state of
    their entities (one statement: :func:`_pg_ingest.log_and_registry`)."""
    # The snapshot is read only where an event without ``after`` needs it (a deletion, a
    # metadata-only change): otherwise it would be sent back and decoded for nothing.
    keys: dict[tuple[str, str], bool] = {}
    for item in prepared:
        ref = (item.event.entity.type, item.event.entity.id)
        keys[ref] = keys.get(ref, False) or item.after is None
    columns = zip(*rows, strict=True)  # prepared (so rows) is never empty
    params: dict[str, Any] = {
        name: list(values) for (name, _), values in zip(_pg.LOG_COLUMNS, columns, strict=True)
    }
    params.update(
        tenant=tenant,
        recorded_at=_sql.aware(now),
        key_types=[t for t, _ in keys],
        key_ids=[i for _, i in keys],
        key_full=list(keys.values()),
    )
    inserted: set[str] = set()
    registry: dict[Key, _State] = {}
    result = await conn.execute(_pg.log_and_registry(), params)
    for kind, first, entity_id, version, attributes, status in result:
        if kind == 0:
            inserted.add(first)
        else:
            registry[(tenant, first, entity_id)] = _State(version, attributes or {}, status)
    return inserted, registry


async def _insert_log(conn: AsyncConnection, dialect: str, rows: list[dict[str, Any]]) -> set[str]:
    """Insert one tenant's log rows (SQLite), skipping its known event ids; the ids inserted."""
    inserted: set[str] = set()
    stmt = _sql.event_log_insert_text(dialect)
    for chunk in _sql.chunks(rows):
        result = await conn.execute(stmt, list(chunk))
        inserted.update(result.scalars())
    return inserted


_REGISTRY_SELECT = select(
    ENTITY.c.tenant_id,
    ENTITY.c.entity_type,
    ENTITY.c.entity_id,
    ENTITY.c.version,
    ENTITY.c.attributes,
    ENTITY.c.status,
).where(
    ENTITY.c.tenant_id.in_(bindparam("tenants", expanding=True)),
    ENTITY.c.entity_type.in_(bindparam("types", expanding=True)),
    ENTITY.c.entity_id.in_(bindparam("ids", expanding=True)),
)
_EDGES_SELECT = select(
    RELS.c.tenant_id,
    RELS.c.subject_type,
    RELS.c.subject_id,
    RELS.c.id,
    RELS.c.relationship_type,
    RELS.c.object_type,
    RELS.c.object_id,
    RELS.c.valid_from,
).where(
    RELS.c.tenant_id.in_(bindparam("tenants", expanding=True)),
    RELS.c.subject_type.in_(bindparam("types", expanding=True)),
    RELS.c.subject_id.in_(bindparam("ids", expanding=True)),
    RELS.c.valid_to.is_(None),
)


class _Batch:
    """In-memory view of the touched part of the catalog while a batch is applied.

    Loaded with a few set-based queries, changed per event in memory (so intermediate
    relationship history inside one batch is preserved), written back with one statement
    per table: ``executemany`` on SQLite; on PostgreSQL the registry through a COPY-filled
    staging table (:mod:`~dictamesh.catalog._pg_ingest`), the few relationship and lineage
    rows as arrays (``unnest``).
    """

    def __init__(
        self,
        ingestor: CatalogIngestor,
        conn: AsyncConnection,
        tenant: str,
        now: datetime,
        dumps: Callable[[Any], str],
    ) -> None:
        self.ingestor = ingestor
        self.conn = conn
        self.tenant = tenant  # a batch part is one tenant's
        self.now = now
        self.dumps = dumps
        self.dialect = ingestor.catalog.dialect
        self.registry: dict[Key, _State] = {}
        self.edges: dict[Key, dict[Link, _Edge]] = {}
        self.upserts: dict[Key, dict[str, Any]] = {}
        self.deletes: dict[Key, dict[str, Any]] = {}
        self.new_edges: list[dict[str, Any]] = []
        self.ended: list[dict[str, Any]] = []
        self.lineage: dict[tuple[str, ...], dict[str, Any]] = {}
        self.known_attributes: dict[Key, dict[str, Any]] = {}
        self.stale = 0
        #: entities this batch made known and active, in order
        self.registered: list[RegisteredEntity] = []
        #: event id -> event time (ms), for the notices of the edges it opened
        self.event_times: dict[str, int] = {}
        self.notices = 0

    # --- loading --------------------------------------------------------------------------

    async def load(self, fresh: list[_Fresh], registry: dict[Key, _State] | None) -> None:
        """Read what the batch needs; ``registry``: its entities' rows, if already read."""
        if registry is None:
            await self._load_registry(
                {(f.tenant, f.event.entity.type, f.event.entity.id) for f in fresh}
            )
        else:
            self.registry = registry
        # Edges matter only where the ingestor manages some (or the entity is deleted).
        subjects = {
            (f.tenant, f.event.entity.type, f.event.entity.id)
            for f in fresh
            if f.event.event_type is EventType.DELETED or self.ingestor.managed(f.event.entity.type)
        }
        for f in fresh:
            if f.derived is not None:
                subjects.update((f.tenant, c.type, c.id) for c in f.derived.children)
        # Children are found through current has_item edges, possibly several levels deep.
        while subjects:
            await self._load_edges(subjects)
            subjects = {
                (key[0], obj_type, obj_id)
                for key in list(self.edges)
                for (rel, obj_type, obj_id) in self.edges[key]
                if rel == NESTED_RELATIONSHIP
            } - self.edges.keys()

    @staticmethod
    def _params(keys: set[Key]) -> list[dict[str, list[str]]]:
        tenants = sorted({k[0] for k in keys})
        types = sorted({k[1] for k in keys})
        ids = sorted({k[2] for k in keys})
        return [
            {"tenants": tenants, "types": types, "ids": list(chunk)} for chunk in _sql.chunks(ids)
        ]

    @staticmethod
    def _pg_params(keys: set[Key]) -> tuple[str, dict[str, Any]]:
        """The tenant of ``keys`` (a batch part is one tenant's) and the lookup's arrays."""
        (tenant,) = {k[0] for k in keys}
        ordered = sorted(keys)
        return tenant, {
            "tenant": tenant,
            "types": [k[1] for k in ordered],
            "ids": [k[2] for k in ordered],
        }

    async def _load_registry(self, keys: set[Key]) -> None:
        """SQLite (PostgreSQL reads the registry with the log insert, see ``_pg_log``)."""
        # One prepared statement for any mix of tenants/types; the superset it may return
        # (same id, other type) is filtered here.
        for params in self._params(keys):
            for (
                tenant,
                entity_type,
                entity_id,
                version,
                attributes,
                status,
            ) in await self.conn.execute(_REGISTRY_SELECT, params):
                key = (tenant, entity_type, entity_id)
                if key in keys:
                    self.registry[key] = _State(version, attributes or {}, status)

    async def _load_edges(self, keys: set[Key]) -> None:
        for key in keys:
            self.edges.setdefault(key, {})
        if self.dialect == "postgresql":
            tenant, params = self._pg_params(keys)
            result = await self.conn.execute(_sql.pg_edges_lookup(), params)
            for subject_type, subject_id, rid, rel, obj_type, obj_id, valid_from in result:
                self.edges[(tenant, subject_type, subject_id)][(rel, obj_type, obj_id)] = _Edge(
                    valid_from=valid_from, db_id=rid
                )
            return
        for params in self._params(keys):
            for (
                tenant,
                subject_type,
                subject_id,
                rid,
                rel,
                obj_type,
                obj_id,
                valid_from,
            ) in await self.conn.execute(_EDGES_SELECT, params):
                subject = (tenant, subject_type, subject_id)
                if subject in keys:
                    self.edges[subject][(rel, obj_type, obj_id)] = _Edge(
                        valid_from=valid_from, db_id=rid
                    )

    # --- applying ---------------------------------------------------------------------------

    def apply(self, item: _Fresh) -> None:
        event, tenant = item.event, item.tenant
        self.event_times[item.event_id] = event.timestamp
        key: Key = (tenant, event.entity.type, event.entity.id)
        event_id = item.event_id
        at = _sql.ms_to_datetime(event.timestamp)
        self._dataset_lineage(item)
        state = self.registry.get(key)
        if state is not None and event.entity.version < state.version:
            self.stale += 1
            log.debug(
                "event %s: %s %s version %d < %d in the catalog; logged only",
                event_id,
                event.entity.type,
                event.entity.id,
                event.entity.version,
                state.version,
            )
            return
        old_children = self._descendants(key)
        if event.event_type is EventType.DELETED:
            attributes = state.attributes if state else (item.before or {})
            self._put(key, item, attributes, source_id=event.entity.id, deleted=True)
            for subject in (key, *old_children):
                self._sync(subject, {}, at, event_id, None)
            for old in old_children:
                self._put_child_deleted(old, item)
            self.registry[key] = _State(event.entity.version, attributes, "deleted")
            return

        if state is None or state.status == "deleted":
            self._registered(key, item, event.source.domain)
        derived = item.derived
        if item.after is not None:
            attributes = item.after
        else:  # a metadata-only change: keep the last snapshot
            attributes = state.attributes if state else {}
            derived = derive(
                key[1], key[2], attributes, self.ingestor.schemas.get(event.entity.type)
            )
        assert derived is not None
        self._put(key, item, attributes, source_id=event.entity.id, deleted=False)
        wanted: dict[Key, dict[Link, dict[str, Any]]] = defaultdict(dict)
        for (st, si, rel, ot, oi), meta in derived.edges.items():
            wanted[(tenant, st, si)][(rel, ot, oi)] = meta
        new_children: set[Key] = set()
        for child in derived.children:
            child_key: Key = (tenant, child.type, child.id)
            new_children.add(child_key)
            if child_key not in old_children:  # a child exists only as a current child
                self._registered(
                    child_key,
                    item,
                    child.domain,
                    EntityRef(type=child.parent_type, id=child.parent_id),
                )
            self.known_attributes[child_key] = child.attributes
            self._put(
                child_key,
                item,
                child.attributes,
                source_id=child.source_id,
                deleted=False,
                domain=child.domain,
            )
            self._nested_lineage(item, child)
        managed = self.ingestor.managed
        for subject in (key, *new_children):
            self._sync(subject, wanted.get(subject, {}), at, event_id, managed(subject[1]))
        for child_key in old_children:
            if child_key not in new_children:  # gone from the list: the child is deleted
                self._sync(child_key, {}, at, event_id, None)
                self._put_child_deleted(child_key, item)
        self.registry[key] = _State(event.entity.version, attributes, "active")

    def _registered(
        self, key: Key, item: _Fresh, domain: str, parent: EntityRef | None = None
    ) -> None:
        event = item.event
        self.registered.append(
            RegisteredEntity(
                tenant=key[0],
                type=key[1],
                id=key[2],
                domain=domain,
                source_system=event.source.system,
                version=event.entity.version,
                event_id=item.event_id,
                parent=parent,
            )
        )

    def created(self) -> list[CreatedRelationship]:
        """The relationships this batch opened (rows as flushed)."""
        return [
            CreatedRelationship(
                tenant=row["tenant_id"],
                subject=EntityRef(type=row["subject_type"], id=row["subject_id"]),
                relationship_type=row["relationship_type"],
                object=EntityRef(type=row["object_type"], id=row["object_id"]),
                metadata=row["metadata"],
                valid_from=row["valid_from"],
                valid_to=row["valid_to"],
                event_id=row["created_by_event_id"],
            )
            for row in self.new_edges
        ]

    def _notices(self) -> list[SystemNotice]:
        at = iso(self.now)
        times = {event_id: ms_iso(ms) for event_id, ms in self.event_times.items()}
        notices = [
            entity_notice(
                r.tenant,
                r.type,
                r.id,
                domain=r.domain,
                source_system=r.source_system,
                entity_version=r.version,
                event_id=r.event_id,
                event_time=times[r.event_id],
                at=at,
                parent=None if r.parent is None else (r.parent.type, r.parent.id),
            )
            for r in self.registered
        ]
        notices.extend(
            relationship_notice(row, event_time=times[row["created_by_event_id"]], at=at)
            for row in self.new_edges
        )
        return notices

    def _descendants(self, key: Key) -> list[Key]:
        found: list[Key] = []
        todo = [key]
        while todo:
            current = todo.pop()
            for rel, obj_type, obj_id in self.edges.get(current, {}):
                child = (key[0], obj_type, obj_id)
                if rel == NESTED_RELATIONSHIP and child not in found and child != key:
                    found.append(child)
                    todo.append(child)
        return found

    def _sync(
        self,
        subject: Key,
        wanted: dict[Link, dict[str, Any]],
        at: datetime,
        event_id: str,
        managed: frozenset[tuple[str, str]] | None,
    ) -> None:
        """Make ``subject``'s current edges match ``wanted``; only edges of a ``managed``
        (relationship type, object type) are ended (None: all, the subject is gone)."""
        current = self.edges.setdefault(subject, {})
        stale = [
            link
            for link in current
            if link not in wanted and (managed is None or (link[0], link[1]) in managed)
        ]
        for link in stale:
            edge = current.pop(link)
            ended = max(at, edge.valid_from)
            if edge.row is not None:
                edge.row["valid_to"] = ended
            else:
                self.ended.append({"rid": edge.db_id, "ended": ended})
        for link, meta in wanted.items():
            if link in current:
                continue
            rel, obj_type, obj_id = link
            row = {
                "tenant_id": subject[0],
                "subject_type": subject[1],
                "subject_id": subject[2],
                "relationship_type": rel,
                "object_type": obj_type,
                "object_id": obj_id,
                "metadata": meta,
                "valid_from": at,
                "valid_to": None,
                "created_by_event_id": event_id,
            }
            self.new_edges.append(row)
            current[link] = _Edge(valid_from=at, row=row)

    def _put(
        self,
        key: Key,
        item: _Fresh,
        attributes: dict[str, Any],
        *,
        source_id: str,
        deleted: bool,
        domain: str | None = None,
    ) -> None:
        event = item.event
        row = {
            "tenant_id": key[0],
            "entity_type": key[1],
            "entity_id": key[2],
            "domain": domain or event.source.domain,
            "source_system": event.source.system,
            "source_entity_id": source_id,
            "api_base_path": _sql.default_api_base_path(key[1]),
            "version": event.entity.version,
            "schema_version": event.schema_version,
            "attributes": attributes,
            "status": "deleted" if deleted else "active",
            "last_event_id": item.event_id,
            "created_at": self.now,
            "updated_at": self.now,
        }
        # One final row per entity: the last event of the batch wins.
        (self.deletes if deleted else self.upserts)[key] = row
        (self.upserts if deleted else self.deletes).pop(key, None)

    def _put_child_deleted(self, child: Key, item: _Fresh) -> None:
        schema = self.ingestor.schemas.get(item.event.entity.type)
        domain = (
            next((n.domain for n in schema.nested.values() if n.entity_type == child[1]), None)
            if schema
            else None
        )
        source_id = child[2].rsplit(":", 1)[-1]
        self._put(
            child,
            item,
            self.known_attributes.get(child, {}),
            source_id=source_id,
            deleted=True,
            domain=domain,
        )

    # --- lineage ----------------------------------------------------------------------------

    def _count(
        self,
        item: _Fresh,
        upstream: tuple[str, str],
        downstream: tuple[str, str],
        transformation: str,
        upstream_entity: tuple[str, str] = ("", ""),
        downstream_entity: tuple[str, str] = ("", ""),
    ) -> None:
        # Plain tuples, not DatasetRef/EntityRef: this runs several times per event.
        key = (
            item.tenant,
            *upstream,
            *downstream,
            transformation,
            *upstream_entity,
            *downstream_entity,
        )
        known = self.lineage.get(key)
        if known is not None:
            known["occurrences"] += 1
            known["last_event_id"] = item.event_id
            return
        self.lineage[key] = {
            **dict(zip(_sql.LINEAGE_KEY, key, strict=True)),
            "last_event_id": item.event_id,
            "first_seen_at": self.now,
            "last_seen_at": self.now,
            "occurrences": 1,
        }

    def _dataset_lineage(self, item: _Fresh) -> None:
        event = item.event
        entity_type = event.entity.type
        self._count(
            item,
            (event.source.system, self.ingestor.collections.get(entity_type, entity_type)),
            (DATA_PRODUCT_NAMESPACE, f"{event.source.domain}.{entity_type}"),
            f"adapter:{event.source.domain}.{event.source.system}",
        )

    def _nested_lineage(self, item: _Fresh, child: DerivedChild) -> None:
        event = item.event
        # The top entity's dataset is named after the event's domain, as in _dataset_lineage.
        top = child.parent_type == event.entity.type and child.parent_id == event.entity.id
        parent_domain = event.source.domain if top else child.parent_domain
        upstream = (DATA_PRODUCT_NAMESPACE, f"{parent_domain}.{child.parent_type}")
        downstream = (DATA_PRODUCT_NAMESPACE, f"{child.domain}.{child.type}")
        transformation = f"nested:{child.parent_type}.{child.field}"
        self._count(item, upstream, downstream, transformation)
        self._count(
            item,
            upstream,
            downstream,
            transformation,
            (child.parent_type, child.parent_id),
            (child.type, child.id),
        )

    # --- writing ----------------------------------------------------------------------------

    async def flush(self) -> None:
        await self._write()
        outbox = self.ingestor.outbox
        if outbox is not None:
            self.notices = await outbox.write(self.conn, self._notices(), self.now)

    async def _write(self) -> None:
        conn, dialect = self.conn, self.dialect
        if dialect == "postgresql":
            params: dict[str, Any] = {"tenant": self.tenant}
            dumps = self.dumps
            # Rows in key order: concurrent consumers (partitions, nodes) whose batches
            # share rows — the lineage row of a data product above all — then lock them in
            # the same order and wait for each other instead of deadlocking.
            for prefix, columns, rows in (
                ("u_", _pg.ENTITY_COLUMNS, _in_key_order(self.upserts)),
                ("d_", _pg.ENTITY_COLUMNS, _in_key_order(self.deletes)),
                ("l_", _pg.LINEAGE_COLUMNS, _in_key_order(self.lineage)),
            ):
                for name, kind in columns:
                    values = [row[name] for row in rows]
                    if kind == "JSONB":
                        values = [dumps(v) for v in values]
                    elif kind == "TIMESTAMPTZ":
                        values = [_sql.aware(v) for v in values]
                    params[prefix + name] = values
            await conn.execute(_pg.entity_write(), params)
            # Ended edges before new ones: an edge ended and opened again in one batch.
            if self.ended:
                await _sql.pg_end_relationships().execute(conn, self.ended)
            if self.new_edges:
                await _sql.pg_relationship_insert().execute(conn, self.new_edges)
            return
        if self.upserts:
            await conn.execute(_sql.entity_upsert(dialect), list(self.upserts.values()))
        if self.deletes:
            await conn.execute(_sql.entity_delete_upsert(dialect), list(self.deletes.values()))
        if self.ended:
            await conn.execute(_sql.end_relationships_by_id(), self.ended)
        if self.new_edges:
            await conn.execute(_sql.relationship_insert(dialect), self.new_edges)
        if self.lineage:
            await conn.execute(_sql.lineage_upsert(dialect), list(self.lineage.values()))
