"""The webhook inbox in the catalog database: accepted by any node, drained by the leader.

A :class:`~dictamesh.adapters.webhook_inbox.WebhookInbox` over ``dictamesh_webhook_inbox``
(migration ``0011_cluster``). On several nodes a source's webhook may reach a node that is
not the adapter's capture leader; that node stores the records it re-fetched here before
answering 202, and the leader's change stream picks the row up (``shared`` tells the adapter
to look for rows other nodes put), emits its events and deletes it.

Example::

    inbox = CatalogWebhookInbox(catalog.database)
    row = await inbox.put("products_rest", [{"id": "p-1", "version": 3}], [])
    await inbox.pending("products_rest")   # [(row, [{"id": "p-1", "version": 3}], [])]
    await inbox.done(row)
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, insert, select

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.cluster.tables import WEBHOOK_INBOX

__all__ = ["CatalogWebhookInbox"]

#: ``(row id, fetched records, ids the source no longer returned)``
InboxItem = tuple[int, list[dict[str, Any]], list[str]]


class CatalogWebhookInbox:
    #: rows may be put by other nodes: the capture leader looks for them while it streams
    shared = True

    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database

    async def initialize(self) -> None:
        """Nothing to create: the table comes with the catalog's migrations."""

    async def put(self, adapter: str, raws: list[dict[str, Any]], vanished: list[str]) -> int:
        body = {"raws": raws, "vanished": vanished}
        async with self.database.write() as conn:
            row = await conn.execute(
                insert(WEBHOOK_INBOX)
                .values(adapter=adapter, body=body, accepted_at=time.time())
                .returning(WEBHOOK_INBOX.c.id)
            )
            return int(row.scalar_one())

    async def done(self, row: int) -> None:
        async with self.database.write() as conn:
            await conn.execute(delete(WEBHOOK_INBOX).where(WEBHOOK_INBOX.c.id == row))

    async def pending(self, adapter: str) -> list[InboxItem]:
        query = (
            select(WEBHOOK_INBOX.c.id, WEBHOOK_INBOX.c.body)
            .where(WEBHOOK_INBOX.c.adapter == adapter)
            .order_by(WEBHOOK_INBOX.c.id)
        )
        async with self.database.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            (int(r.id), list(r.body["raws"]), [str(i) for i in r.body["vanished"]]) for r in rows
        ]
