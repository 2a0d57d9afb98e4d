"""The event log: every change event the catalog received, newest first, until retention.

Only logs: applying an event to the registry is :class:`~dictamesh.catalog.ingest.
CatalogIngestor`'s job.

Example::

    events = EventStore(database)
    await events.record(event, "billing.invoice")          # False: already logged
    recent = await events.log(entity_type="invoice", limit=20)
    removed = await events.prune(timedelta(days=30))
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from dictamesh.catalog._limits import check_limit
from dictamesh.catalog._sql import event_log_insert, event_log_row, log_record
from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.records import EventLogRecord
from dictamesh.catalog.tables import EVENTS
from dictamesh.core.models import ChangeEvent

__all__ = ["MAX_EVENT_LOG_LIMIT", "EventStore"]

MAX_EVENT_LOG_LIMIT = 1000


class EventStore:
    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database

    async def record(self, event: ChangeEvent, topic: str) -> bool:
        """Append ``event`` to the log; False if its ``event_id`` is already there."""
        db = self.database
        row = event_log_row(event, topic, db.tenant(event.tenant_id), db.now())
        async with db.write(row["tenant_id"]) as conn:
            result = await conn.execute(event_log_insert(db.dialect), [row])
        return bool(result.rowcount == 1)

    async def log(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        limit: int = 100,
        since_ms: int | None = None,
    ) -> list[EventLogRecord]:
        """Logged events, newest (by event time) first; ``since_ms`` is inclusive."""
        check_limit(limit, MAX_EVENT_LOG_LIMIT, "event log")
        query = select(EVENTS).where(EVENTS.c.tenant_id == self.database.tenant())
        if entity_type is not None:
            query = query.where(EVENTS.c.entity_type == entity_type)
        if entity_id is not None:
            query = query.where(EVENTS.c.entity_id == entity_id)
        if since_ms is not None:
            query = query.where(EVENTS.c.event_timestamp >= since_ms)
        query = query.order_by(EVENTS.c.event_timestamp.desc(), EVENTS.c.id.desc()).limit(limit)
        async with self.database.read() as conn:
            rows = (await conn.execute(query)).all()
        return [log_record(r) for r in rows]

    async def prune(self, older_than: datetime | timedelta) -> int:
        """Retention: delete log rows *recorded* before ``older_than`` (a time, or an age).

        The only way rows ever leave the log. A pruned event that is delivered again is
        logged and applied again (the registry's version check still drops stale data).
        Runs across all tenants, one transaction per tenant: row-level security lets each
        see its own rows only. Returns the number of rows deleted.
        """
        db = self.database
        cutoff = db.now() - older_than if isinstance(older_than, timedelta) else older_than
        deleted = 0
        for tenant in await db.tenants():
            async with db.write(tenant) as conn:
                result = await conn.execute(
                    delete(EVENTS).where(
                        EVENTS.c.tenant_id == tenant, EVENTS.c.recorded_at < cutoff
                    )
                )
            deleted += int(result.rowcount)
        return deleted
