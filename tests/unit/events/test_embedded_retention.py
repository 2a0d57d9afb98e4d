"""Embedded bus retention (delete policy) and compaction (compact policy)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dictamesh.events.embedded import DEFAULT_TOMBSTONE_RETENTION_MS, EmbeddedBus
from dictamesh.events.topics import CleanupPolicy, TopicSpec

DELETE = "orders.shop.entity_changed"
FOREVER = "orders.shop.archive"
COMPACT = "system.metadata.entity_registered"
HOUR = 3600 * 1000


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[EmbeddedBus]:
    async with EmbeddedBus(tmp_path / "bus.db", poll_interval=0.01) as bus:
        await bus.ensure_topic(TopicSpec(name=DELETE, partitions=2, retention_ms=HOUR))
        await bus.ensure_topic(TopicSpec(name=FOREVER, partitions=1, retention_ms=None))
        await bus.ensure_topic(
            TopicSpec(
                name=COMPACT,
                partitions=1,
                retention_ms=None,
                cleanup_policy=CleanupPolicy.COMPACT,
            )
        )
        yield bus


async def values(bus: EmbeddedBus, topic: str) -> list[tuple[str | None, bytes]]:
    ends = (await bus.end_offsets([topic]))[topic]
    out = []
    for partition in sorted(ends):
        out += [(m.key, m.value) for m in await bus.read(topic, partition, 0, 10_000)]
    return out


async def test_delete_policy_drops_only_expired(bus: EmbeddedBus) -> None:
    metas = await bus.publish_many(DELETE, [(b"old", f"k{i}", None) for i in range(6)])
    await bus.publish_many(FOREVER, [(b"old", "k", None)])
    published_at = (await bus.read(DELETE, metas[0].partition, 0, 1))[0].timestamp_ms

    assert (await bus.enforce_retention(now_ms=published_at + HOUR - 1))[DELETE] == 0
    removed = await bus.enforce_retention(now_ms=published_at + HOUR + 1)
    assert removed == {DELETE: 6, COMPACT: 0}  # FOREVER: nothing to enforce, not listed
    assert await values(bus, DELETE) == []
    assert await values(bus, FOREVER) == [("k", b"old")]


async def test_offsets_survive_retention_and_consumers_skip_the_gap(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name="orders.shop.gap", partitions=1, retention_ms=HOUR))
    topic = "orders.shop.gap"
    await bus.publish_many(topic, [(f"m{i}".encode(), "k", None) for i in range(3)])
    async with bus.consumer("slow", [topic]) as c:
        (first, *_) = await c.poll(max_records=1, timeout=1)
        await c.commit(first)  # "slow" stays behind at offset 1
    ts = first.timestamp_ms
    await bus.enforce_retention(now_ms=ts + 2 * HOUR)
    meta = await bus.publish(topic, b"new", key="k")
    assert meta.offset == 3, "offsets are never reused"
    # committed at 1, but 1 and 2 expired unread: only "new" is pending
    assert await bus.lag("slow", [topic]) == {topic: {0: 1}}
    async with bus.consumer("slow", [topic]) as c:
        got = await c.poll(timeout=1)
    assert [(m.offset, m.value) for m in got] == [(3, b"new")]


async def test_compaction_keeps_latest_per_key(bus: EmbeddedBus) -> None:
    records = [
        (b"a1", "a", None),
        (b"b1", "b", None),
        (b"a2", "a", None),
        (b"unkeyed", None, None),
        (b"b2", "b", None),
        (b"a3", "a", None),
    ]
    await bus.publish_many(COMPACT, records)
    removed = await bus.enforce_retention()
    assert removed[COMPACT] == 3
    assert await values(bus, COMPACT) == [(None, b"unkeyed"), ("b", b"b2"), ("a", b"a3")]
    assert (await bus.enforce_retention())[COMPACT] == 0  # idempotent


async def test_tombstones_go_after_their_retention(bus: EmbeddedBus) -> None:
    await bus.publish_many(COMPACT, [(b"a1", "a", None), (b"", "a", None), (b"b1", "b", None)])
    ts = (await bus.read(COMPACT, 0, 0, 1))[0].timestamp_ms
    # compaction removes a1; the tombstone stays until it is old enough for every consumer
    assert (await bus.enforce_retention(now_ms=ts))[COMPACT] == 1
    assert await values(bus, COMPACT) == [("a", b""), ("b", b"b1")]
    later = ts + DEFAULT_TOMBSTONE_RETENTION_MS + 1
    assert (await bus.enforce_retention(now_ms=later))[COMPACT] == 1
    assert await values(bus, COMPACT) == [("b", b"b1")]


async def test_compacted_topic_with_retention_uses_it_for_tombstones(bus: EmbeddedBus) -> None:
    topic = "system.lineage.relationship_created"
    await bus.ensure_topic(
        TopicSpec(name=topic, partitions=1, retention_ms=HOUR, cleanup_policy=CleanupPolicy.COMPACT)
    )
    await bus.publish_many(topic, [(b"", "gone", None), (b"v", "kept", None)])
    ts = (await bus.read(topic, 0, 0, 1))[0].timestamp_ms
    assert (await bus.enforce_retention(now_ms=ts + HOUR - 1))[topic] == 0
    assert (await bus.enforce_retention(now_ms=ts + HOUR + 1))[topic] == 1
    # live values of a compacted topic never expire, however old
    assert await values(bus, topic) == [("kept", b"v")]


async def test_retention_forgets_delivery_counts_of_deleted_messages(bus: EmbeddedBus) -> None:
    await bus.publish_many(DELETE, [(b"x", "k", None)])
    async with bus.consumer("g", [DELETE]) as c:
        (m,) = await c.poll(timeout=1)  # delivered, never committed
    await bus.enforce_retention(now_ms=m.timestamp_ms + 2 * HOUR)
    meta = await bus.publish(DELETE, b"y", key="k")
    async with bus.consumer("g", [DELETE]) as c:
        (fresh,) = await c.poll(timeout=1)
    assert (fresh.offset, fresh.delivery_count) == (meta.offset, 0)
