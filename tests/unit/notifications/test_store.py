"""The outbox store on SQLite and PostgreSQL: idempotent enqueue, leases, fenced results,
digests, operator retry."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.core.notification_config import Priority
from dictamesh.notifications.inbox_store import InboxStore
from dictamesh.notifications.store import (
    Attempt,
    Claimed,
    LeaseLost,
    NewNotification,
    NotificationStateError,
    NotificationStatus,
    NotificationStore,
)


def _new(key: str, *, tenant: str = "default", **extra: object) -> NewNotification:
    values: dict[str, object] = {
        "tenant_id": tenant,
        "kind": "message",
        "rule": "r1",
        "dedupe_key": key,
        "recipient": "alice",
        "channels": ["mail", "inbox"],
        "priority": Priority.NORMAL,
        "status": NotificationStatus.PENDING,
        "subject": f"subject {key}",
        "text": "body",
    }
    values.update(extra)
    return NewNotification(**values)  # type: ignore[arg-type]


async def claim(store: NotificationStore, owner: str, **lease: Any) -> list[Claimed]:
    return [r.claimed() for r in await store.claim_records(owner, **lease)]


def _attempt(outcome: str, **extra: object) -> Attempt:
    return Attempt(channel="mail", outcome=outcome, node="n1", duration_ms=1.0, **extra)  # type: ignore[arg-type]


async def test_enqueue_is_idempotent_per_dedupe_key(database: CatalogDatabase) -> None:
    store = NotificationStore(database)
    first = await store.enqueue([_new("k1"), _new("k2")])
    again = await store.enqueue([_new("k1"), _new("k3")])
    assert len(first) == 2
    assert len(again) == 1
    assert await store.depth() == 3


async def test_window_key_allows_one_per_window(database: CatalogDatabase) -> None:
    store = NotificationStore(database)
    made = await store.enqueue([_new("a", window_key="w"), _new("b", window_key="w")])
    assert len(made) == 1


async def test_claims_never_overlap_and_leases_fence_results(database: CatalogDatabase) -> None:
    store = NotificationStore(database)
    await store.enqueue([_new(f"k{i}") for i in range(10)])
    records_a, records_b = await asyncio.gather(
        store.claim_records("n1/a", lease_seconds=30, limit=6),
        store.claim_records("n2/b", lease_seconds=30, limit=6),
    )
    a, b = [r.claimed() for r in records_a], [r.claimed() for r in records_b]
    assert not {c.id for c in a} & {c.id for c in b}
    assert len(a) + len(b) == 10
    assert all(r.status is NotificationStatus.SENDING for r in records_a)
    with pytest.raises(LeaseLost):
        await store.finish(a[0], "n2/b", _attempt("sent"))
    await store.finish(a[0], "n1/a", _attempt("sent", provider_message_id="pm-1"))
    done = await store.get(a[0].id)
    assert done.status is NotificationStatus.SENT
    assert done.provider_message_id == "pm-1"
    assert done.attempts == 1
    assert done.sent_at is not None
    assert await store.depth() == 9


async def test_failure_reschedules_and_expired_leases_are_claimed_again(
    database: CatalogDatabase,
) -> None:
    store = NotificationStore(database)
    await store.enqueue([_new("k")])
    [claimed] = await claim(store, "n1/a", lease_seconds=30, limit=5)
    later = database.now() + timedelta(seconds=60)
    await store.finish(claimed, "n1/a", _attempt("failed", error="boom", next_attempt_at=later))
    record = await store.get(claimed.id)
    assert record.status is NotificationStatus.FAILED
    assert record.last_error == "boom"
    assert record.channel_failures == 1
    assert await claim(store, "n1/a", lease_seconds=30, limit=5) == []  # not due yet
    # fallback moves to the next channel and resets its failure count
    await store.retry(claimed.id)
    [again] = await claim(store, "n1/a", lease_seconds=0.001, limit=5)
    await store.finish(again, "n1/a", _attempt("fallback", error="x"), channel_index=1)
    record = await store.get(claimed.id)
    assert record.channel == "inbox"
    assert record.channel_failures == 0
    # a dead node's lease expires: another node claims it
    [taken] = await claim(store, "n1/a", lease_seconds=0.001, limit=5)
    await asyncio.sleep(0.01)
    [over] = await claim(store, "n2/b", lease_seconds=30, limit=5)
    assert over.id == taken.id
    with pytest.raises(LeaseLost):
        await store.finish(taken, "n1/a", _attempt("sent"))
    attempts = await store.attempts(claimed.id)
    assert [a.outcome for a in attempts] == ["failed", "fallback"]


async def test_retry_only_dead_or_failed(database: CatalogDatabase) -> None:
    store = NotificationStore(database)
    await store.enqueue([_new("k")])
    [claimed] = await claim(store, "n1/a", lease_seconds=30, limit=1)
    await store.finish(claimed, "n1/a", _attempt("sent"))
    with pytest.raises(NotificationStateError):
        await store.retry(claimed.id)
    await store.enqueue([_new("d")])
    [dead] = await claim(store, "n1/a", lease_seconds=30, limit=1)
    await store.finish(dead, "n1/a", _attempt("dead", error="550 no such user"))
    assert (await store.get(dead.id)).status is NotificationStatus.DEAD
    assert await store.depth() == 0
    record = await store.retry(dead.id)
    assert record.status is NotificationStatus.PENDING
    assert record.attempts == 0
    assert await store.depth() == 1
    listed = await store.search(status=[NotificationStatus.PENDING])
    assert [r.id for r in listed] == [dead.id]


async def test_digest_collects_items_then_renders_once(database: CatalogDatabase) -> None:
    store = NotificationStore(database)
    digest_id = "00000000-0000-0000-0000-0000000000d1"
    due = database.now() - timedelta(seconds=1)
    rows = []
    for i in range(5):
        rows.append(
            _new(
                f"item{i}",
                kind="item",
                status=NotificationStatus.COLLECTING,
                digest_key="dg",
                event={"n": i},
                occurred_at=due - timedelta(seconds=10 - i),
            )
        )
        rows.append(
            _new(
                "dg", id=digest_id, kind="digest", status=NotificationStatus.COLLECTING, due_at=due
            )
        )
    made = await store.enqueue(rows)
    assert len(made) == 6  # five items, one digest
    assert await store.depth() == 1  # items are not queued

    [claimed] = await claim(store, "n1/a", lease_seconds=30, limit=5)
    seen: list[list[dict[str, object]]] = []

    def render(record: object, items: list[dict[str, object]]) -> tuple[str, str, None]:
        seen.append(items)
        return (f"{len(items)} events", "text", None)

    record = await store.close_digest(claimed, "n1/a", render=render)
    assert record is not None
    assert record.count == 5
    assert record.subject == "5 events"
    assert [i["n"] for i in seen[0]] == [0, 1, 2, 3, 4]
    assert record.status is NotificationStatus.SENDING
    assert await store.search(status=[NotificationStatus.COLLECTING]) == []


async def test_tenants_see_only_their_own(database: CatalogDatabase) -> None:
    store = NotificationStore(database)
    await store.enqueue([_new("k", tenant="acme"), _new("k", tenant="globex")])
    assert len(await store.search(tenant="acme")) == 1
    claimed = await claim(store, "n1/a", lease_seconds=30, limit=5)
    assert sorted(c.tenant_id for c in claimed) == ["acme", "globex"]


async def test_inbox_once_per_notification_and_only_own_marked(database: CatalogDatabase) -> None:
    store = NotificationStore(database)
    inbox = InboxStore(database)
    await store.enqueue([_new("k")])
    record = (await store.search())[0]
    message = record.message(address="alice")
    first = await inbox.add_to_inbox(message)
    assert await inbox.add_to_inbox(message) == first  # a resend stores nothing new
    items = await inbox.inbox("alice")
    assert len(items) == 1
    assert items[0].subject == "subject k"
    assert await inbox.mark_read("bob", [first]) == []
    assert await inbox.unread_count("alice") == 1
    assert await inbox.mark_read("alice", [first]) == [first]
    assert await inbox.unread_count("alice") == 0
    await inbox.set_preferences("alice", {"min_priority": "high"})
    await inbox.set_preferences("alice", {"min_priority": "critical"})
    assert await inbox.preferences("alice") == {"min_priority": "critical"}
