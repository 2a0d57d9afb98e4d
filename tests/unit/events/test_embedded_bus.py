"""Embedded bus behaviour beyond the backend contract (tests/contract)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dictamesh.core.errors import ConfigurationError, EventBusError, ValidationError
from dictamesh.events.bus import Consumer, EventBus, Message
from dictamesh.events.embedded import EmbeddedBus, EmbeddedConsumer
from dictamesh.events.partitioner import partition_for_key
from dictamesh.events.topics import CleanupPolicy, TopicSpec

T = "orders.shop.entity_changed"


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[EmbeddedBus]:
    async with EmbeddedBus(tmp_path / "bus.db", poll_interval=0.01) as bus:
        yield bus


async def poll_all(consumer: EmbeddedConsumer, *, commit: bool = False) -> list[Message]:
    got: list[Message] = []
    while batch := await consumer.poll(max_records=1000, timeout=0.05):
        got.extend(batch)
        if commit:
            await consumer.commit_many(batch)
    return got


def test_implements_the_protocols() -> None:
    bus = EmbeddedBus()
    assert isinstance(bus, EventBus)
    assert isinstance(bus.consumer("g", [T]), Consumer)


def test_bad_configuration() -> None:
    with pytest.raises(ConfigurationError):
        EmbeddedBus(poll_interval=0)
    with pytest.raises(ConfigurationError):
        EmbeddedBus(synchronous="OFF")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        EmbeddedBus().consumer("", [T])
    with pytest.raises(ValidationError):
        EmbeddedBus().consumer("g", T)  # a str is not a list of topics


async def test_publish_auto_creates_topic_with_default_spec(bus: EmbeddedBus) -> None:
    meta = await bus.publish(T, b"x", key="k")
    spec = (await bus.topics())[T]
    default = TopicSpec(name=T)
    assert (spec.partitions, spec.retention_ms, spec.cleanup_policy) == (
        default.partitions,
        default.retention_ms,
        default.cleanup_policy,
    )
    assert meta.partition == partition_for_key("k", default.partitions)


async def test_auto_create_refuses_names_outside_the_scheme(bus: EmbeddedBus) -> None:
    with pytest.raises(ValidationError, match="auto-create"):
        await bus.publish("Not A Topic", b"x")


async def test_existing_topic_config_wins(
    bus: EmbeddedBus, caplog: pytest.LogCaptureFixture
) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=2))
    other = EmbeddedBus(bus.path)  # a fresh instance has no cache: reads the file
    try:
        with caplog.at_level(logging.WARNING):
            await other.ensure_topic(TopicSpec(name=T, partitions=8))
        assert "already exists" in caplog.text
        assert (await other.topics())[T].partitions == 2
        assert set((await other.end_offsets([T]))[T]) == {0, 1}
    finally:
        await other.aclose()


async def test_record_validation(bus: EmbeddedBus) -> None:
    with pytest.raises(ValidationError, match="bytes"):
        await bus.publish(T, "text")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="key"):
        await bus.publish(T, b"x", key=42)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="header"):
        await bus.publish(T, b"x", headers={"h": "str"})  # type: ignore[dict-item]


async def test_headers_keep_arbitrary_bytes(bus: EmbeddedBus) -> None:
    headers = {"all": bytes(range(256)), "empty": b"", "ü": "ü".encode()}
    await bus.publish(T, b"x", key="k", headers=headers)
    async with bus.consumer("g", [T]) as c:
        (m,) = await c.poll(timeout=1)
    assert dict(m.headers) == headers


async def test_offsets_are_per_partition_and_dense(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=3))
    metas = [await bus.publish(T, b"x", key=f"k{i}") for i in range(30)]
    metas += await bus.publish_many(T, [(b"y", f"k{i}", None) for i in range(30)])
    by_partition: dict[int, list[int]] = {}
    for m in metas:
        by_partition.setdefault(m.partition, []).append(m.offset)
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))


async def test_publish_many_partitions_like_publish_and_keeps_order(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=4))
    records = [(f"v{i}".encode(), f"k{i % 7}", {"i": str(i).encode()}) for i in range(50)]
    metas = await bus.publish_many(T, records)
    assert [m.partition for m in metas] == [partition_for_key(f"k{i % 7}", 4) for i in range(50)]
    assert await bus.publish_many(T, []) == []
    async with bus.consumer("g", [T]) as c:
        got = await poll_all(c)
    for key in {f"k{i % 7}" for i in range(50)}:
        values = [m.value for m in got if m.key == key]
        assert values == [v for v, k, _ in records if k == key]


async def test_unkeyed_records_round_robin(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=3))
    metas = [await bus.publish(T, b"x") for _ in range(6)]
    assert [m.partition for m in metas] == [0, 1, 2, 0, 1, 2]


async def test_poll_orders_by_offset_and_respects_max_records(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=3))
    await bus.publish_many(T, [(b"x", f"k{i}", None) for i in range(25)])
    async with bus.consumer("g", [T]) as c:
        first = await c.poll(max_records=10, timeout=1)
        assert len(first) == 10
        rest = await poll_all(c)
    got = first + rest
    assert len(got) == 25
    for p in range(3):
        offsets = [m.offset for m in got if m.partition == p]
        assert offsets == sorted(offsets) == list(range(len(offsets)))
    with pytest.raises(ValidationError):
        await bus.consumer("g", [T]).poll(max_records=0)


async def test_poll_is_woken_by_a_publish(tmp_path: Path) -> None:
    # A long poll_interval: only the in-process notification can wake the poll quickly.
    async with EmbeddedBus(tmp_path / "bus.db", poll_interval=5) as bus:
        await bus.ensure_topic(TopicSpec(name=T))
        async with bus.consumer("g", [T]) as c:
            poll = asyncio.create_task(c.poll(timeout=10))
            await asyncio.sleep(0.05)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await bus.publish(T, b"x", key="k")
            assert len(await poll) == 1
            assert loop.time() - started < 1


async def test_poll_times_out_empty(bus: EmbeddedBus) -> None:
    async with bus.consumer("g", [T]) as c:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await c.poll(timeout=0.1) == []
        assert 0.09 <= loop.time() - started < 1


async def test_delivery_count_counts_redeliveries(bus: EmbeddedBus) -> None:
    await bus.publish(T, b"x", key="k")
    for expected in range(3):
        async with bus.consumer("g", [T]) as c:
            (m,) = await c.poll(timeout=1)
            assert m.delivery_count == expected
    async with bus.consumer("other", [T]) as c:
        (m,) = await c.poll(timeout=1)
        assert m.delivery_count == 0, "counts are per group"
        await c.commit(m)
    async with bus.consumer("g", [T]) as c:
        (m,) = await c.poll(timeout=1)
        assert m.delivery_count == 3
        await c.commit(m)


async def test_commit_never_moves_backwards(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=1))
    await bus.publish_many(T, [(f"m{i}".encode(), "k", None) for i in range(5)])
    async with bus.consumer("g", [T]) as c:
        got = await poll_all(c)
        await c.commit(got[3])
        await c.commit(got[1])  # late / out-of-order ack
    assert await bus.committed("g") == {T: {0: 4}}
    async with bus.consumer("g", [T]) as c:
        assert [m.value for m in await poll_all(c)] == [b"m4"]


async def test_seek_and_seek_to_committed(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=1))
    await bus.publish_many(T, [(f"m{i}".encode(), "k", None) for i in range(5)])
    async with bus.consumer("g", [T]) as c:
        got = await poll_all(c)
        await c.commit(got[1])
        assert await c.poll(timeout=0.05) == []
        await c.seek_to_committed()
        assert c.position(T, 0) == 2
        assert [m.value for m in await poll_all(c)] == [b"m2", b"m3", b"m4"]
        await c.seek(T, 0, 0)
        assert [m.value for m in await poll_all(c)] == [f"m{i}".encode() for i in range(5)]
        with pytest.raises(EventBusError, match="not assigned"):
            await c.seek(T, 7, 0)
        with pytest.raises(ValidationError):
            await c.seek(T, 0, -1)


async def test_rebalance_when_a_member_leaves_hands_over_uncommitted(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=4))
    await bus.publish_many(T, [(f"m{i}".encode(), f"k{i}", None) for i in range(40)])
    async with bus.consumer("g", [T]) as a:
        got_a = await poll_all(a)
        assert len(a.assignment) == 4  # alone: owns everything...
        await a.commit_many(got_a[:10])
        async with bus.consumer("g", [T]) as b:
            got_b = await b.poll(max_records=1000, timeout=0.05)  # b joins
            assert await a.poll(timeout=0.05) == []
            assert len(a.assignment) == len(b.assignment) == 2
            assert not a.assignment & b.assignment
            await a.aclose()  # ...leaves with most of it uncommitted
            got_b += await poll_all(b, commit=True)
            assert len(b.assignment) == 4
    committed_by_a = {m.value for m in got_a[:10]}
    later = {m.value for m in got_a} - committed_by_a
    assert later <= {m.value for m in got_b}, "uncommitted messages went to b"


async def test_dropped_consumer_leaves_its_group_when_collected(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=2))
    survivor = bus.consumer("g", [T])
    dropped = bus.consumer("g", [T])
    await survivor.poll(timeout=0.01)
    await dropped.poll(timeout=0.01)
    await survivor.poll(timeout=0.01)
    assert len(survivor.assignment) == 1
    await bus.publish_many(T, [(f"m{i}".encode(), f"k{i}", None) for i in range(10)])
    own = await poll_all(survivor, commit=True)
    theirs = await poll_all(dropped)  # polled, never committed, never closed
    assert len(own) + len(theirs) == 10
    del dropped
    gc.collect()
    handed_over = await poll_all(survivor)
    assert len(survivor.assignment) == 2
    assert sorted(m.value for m in handed_over) == sorted(m.value for m in theirs)
    await survivor.aclose()


async def test_members_with_different_subscriptions(bus: EmbeddedBus) -> None:
    other = "orders.shop.entity_deleted"
    await bus.ensure_topic(TopicSpec(name=T, partitions=2))
    await bus.ensure_topic(TopicSpec(name=other, partitions=2))
    async with bus.consumer("g", [T, other]) as both, bus.consumer("g", [other]) as only:
        await both.poll(timeout=0.01)
        await only.poll(timeout=0.01)
        await both.poll(timeout=0.01)
        assert {tp for tp in both.assignment if tp[0] == T} == {(T, 0), (T, 1)}
        assert {tp[0] for tp in only.assignment} <= {other}
        assert len(both.assignment) + len(only.assignment) == 4


async def test_closed_consumer_and_bus_refuse_work(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.db")
    c = bus.consumer("g", [T])
    await c.aclose()
    await c.aclose()  # idempotent
    with pytest.raises(EventBusError, match="closed"):
        await c.poll()
    await bus.connect()
    await bus.connect()  # idempotent
    assert await bus.ping() is True
    await bus.aclose()
    await bus.aclose()
    assert await bus.ping() is False
    with pytest.raises(EventBusError, match="closed"):
        await bus.publish(T, b"x")
    await bus.connect()  # reopening is allowed
    assert await bus.ping() is True
    await bus.aclose()


async def test_close_wakes_a_waiting_poll(bus: EmbeddedBus) -> None:
    c = bus.consumer("g", [T])
    poll = asyncio.create_task(c.poll(timeout=10))
    await asyncio.sleep(0.05)
    await c.aclose()
    assert await asyncio.wait_for(poll, 1) == []


async def test_lazy_connect_on_first_use(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.db")
    try:
        await bus.publish(T, b"x", key="k")
        assert await bus.ping()
    finally:
        await bus.aclose()


async def test_unopenable_path_is_an_event_bus_error(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    bus = EmbeddedBus(tmp_path / "dir")  # a directory, not a file
    with pytest.raises(EventBusError, match="cannot open"):
        await bus.connect()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EventBusError):
        await EmbeddedBus(blocker / "bus.db").connect()  # parent is a file


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "bus.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(EventBusError, match="v99"):
        await EmbeddedBus(path).connect()


async def test_a_v1_file_keeps_its_delivery_counts(tmp_path: Path) -> None:
    """Schema v1 counted deliveries per message; v2 per fetched range. Opening a v1 file
    upgrades it in place, and what v1 counted still counts."""
    import sqlite3

    from dictamesh.events import _embedded_sql

    path = tmp_path / "bus.db"
    async with EmbeddedBus(path) as bus:
        await bus.ensure_topic(TopicSpec(name=T, partitions=1))
        for n in range(3):
            await bus.publish(T, f"m{n}".encode(), key="k")
    conn = sqlite3.connect(path, isolation_level=None)
    v1 = _embedded_sql.SCHEMA.split("-- One row per fetch")[0] + (
        "CREATE TABLE dictamesh_bus_deliveries (group_id TEXT NOT NULL, topic TEXT NOT NULL,"
        " partition INTEGER NOT NULL, offset INTEGER NOT NULL, count INTEGER NOT NULL,"
        " PRIMARY KEY (group_id, topic, partition, offset)) WITHOUT ROWID;"
    )
    conn.executescript(
        "DROP TABLE dictamesh_bus_delivered;" + v1 + "INSERT INTO dictamesh_bus_deliveries"
        f" VALUES ('g', '{T}', 0, 0, 2), ('g', '{T}', 0, 2, 1);PRAGMA user_version=1;"
    )
    conn.close()
    async with EmbeddedBus(path) as bus, bus.consumer("g", [T]) as consumer:
        assert [m.delivery_count for m in await poll_all(consumer)] == [2, 0, 1]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "dictamesh_bus_deliveries" not in tables
    finally:
        conn.close()


async def test_wal_mode_on_files(bus: EmbeddedBus) -> None:
    import sqlite3

    await bus.ping()
    conn = sqlite3.connect(bus.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


async def test_end_offsets_committed_and_lag(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=2))
    metas = await bus.publish_many(T, [(b"x", f"k{i}", None) for i in range(10)])
    ends = {p: sum(1 for m in metas if m.partition == p) for p in (0, 1)}
    assert await bus.end_offsets([T]) == {T: ends}
    assert (await bus.end_offsets())[T] == ends
    assert await bus.lag("nobody") == {}
    assert await bus.lag("g", [T]) == {T: ends}
    async with bus.consumer("g", [T]) as c:
        got = await c.poll(max_records=3, timeout=1)
        await c.commit_many(got)
        lag = await bus.lag("g")  # topics: from its commits and live members
    assert sum(lag[T].values()) == 10 - len(got)


async def test_compacted_topic_spec_is_stored(bus: EmbeddedBus) -> None:
    spec = TopicSpec(
        name="system.metadata.entity_registered",
        partitions=1,
        retention_ms=None,
        cleanup_policy=CleanupPolicy.COMPACT,
    )
    await bus.ensure_topic(spec)
    stored = (await bus.topics())[spec.name]
    assert stored.cleanup_policy is CleanupPolicy.COMPACT
    assert stored.retention_ms is None


async def test_read_is_groupless(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=1))
    await bus.publish_many(T, [(f"m{i}".encode(), "k", None) for i in range(5)])
    assert [m.offset for m in await bus.read(T, 0, 2, 2)] == [2, 3]
    assert await bus.read(T, 0, 10) == []
    assert await bus.committed("g") == {}
    with pytest.raises(ValidationError):
        await bus.read(T, 0, 0, 0)


async def test_in_memory_bus_is_private_per_instance() -> None:
    async with EmbeddedBus() as a, EmbeddedBus() as b:
        await a.publish(T, b"x", key="k")
        assert await b.end_offsets() == {}


async def test_cancelled_polls_lose_nothing(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=2))
    await bus.publish_many(T, [(f"m{i}".encode(), f"k{i}", None) for i in range(20)])
    got: list[Message] = []
    cancelled = 0
    async with bus.consumer("g", [T]) as c:
        for spins in range(6):  # cancel at different points of the poll
            task = asyncio.create_task(c.poll(max_records=5, timeout=1))
            for _ in range(spins):
                await asyncio.sleep(0)
            task.cancel()
            try:
                # On a busy machine a poll may finish before cancel() lands: its batch
                # was delivered, to this test, and must not come again.
                got.extend(await task)
            except asyncio.CancelledError:
                cancelled += 1
        got.extend(await poll_all(c))
    assert cancelled  # the cancellation path was exercised, not only completed polls
    # Whatever the cancelled polls fetched was not handed to anyone, so it comes again;
    # what the completed ones returned does not (exactly once here: nothing was redelivered).
    assert sorted(m.value for m in got) == sorted(f"m{i}".encode() for i in range(20))


async def test_concurrent_polls_and_commits_on_one_bus(bus: EmbeddedBus) -> None:
    await bus.ensure_topic(TopicSpec(name=T, partitions=4))
    consumers = [bus.consumer("g", [T]) for _ in range(3)]
    seen: list[bytes] = []

    async def work(c: EmbeddedConsumer) -> None:
        async with c:
            while len(set(seen)) < 200:
                batch = await c.poll(max_records=7, timeout=0.05)
                seen.extend(m.value for m in batch)
                await c.commit_many(batch)

    async def produce() -> None:
        for i in range(0, 200, 10):
            await bus.publish_many(T, [(f"m{j}".encode(), f"k{j}", None) for j in range(i, i + 10)])

    await asyncio.wait_for(asyncio.gather(produce(), *(work(c) for c in consumers)), 10)
    # at-least-once: members joining mid-stream may see a message twice, never miss one
    assert set(seen) == {f"m{j}".encode() for j in range(200)}


@pytest.mark.parametrize(("mode", "level"), [("NORMAL", 1), ("FULL", 2)])
async def test_synchronous_setting(tmp_path: Path, mode: str, level: int) -> None:
    async with EmbeddedBus(tmp_path / "bus.db", synchronous=mode) as bus:  # type: ignore[arg-type]
        await bus.publish(T, b"x", key="k")
        got = await bus._call(lambda s: s.conn.execute("PRAGMA synchronous").fetchone()[0])
        assert got == level
