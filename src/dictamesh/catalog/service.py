"""The metadata catalog: where entities live, how they relate, their schemas, events, lineage.

:class:`CatalogService` is a thin facade over one :class:`CatalogDatabase` and the stores
that share it: ``entities`` (registry and search), ``graph`` (relationships), ``lineage``,
``events`` (the event log), ``cache_status``, ``outbox`` (system-topic notices) and
``schemas`` (the schema registry). Each
method is one transaction. It runs on SQLite (embedded default) and PostgreSQL alike.

Rows belong to a tenant: the one an entity/event carries, else the current tenant of
:data:`dictamesh.core.context.current_tenant`, else ``'default'``. Reads see only the
current (or default) tenant.

Example::

    async with await CatalogService.open("sqlite+aiosqlite:///catalog.db") as catalog:
        await catalog.register_schema(invoice_schema)      # = catalog.schemas.register(...)
        await catalog.register_entity(invoice)                       # upsert
        await catalog.record_relationship(invoice.ref, "billed_to", customer.ref)
        graph = await catalog.query_relationship_graph(customer.ref, max_depth=3)
        location = await catalog.get_entity_location("invoice", invoice.id)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dictamesh.catalog.cache_status_store import CacheStatusStore
from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.entity_store import EntityStore
from dictamesh.catalog.event_store import MAX_EVENT_LOG_LIMIT, EventStore
from dictamesh.catalog.graph_store import (
    MAX_GRAPH_DEPTH,
    MAX_GRAPH_LIMIT,
    GraphStore,
)
from dictamesh.catalog.lineage_store import (
    DATA_PRODUCT_NAMESPACE,
    LineageStore,
    data_product_dataset,
)
from dictamesh.catalog.records import (
    CacheLayerSummary,
    CacheStatusRecord,
    Compatibility,
    EntityLocation,
    EntitySearchResult,
    EventLogRecord,
    GraphDirection,
    LineageView,
    RelationshipGraph,
    RelationshipRecord,
    SchemaVersion,
    StoredSchema,
)
from dictamesh.catalog.schema_store import (
    DEFAULT_COMPATIBILITY,
    SCHEMA_TYPES,
    SchemaCheck,
    SchemaStore,
    canonical_schema_text,
    entity_schema_text,
)
from dictamesh.catalog.system_outbox import SystemOutboxStore, entity_type_notice
from dictamesh.core.lifecycle import AsyncResource
from dictamesh.core.models import ChangeEvent, DatasetRef, Entity, EntityRef, EntitySchema
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


class CatalogService(AsyncResource):
    """The catalog over one database. Construct from an engine, or :meth:`open` a URL."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        owns_engine: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._use(CatalogDatabase(engine, owns_engine=owns_engine, clock=clock))

    def _use(self, database: CatalogDatabase) -> None:
        self.database = database
        self.engine = database.engine
        self.dialect = database.dialect
        self.entities = EntityStore(database)
        self.graph = GraphStore(database)
        self.lineage = LineageStore(database)
        self.events = EventStore(database)
        self.cache_status = CacheStatusStore(database)
        self.schemas = SchemaStore(database)
        self.outbox = SystemOutboxStore(database)

    @classmethod
    def over(cls, database: CatalogDatabase) -> CatalogService:
        """The catalog over an existing :class:`CatalogDatabase` (its stores share it)."""
        catalog = cls.__new__(cls)
        catalog._use(database)
        return catalog

    # --- lifecycle and database ------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        pool: CatalogPoolSettings | None = None,
        migration_url: str | None = None,
        migrations_dir: Path | None = None,
        **engine_options: Any,
    ) -> CatalogService:
        """Connect to ``url`` (see :meth:`CatalogDatabase.open`); the catalog owns the engine."""
        database = await CatalogDatabase.open(
            url,
            migrate=migrate,
            pool=pool,
            migration_url=migration_url,
            migrations_dir=migrations_dir,
            **engine_options,
        )
        return cls.over(database)

    async def aclose(self) -> None:
        await self.database.aclose()

    async def ping(self) -> bool:
        return await self.database.ping()

    @staticmethod
    def tenant(explicit: str | None = None) -> str:
        """The tenant a call acts for: ``explicit``, else the context's, else the default."""
        return CatalogDatabase.tenant(explicit)

    async def set_tenant(self, conn: AsyncConnection, tenant: str | None = None) -> None:
        await self.database.set_tenant(conn, tenant)

    def write(self, tenant: str | None = None) -> AbstractAsyncContextManager[AsyncConnection]:
        """One write transaction for ``tenant`` (see :meth:`CatalogDatabase.write`)."""
        return self.database.write(tenant)

    async def tenants(self) -> list[str]:
        return await self.database.tenants()

    async def stats(self) -> dict[str, int]:
        return await self.database.stats()

    # --- entity registry: EntityStore -------------------------------------------------------

    async def register_entity(
        self,
        entity: Entity,
        *,
        api_base_path: str | None = None,
        schema_version: int = 1,
        event_id: str | None = None,
    ) -> EntityLocation:
        return await self.entities.register(
            entity, api_base_path=api_base_path, schema_version=schema_version, event_id=event_id
        )

    async def mark_entity_deleted(self, ref: EntityRef, *, event_id: str | None = None) -> None:
        await self.entities.mark_deleted(ref, event_id=event_id)

    async def get_entity_location(self, entity_type: str, entity_id: str) -> EntityLocation:
        return await self.entities.get_location(entity_type, entity_id)

    async def list_entities(
        self,
        entity_type: str | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        include_deleted: bool = False,
    ) -> tuple[list[EntityLocation], str | None]:
        return await self.entities.page(
            entity_type, limit=limit, cursor=cursor, include_deleted=include_deleted
        )

    async def count_entities(
        self, entity_type: str | None = None, *, include_deleted: bool = False
    ) -> int:
        return await self.entities.count(entity_type, include_deleted=include_deleted)

    async def search_entities(
        self,
        text: str,
        *,
        entity_type: str | None = None,
        limit: int = 20,
        hidden: Mapping[str, Collection[str]] | None = None,
    ) -> list[EntitySearchResult]:
        return await self.entities.search(text, entity_type=entity_type, limit=limit, hidden=hidden)

    # --- relationships: GraphStore ----------------------------------------------------------

    async def record_relationship(
        self,
        subject: EntityRef,
        relationship_type: str,
        obj: EntityRef,
        *,
        metadata: dict[str, Any] | None = None,
        event_id: str | None = None,
    ) -> bool:
        return await self.graph.record(
            subject, relationship_type, obj, metadata=metadata, event_id=event_id
        )

    async def end_relationship(
        self, subject: EntityRef, relationship_type: str, obj: EntityRef
    ) -> None:
        await self.graph.end(subject, relationship_type, obj)

    async def list_relationships(
        self,
        ref: EntityRef,
        *,
        direction: GraphDirection | str = "out",
        include_history: bool = False,
    ) -> list[RelationshipRecord]:
        return await self.graph.relationships(
            ref, direction=direction, include_history=include_history
        )

    async def query_relationship_graph(
        self,
        root: EntityRef,
        *,
        max_depth: int = 3,
        direction: GraphDirection | str = "both",
        limit: int = 1000,
    ) -> RelationshipGraph:
        return await self.graph.walk(root, max_depth=max_depth, direction=direction, limit=limit)

    # --- lineage: LineageStore ----------------------------------------------------------------

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
        await self.lineage.track(
            upstream,
            downstream,
            transformation,
            upstream_entity=upstream_entity,
            downstream_entity=downstream_entity,
            event_id=event_id,
        )

    async def get_lineage(self, entity_type: str, entity_id: str | None = None) -> LineageView:
        return await self.lineage.view(entity_type, entity_id)

    # --- schema registry: SchemaStore ---------------------------------------------------------

    async def register_schema(
        self, schema: EntitySchema, *, compatibility: Compatibility | None = None
    ) -> SchemaVersion:
        return await self.schemas.register(schema, compatibility=compatibility)

    async def register_entity_type(
        self, schema: EntitySchema, *, compatibility: Compatibility | None = None
    ) -> SchemaVersion:
        """:meth:`register_schema`; when that made a new version, an ``entity_registered``
        notice for the type goes to the system-topic outbox (``docs/catalog.md``)."""
        before = await self.schemas.versions(schema.entity_type)
        version = await self.register_schema(schema, compatibility=compatibility)
        if version.version not in before:
            db = self.database
            await self.outbox.add([entity_type_notice(db.tenant(), schema, version, db.now())])
        return version

    async def register_schema_text(
        self,
        subject: str,
        schema_type: str,
        text: str,
        check: SchemaCheck | None = None,
        *,
        compatibility: Compatibility | None = None,
    ) -> SchemaVersion:
        return await self.schemas.register_text(
            subject, schema_type, text, check, compatibility=compatibility
        )

    async def get_compatibility(self, subject: str | None = None) -> Compatibility:
        return await self.schemas.compatibility(subject)

    async def get_subject_compatibility(self, subject: str | None = None) -> Compatibility | None:
        return await self.schemas.subject_compatibility(subject)

    async def delete_compatibility(self, subject: str | None = None) -> Compatibility | None:
        return await self.schemas.delete_compatibility(subject)

    async def set_compatibility(self, level: Compatibility, subject: str | None = None) -> None:
        await self.schemas.set_compatibility(level, subject)

    async def get_schema(self, entity_type: str, version: int | None = None) -> EntitySchema:
        return await self.schemas.entity_schema(entity_type, version)

    async def get_schema_text(
        self, subject: str, version: int | None = None, *, schema_type: str | None = None
    ) -> StoredSchema:
        return await self.schemas.text(subject, version, schema_type=schema_type)

    async def get_schema_by_id(self, schema_id: int) -> StoredSchema:
        return await self.schemas.by_id(schema_id)

    async def list_schema_versions(self, subject: str) -> list[int]:
        return await self.schemas.versions(subject)

    async def list_subjects(
        self, *, deleted: bool = False, schema_types: Sequence[str] | None = None
    ) -> list[str]:
        return await self.schemas.subjects(deleted=deleted, schema_types=schema_types)

    async def list_schemas(
        self,
        subject: str | None = None,
        *,
        schema_id: int | None = None,
        deleted: bool = False,
        schema_types: Sequence[str] | None = None,
    ) -> list[StoredSchema]:
        return await self.schemas.stored(
            subject, schema_id=schema_id, deleted=deleted, schema_types=schema_types
        )

    async def delete_schema_version(
        self, subject: str, version: int, *, permanent: bool = False
    ) -> None:
        await self.schemas.delete_version(subject, version, permanent=permanent)

    async def delete_subject(
        self,
        subject: str,
        *,
        permanent: bool = False,
        schema_types: Sequence[str] | None = None,
    ) -> list[int]:
        return await self.schemas.delete_subject(
            subject, permanent=permanent, schema_types=schema_types
        )

    # --- event log: EventStore ------------------------------------------------------------------

    async def record_event(self, event: ChangeEvent, topic: str) -> bool:
        return await self.events.record(event, topic)

    async def get_event_log(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        limit: int = 100,
        since_ms: int | None = None,
    ) -> list[EventLogRecord]:
        return await self.events.log(
            entity_type=entity_type, entity_id=entity_id, limit=limit, since_ms=since_ms
        )

    async def prune_event_log(self, older_than: datetime | timedelta) -> int:
        return await self.events.prune(older_than)

    # --- cache status: CacheStatusStore ---------------------------------------------------------

    async def set_cache_status(
        self,
        ref: EntityRef,
        layer: str,
        *,
        cached_at: datetime,
        expires_at: datetime | None,
        event_id: str | None = None,
    ) -> None:
        await self.cache_status.set(
            ref, layer, cached_at=cached_at, expires_at=expires_at, event_id=event_id
        )

    async def mark_cache_invalidated(self, ref: EntityRef, *, event_id: str | None = None) -> int:
        return await self.cache_status.invalidate(ref, event_id=event_id)

    async def get_cache_status(self, ref: EntityRef) -> list[CacheStatusRecord]:
        return await self.cache_status.get(ref)

    async def cache_summary(self, entity_type: str | None = None) -> list[CacheLayerSummary]:
        return await self.cache_status.summary(entity_type)
