"""The catalog's tables as SQLAlchemy Core objects: the public handle other layers query.

Governance (audit, erasure, retention) and later layers' own stores write SQL against these,
on connections from :class:`~dictamesh.catalog.database.CatalogDatabase`; ``insert_for``
gives the dialect's ``INSERT ... ON CONFLICT``.

Example::

    from dictamesh.catalog.tables import AUDIT, insert_for

    async with database.write() as conn:
        await conn.execute(insert_for(database.dialect, AUDIT).on_conflict_do_nothing(), rows)
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from dictamesh.catalog._dialect import insert_for
from dictamesh.catalog.models import (
    AuditRecord,
    CacheStatus,
    DataLineage,
    EntityCatalog,
    EntityRelationship,
    EventLog,
    SchemaConfig,
    SchemaRecord,
    SystemOutbox,
)

__all__ = [
    "AUDIT",
    "CACHE",
    "CONFIG",
    "ENTITY",
    "EVENTS",
    "LINEAGE",
    "OUTBOX",
    "RELS",
    "SCHEMAS",
    "TENANT_TABLES",
    "insert_for",
]

ENTITY = cast(Table, EntityCatalog.__table__)
RELS = cast(Table, EntityRelationship.__table__)
EVENTS = cast(Table, EventLog.__table__)
LINEAGE = cast(Table, DataLineage.__table__)
SCHEMAS = cast(Table, SchemaRecord.__table__)
CONFIG = cast(Table, SchemaConfig.__table__)
CACHE = cast(Table, CacheStatus.__table__)
AUDIT = cast(Table, AuditRecord.__table__)
OUTBOX = cast(Table, SystemOutbox.__table__)

#: tables with a ``tenant_id``-led index, where a tenant's presence is looked up
#: (relationships have none: a tenant with edges only is not listed)
TENANT_TABLES = (ENTITY, SCHEMAS, CONFIG, EVENTS, LINEAGE, CACHE, AUDIT)
