"""Right to erasure: remove an entity's personal data from everything the mesh holds.

The mesh does not own its sources' data, so erasure covers the mesh's own copies and tells
everyone else:

1. the catalog: the entity's snapshot is emptied and marked deleted, every event-log row of
   the entity loses its payload (the row, its id and type stay, so the log still proves what
   happened and idempotent replays still recognise the event), its cache-status rows go,
   and so do its rows in higher layers' tables (the search vectors): each
   :class:`ErasureStep` runs in the same transaction;
2. a ``DELETED`` change event with no attributes is published on the entity's topic: every
   node's cache-invalidation consumer drops the entity from L1/L2, and downstream consumers
   learn to erase their copies.

The source system must erase its record too (its owner's job): if it changes later, the
adapter would publish it again. The erasure itself is audited by the caller.

Example::

    report = await erase_entity(catalog, publisher, EntityRef(type="customer", id="42"))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update

from dictamesh.catalog.graph_store import GraphStore
from dictamesh.catalog.models import DEFAULT_TENANT
from dictamesh.catalog.service import CatalogService
from dictamesh.catalog.tables import CACHE, ENTITY, EVENTS
from dictamesh.core.errors import EntityNotFound
from dictamesh.core.models import (
    ChangeEvent,
    EntityRef,
    EntityVersionRef,
    EventType,
    SourceRef,
)
from dictamesh.events.publisher import EventPublisher
from dictamesh.governance.enforce import ErasureStep, active_governance

__all__ = ["ErasureReport", "ErasureStep", "erase_entity"]


_ERASED_PAYLOAD = {"erased": True}


@dataclass(frozen=True, slots=True)
class ErasureReport:
    ref: EntityRef
    tenant: str
    #: version carried by the published DELETED event
    version: int
    event_log_rows_scrubbed: int
    cache_rows_removed: int
    event_id: str


async def erase_entity(
    catalog: CatalogService,
    publisher: EventPublisher | None,
    ref: EntityRef,
    *,
    steps: Sequence[ErasureStep] | None = None,
) -> ErasureReport:
    """Erase ``ref`` (see the module doc). ``steps``: what else holds the entity (default:
    the active governance's ``erasure_steps``, which the node fills)."""
    if steps is None:
        governance = active_governance()
        steps = governance.erasure_steps if governance is not None else ()
    database = catalog.database
    tenant = database.tenant()
    key = (ENTITY.c.tenant_id == tenant, ENTITY.c.entity_type == ref.type)
    async with database.write() as conn:
        row = (
            await conn.execute(
                select(ENTITY.c.version, ENTITY.c.domain, ENTITY.c.source_system).where(
                    *key, ENTITY.c.entity_id == ref.id
                )
            )
        ).one_or_none()
        if row is None:
            raise EntityNotFound(ref.type, ref.id)
        # The event carries version+1 and the row version+2: the ingest then sees its own
        # DELETED event (and any ingest batch that read the old snapshot before this commit)
        # as stale, so it can never write the old attributes back over the erased row.
        version = int(row.version) + 1
        now = database.now()
        event = ChangeEvent(
            event_type=EventType.DELETED,
            entity=EntityVersionRef(type=ref.type, id=ref.id, version=version),
            source=SourceRef(domain=row.domain, system=row.source_system),
            # untenanted entities' events carry no tenant: caches key them so
            tenant_id=None if tenant == DEFAULT_TENANT else tenant,
        )
        await conn.execute(
            update(ENTITY)
            .where(*key, ENTITY.c.entity_id == ref.id)
            .values(
                attributes={},
                status="deleted",
                version=version + 1,
                last_event_id=str(event.event_id),
                updated_at=now,
            )
        )
        await GraphStore.end_outgoing(conn, tenant, ref, now)
        scrubbed = await conn.execute(
            update(EVENTS)
            .where(
                EVENTS.c.tenant_id == tenant,
                EVENTS.c.entity_type == ref.type,
                EVENTS.c.entity_id == ref.id,
            )
            .values(payload=_ERASED_PAYLOAD, changed_fields=[])
        )
        removed = await conn.execute(
            delete(CACHE).where(
                CACHE.c.tenant_id == tenant,
                CACHE.c.entity_type == ref.type,
                CACHE.c.entity_id == ref.id,
            )
        )
        for step in steps:
            await step(conn, tenant, ref.type, ref.id)
    if publisher is not None:
        await publisher.publish_event(event)
    return ErasureReport(
        ref=ref,
        tenant=tenant,
        version=version,
        event_log_rows_scrubbed=int(scrubbed.rowcount),
        cache_rows_removed=int(removed.rowcount),
        event_id=str(event.event_id),
    )
