"""The durable inbox of accepted webhooks: written before the node answers 202.

A webhook makes the adapter re-fetch the records it names; those records (the versions the
source had *then*) are what the change stream must emit. Kept only in memory, a
``kill -9`` after the 202 lost them: polling later found the final state, never the
intermediate versions. So :meth:`AdapterBase.handle_webhook
<dictamesh.adapters.base.AdapterBase.handle_webhook>` stores the fetched records here
before answering, the change stream deletes the row once every event of it has been
handled (published), and on start the stream replays what is left, oldest first. Replaying
an item already emitted is harmless: change detection skips versions already seen.

The table lives beside the change state (the node's ``state_dir/changes.sqlite3``), in the
same one-job-per-call style as :class:`~dictamesh.adapters.state.SqliteChangeStateStore`.

Example::

    inbox = SqliteWebhookInbox(".dictamesh/changes.sqlite3")
    row = await inbox.put("products_rest", [{"id": "p-1", "version": 3}], [])
    await inbox.pending("products_rest")   # [(row, [{"id": "p-1", "version": 3}], [])]
    await inbox.done(row)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any, Protocol, runtime_checkable

from dictamesh.adapters.state import SqliteStateFile

__all__ = ["InboxItem", "SqliteWebhookInbox", "WebhookInbox"]

#: ``(row id, fetched records, ids the source no longer returned)``
InboxItem = tuple[int, list[dict[str, Any]], list[str]]

_SCHEMA = """CREATE TABLE IF NOT EXISTS dm_webhook_inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    adapter TEXT NOT NULL,
    body TEXT NOT NULL,
    accepted_at REAL NOT NULL
)"""
_INDEX = "CREATE INDEX IF NOT EXISTS ix_dm_webhook_inbox_adapter ON dm_webhook_inbox (adapter, id)"


@runtime_checkable
class WebhookInbox(Protocol):
    async def put(self, adapter: str, raws: list[dict[str, Any]], vanished: list[str]) -> int:
        """Store accepted work durably; its row id."""
        ...

    async def done(self, row: int) -> None:
        """The work of ``row`` is handled: forget it."""
        ...

    async def pending(self, adapter: str) -> list[InboxItem]:
        """Work of ``adapter`` accepted but not done, oldest first."""
        ...


class SqliteWebhookInbox(SqliteStateFile):
    schema = (_SCHEMA, _INDEX)

    def _put(self, adapter: str, body: str) -> int:
        self._ensure()
        with contextlib.closing(self._connect()) as db:
            # synchronous=FULL (the default) with autocommit: on disk before we answer 202
            cursor = db.execute(
                "INSERT INTO dm_webhook_inbox (adapter, body, accepted_at) VALUES (?, ?, ?)",
                (adapter, body, time.time()),
            )
            return int(cursor.lastrowid or 0)

    def _done(self, row: int) -> None:
        self._ensure()
        with contextlib.closing(self._connect()) as db:
            db.execute("DELETE FROM dm_webhook_inbox WHERE id = ?", (row,))

    def _pending(self, adapter: str) -> list[tuple[int, str]]:
        self._ensure()
        with contextlib.closing(self._connect()) as db:
            rows = db.execute(
                "SELECT id, body FROM dm_webhook_inbox WHERE adapter = ? ORDER BY id", (adapter,)
            ).fetchall()
            return [(int(r[0]), str(r[1])) for r in rows]

    async def initialize(self) -> None:
        await asyncio.to_thread(self._ensure)

    async def put(self, adapter: str, raws: list[dict[str, Any]], vanished: list[str]) -> int:
        # serialised on the loop, before the thread job: unstorable work fails the webhook
        body = json.dumps({"raws": raws, "vanished": vanished}, separators=(",", ":"))
        return await asyncio.to_thread(self._put, adapter, body)

    async def done(self, row: int) -> None:
        await asyncio.to_thread(self._done, row)

    async def pending(self, adapter: str) -> list[InboxItem]:
        out: list[InboxItem] = []
        for row, body in await asyncio.to_thread(self._pending, adapter):
            work = json.loads(body)
            out.append((row, list(work["raws"]), [str(i) for i in work["vanished"]]))
        return out
