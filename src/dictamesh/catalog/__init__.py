"""The metadata catalog: entity registry, relationship graph, schemas, event log, lineage.

* :class:`~dictamesh.catalog.service.CatalogService` — the async API over SQLite/PostgreSQL,
  a facade over the stores (``entity_store``, ``graph_store``, ``lineage_store``,
  ``event_store``, ``cache_status_store``, ``schema_store``);
* :class:`~dictamesh.catalog.database.CatalogDatabase` — the engine and tenant-scoped
  transactions they share; :mod:`~dictamesh.catalog.tables` — the tables other layers query;
* :class:`~dictamesh.catalog.ingest.CatalogIngestor` — change events → catalog, idempotent;
  :class:`~dictamesh.catalog.ingest.IngestOutcome` — what a batch made new;
* :mod:`~dictamesh.catalog.system_outbox` — notices for the system topics, written with
  the change; :mod:`~dictamesh.catalog.cache_status_writer` — the node's cache status;
* :mod:`~dictamesh.catalog.migrate` — Alembic migrations driven from code;
* :mod:`~dictamesh.catalog.schemas` — schema compatibility rules;
* :mod:`~dictamesh.catalog.records` — the result models.

Example::

    from dictamesh.catalog import CatalogIngestor, CatalogService

    async with await CatalogService.open("sqlite+aiosqlite:///catalog.db") as catalog:
        ingestor = CatalogIngestor(catalog, schemas)
        await ingestor.handle_batch([(event, topic) for event, topic in received])
        graph = await catalog.query_relationship_graph(EntityRef(type="customer", id="1"))
"""

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.ingest import CatalogIngestor, IngestOutcome
from dictamesh.catalog.records import (
    CacheStatusRecord,
    Compatibility,
    EntityLocation,
    EventLogRecord,
    GraphEdge,
    GraphNode,
    LineageRecord,
    LineageView,
    RelationshipGraph,
    RelationshipRecord,
    SchemaVersion,
    StoredSchema,
)
from dictamesh.catalog.service import CatalogService

__all__ = [
    "CacheStatusRecord",
    "CatalogDatabase",
    "CatalogIngestor",
    "CatalogService",
    "Compatibility",
    "EntityLocation",
    "EventLogRecord",
    "GraphEdge",
    "GraphNode",
    "IngestOutcome",
    "LineageRecord",
    "LineageView",
    "RelationshipGraph",
    "RelationshipRecord",
    "SchemaVersion",
    "StoredSchema",
]
