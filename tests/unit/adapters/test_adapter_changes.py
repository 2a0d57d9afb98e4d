"""Change detection: polling + webhooks, CREATED/UPDATED/DELETED, ack-on-next, restarts,
boundary timestamps, deterministic event ids."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dictamesh.adapters.base import change_event_id
from dictamesh.adapters.state import MemoryChangeStateStore, SqliteChangeStateStore
from dictamesh.cache import entity_key
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import NotFoundError, ValidationError
from dictamesh.core.models import ChangeEvent, EventType
from dictamesh.testing.adapters import FakeAdapter, fake_config

STAMP = "2026-06-01T00:00:00Z"


async def drain(
    stream: AsyncIterator[ChangeEvent], adapter: FakeAdapter, expect: int, quiet: float = 0.05
) -> list[ChangeEvent]:
    """The ``expect`` events (2 s budget each), then any more that come within ``quiet``
    seconds (so extra events fail the caller's assertion). Each event is acked explicitly
    before waiting, so the timeout that ends the drain never cuts a commit short."""
    events: list[ChangeEvent] = []
    while True:
        try:
            budget = 2.0 if len(events) < expect else quiet
            event = await asyncio.wait_for(anext(stream), budget)
        except TimeoutError:
            return events
        await adapter.ack(event)
        events.append(event)


def summary(events: list[ChangeEvent]) -> list[tuple[str, str, int]]:
    return [(e.event_type.value, e.entity.id, e.entity.version) for e in events]


async def test_created_updated_deleted_with_before_and_changed_fields() -> None:
    async with FakeAdapter(records=[{"id": "w-1", "name": "A", "color": "red"}]) as adapter:
        stream = adapter.stream_changes()
        [created] = await drain(stream, adapter, 1)
        assert created.event_type is EventType.CREATED
        assert created.before is None
        assert created.after == {"name": "A", "color": "red"}
        assert created.changed_fields == ["color", "name"]
        assert created.topic == "testing.fake.entity_changed"

        adapter.put("w-1", color="blue", size=2)
        adapter.put("w-2", name="B")
        stream = adapter.stream_changes()
        updated, created2 = await drain(stream, adapter, 2)
        assert updated.event_type is EventType.UPDATED
        assert updated.entity.version == 2
        assert updated.before == {"name": "A", "color": "red"}
        assert updated.after == {"name": "A", "color": "blue", "size": 2}
        assert updated.changed_fields == ["color", "size"]
        assert (created2.event_type, created2.entity.id) == (EventType.CREATED, "w-2")

        adapter.delete("w-1")
        [deleted] = await drain(adapter.stream_changes(), adapter, 1)
        assert deleted.event_type is EventType.DELETED
        assert deleted.after is None
        assert deleted.before == {"name": "A", "color": "blue", "size": 2}
        assert deleted.entity.version == 3
        assert adapter.get_metrics().events_emitted == 4

        adapter.put("w-1", name="Back")  # re-created after a deletion
        [again] = await drain(adapter.stream_changes(), adapter, 1)
        assert (again.event_type, again.before) == (EventType.CREATED, None)


async def test_unchanged_records_are_not_re_emitted() -> None:
    async with FakeAdapter(records=[{"id": "w-1", "name": "A"}]) as adapter:
        assert len(await drain(adapter.stream_changes(), adapter, 1)) == 1
        assert await drain(adapter.stream_changes(), adapter, 0) == []
        assert adapter.calls["fetch_changed_since"] >= 2


async def test_event_ids_are_deterministic() -> None:
    async with FakeAdapter(records=[{"id": "w-1", "name": "A"}]) as adapter:
        [event] = await drain(adapter.stream_changes(), adapter, 1)
    assert event.event_id == change_event_id("fake_widgets", "widget", "w-1", 1, EventType.CREATED)
    assert event.event_id != change_event_id("fake_widgets", "widget", "w-1", 1, EventType.UPDATED)


async def test_no_re_emit_across_restart_with_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "changes.sqlite3"
    first = FakeAdapter(
        records=[{"id": "w-1", "name": "A"}, {"id": "w-2", "name": "B"}],
        state=SqliteChangeStateStore(path),
    )
    async with first:
        assert summary(await drain(first.stream_changes(), first, 2)) == [
            ("CREATED", "w-1", 1),
            ("CREATED", "w-2", 1),
        ]
    first.put("w-2", name="B2")
    # a new process: new adapter, new store object, same file, same source
    async with FakeAdapter(store=first.store, state=SqliteChangeStateStore(path)) as second:
        assert summary(await drain(second.stream_changes(), second, 1)) == [("UPDATED", "w-2", 2)]
    async with FakeAdapter(store=first.store, state=SqliteChangeStateStore(path)) as third:
        assert await drain(third.stream_changes(), third, 0) == []


async def test_crash_after_yield_before_next_re_emits_the_same_event(tmp_path: Path) -> None:
    path = tmp_path / "changes.sqlite3"
    first = FakeAdapter(
        records=[{"id": "w-1", "name": "A"}, {"id": "w-2", "name": "B"}],
        state=SqliteChangeStateStore(path),
    )
    stream = first.stream_changes()
    one = await anext(stream)  # w-1 yielded, not yet committed
    assert await first.state.get_seen("fake_widgets", "w-1") is None
    two = await anext(stream)  # asking for the next event acks w-1; w-2 yielded ...
    assert await first.state.get_seen("fake_widgets", "w-1") == (1, {"name": "A"})
    assert await first.state.get_seen("fake_widgets", "w-2") is None
    await stream.aclose()  # ... and we "crash" before publishing it
    await first.aclose()

    async with FakeAdapter(store=first.store, state=SqliteChangeStateStore(path)) as second:
        replay = await drain(second.stream_changes(), second, 1)
    assert [e.event_id for e in replay] == [two.event_id]  # w-2 again, same id; w-1 not
    assert one.event_id != two.event_id


async def test_explicit_ack_commits_without_next() -> None:
    state = MemoryChangeStateStore()
    first = FakeAdapter(records=[{"id": "w-1", "name": "A"}], state=state)
    stream = first.stream_changes()
    event = await anext(stream)
    await first.ack(event)
    await first.ack(event)  # idempotent
    await stream.aclose()
    assert await state.get_seen("fake_widgets", "w-1") == (1, {"name": "A"})
    async with FakeAdapter(store=first.store, state=state) as second:
        assert await drain(second.stream_changes(), second, 0) == []


async def test_same_timestamp_boundary_records_neither_missed_nor_repeated() -> None:
    config = fake_config()
    async with FakeAdapter(config) as adapter:
        adapter.change_batch_size = 2  # type: ignore[misc]
        for i in range(1, 6):  # five records share one timestamp: more than a page
            adapter.put(f"w-{i}", name=f"N{i}", updated_at=STAMP)
        events = await drain(adapter.stream_changes(), adapter, 5)
        assert sorted(e.entity.id for e in events) == [f"w-{i}" for i in range(1, 6)]
        assert await adapter.state.get_watermark("fake_widgets") == STAMP

        # another record lands on the same (boundary) timestamp after the poll
        adapter.put("w-6", name="N6", updated_at=STAMP)
        adapter.put("w-7", name="N7", updated_at="2026-06-01T00:00:01Z")
        later = await drain(adapter.stream_changes(), adapter, 2)
        assert summary(later) == [("CREATED", "w-6", 1), ("CREATED", "w-7", 1)]


async def test_pages_until_a_short_page() -> None:
    async with FakeAdapter() as adapter:
        adapter.change_batch_size = 3  # type: ignore[misc]
        for i in range(1, 9):
            adapter.put(f"w-{i}", name=f"N{i}")
        events = await drain(adapter.stream_changes(), adapter, 8)
        assert [e.entity.id for e in events] == [f"w-{i}" for i in range(1, 9)]


async def test_changes_invalidate_cached_entities() -> None:
    async with FakeAdapter(records=[{"id": "w-1", "name": "A"}]) as adapter:
        await drain(adapter.stream_changes(), adapter, 1)
        assert (await adapter.get_entity("w-1")).attributes["name"] == "A"
        adapter.put("w-1", name="B")
        await drain(adapter.stream_changes(), adapter, 1)
        assert await adapter.cache.get(entity_key(None, "widget", "w-1")) is None
        assert (await adapter.get_entity("w-1")).attributes["name"] == "B"


async def test_tenant_from_context_is_put_on_events() -> None:
    token = current_tenant.set("acme")
    try:
        async with FakeAdapter(records=[{"id": "w-1", "name": "A"}]) as adapter:
            [event] = await drain(adapter.stream_changes(), adapter, 1)
    finally:
        current_tenant.reset(token)
    assert event.tenant_id == "acme"


async def test_source_failures_do_not_end_the_stream() -> None:
    async with FakeAdapter(records=[{"id": "w-1", "name": "A"}]) as adapter:
        # one poll fails after its 3 attempts (logged), the next one retries once, succeeds
        adapter.fail(times=4, hooks=["fetch_changed_since"])
        events = await drain(adapter.stream_changes(), adapter, 1)
        assert summary(events) == [("CREATED", "w-1", 1)]


async def test_unreadable_record_is_skipped_not_fatal() -> None:
    async with FakeAdapter(records=[{"id": "w-1", "name": "A"}]) as adapter:
        adapter.garbage(hooks=["fetch_changed_since"])
        stream = adapter.stream_changes()
        events = await drain(stream, adapter, 1)
        assert summary(events) == [("CREATED", "w-1", 1)]
        assert adapter._counters.change_errors == 1
        assert adapter.calls["fetch_changed_since"] >= 2


async def test_content_change_without_version_bump_gets_its_own_id() -> None:
    async with FakeAdapter(records=[{"id": "w-1", "name": "A"}]) as adapter:
        await drain(adapter.stream_changes(), adapter, 1)
        row = adapter.rows["w-1"]
        row["attributes"]["name"] = "B"  # the source forgot to bump the version
        row["updated_at"] = adapter.store.next_stamp()
        [updated] = await drain(adapter.stream_changes(), adapter, 1)
        assert updated.event_type is EventType.UPDATED
        assert updated.entity.version == 1
        assert updated.event_id != change_event_id(
            "fake_widgets", "widget", "w-1", 1, EventType.UPDATED
        )


async def test_webhook_push_feeds_the_same_detection_path() -> None:
    config = fake_config(poll_interval_seconds=None)  # webhooks only
    async with FakeAdapter(config, records=[{"id": "w-1", "name": "A"}]) as adapter:
        stream = adapter.stream_changes()
        assert await adapter.handle_webhook({"ids": ["w-1", "w-1"]}) == 1
        [created] = await drain(stream, adapter, 1)
        assert (created.event_type, created.entity.id) == (EventType.CREATED, "w-1")
        assert adapter.calls["fetch_many"] == 1
        assert adapter.calls["fetch_changed_since"] == 0

        adapter.put("w-1", name="B")
        await adapter.handle_webhook({"id": "w-1"})
        await adapter.handle_webhook({"id": "w-1"})  # a repeated push is not re-emitted
        stream = adapter.stream_changes()
        [updated] = await drain(stream, adapter, 1)
        assert (updated.event_type, updated.before) == (EventType.UPDATED, {"name": "A"})

        adapter.delete("w-1", hard=True)  # gone at the source: the webhook means deletion
        await adapter.handle_webhook({"id": "w-1"})
        [deleted] = await drain(adapter.stream_changes(), adapter, 1)
        assert (deleted.event_type, deleted.entity.version) == (EventType.DELETED, 2)
        assert deleted.before == {"name": "B"}
        # webhooks never move the polling watermark
        assert await adapter.state.get_watermark("fake_widgets") is None


async def test_webhook_and_poll_do_not_double_emit() -> None:
    async with FakeAdapter(records=[{"id": "w-1", "name": "A"}]) as adapter:
        await adapter.handle_webhook({"id": "w-1"})
        events = await drain(adapter.stream_changes(), adapter, 1)
        assert summary(events) == [("CREATED", "w-1", 1)]


async def test_webhook_invalidates_the_cache_at_once() -> None:
    async with FakeAdapter(records=[{"id": "w-1", "name": "A"}]) as adapter:
        await adapter.get_entity("w-1")
        adapter.put("w-1", name="B")
        await adapter.handle_webhook({"id": "w-1"})
        assert (await adapter.get_entity("w-1")).attributes["name"] == "B"


async def test_bad_webhook_payloads() -> None:
    async with FakeAdapter() as adapter:
        with pytest.raises(ValidationError):
            await adapter.handle_webhook(["not", "a", "mapping"])
        with pytest.raises(ValidationError):
            await adapter.handle_webhook({"id": "bad id"})
        assert await adapter.handle_webhook({"ids": []}) == 0


async def test_adapter_without_webhooks_says_so() -> None:
    from dictamesh.adapters.base import AdapterBase

    class NoHooks(FakeAdapter):
        parse_webhook = AdapterBase.parse_webhook

    async with NoHooks() as adapter:
        with pytest.raises(NotFoundError, match="does not accept webhooks"):
            await adapter.handle_webhook({"id": "w-1"})


async def test_aclose_ends_the_stream() -> None:
    adapter = FakeAdapter(config=fake_config(poll_interval_seconds=60))
    stream = adapter.stream_changes()
    pending = asyncio.create_task(anext(stream, None))
    await asyncio.sleep(0.02)
    await adapter.aclose()
    assert await asyncio.wait_for(pending, 1) is None
