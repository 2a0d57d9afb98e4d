"""The webhook inbox in the catalog database: a webhook accepted by a node that is not the
capture leader reaches the leader's change stream (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.cluster.change_state import CatalogChangeStateStore
from dictamesh.cluster.webhook_inbox import CatalogWebhookInbox
from dictamesh.core.models import ChangeEvent
from dictamesh.testing.adapters import FakeAdapter, FakeStore, fake_config


async def test_rows_round_trip_oldest_first(database: CatalogDatabase) -> None:
    inbox = CatalogWebhookInbox(database)
    first = await inbox.put("crm", [{"id": "c-1", "version": 2}], [])
    second = await inbox.put("crm", [], ["c-9"])
    await inbox.put("other", [], [])
    assert await inbox.pending("crm") == [
        (first, [{"id": "c-1", "version": 2}], []),
        (second, [], ["c-9"]),
    ]
    await inbox.done(first)
    assert [row for row, *_ in await inbox.pending("crm")] == [second]


async def test_a_webhook_accepted_by_a_follower_reaches_the_leader(
    database: CatalogDatabase, other_database: CatalogDatabase
) -> None:
    source = FakeStore()
    config = fake_config(poll_interval_seconds=None)  # webhooks only: polling cannot help
    leader = FakeAdapter(config, store=source, state=CatalogChangeStateStore(database))
    follower = FakeAdapter(config, store=source, state=CatalogChangeStateStore(other_database))
    leader.webhook_inbox = CatalogWebhookInbox(database)
    follower.webhook_inbox = CatalogWebhookInbox(other_database)
    got: list[ChangeEvent] = []
    arrived = asyncio.Event()

    async def capture() -> None:
        async for event in leader.stream_changes():
            got.append(event)
            arrived.set()

    task = asyncio.create_task(capture())
    try:
        await asyncio.sleep(0.2)
        source.put("w-1", name="v1")
        assert await follower.handle_webhook({"id": "w-1"}) == 1
        source.put("w-1", name="v2")  # the webhook's version is the one to emit
        await asyncio.wait_for(arrived.wait(), 5)
        assert [(e.entity.id, e.entity.version) for e in got] == [("w-1", 1)]
        assert got[0].after == {"name": "v1"}
        await asyncio.sleep(1.3)  # another look at the inbox: nothing twice
        assert len(got) == 1
        assert await follower.webhook_inbox.pending("fake_widgets") == []  # type: ignore[union-attr]
        assert len(follower._inbox) == 0  # the follower queued nothing in memory
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await leader.aclose()
        await follower.aclose()
