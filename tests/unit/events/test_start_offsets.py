"""``initial_offsets`` checked at the edge; the embedded bus's start commit, its rewind, and
the pruning of idle groups (``EmbeddedBus.prune_groups``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from dictamesh.core.errors import ValidationError
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.topics import TopicSpec
from dictamesh.testing.bus import InMemoryBus

TOPIC = "customers.directus.entity_changed"
DAY_MS = 24 * 3600 * 1000


@pytest.mark.parametrize(
    ("offsets", "message"),
    [
        ({TOPIC: {0: -1}}, "offset -1 is not an integer >= 0"),
        ({TOPIC: {-2: 0}}, "partition -2 is not an integer >= 0"),
        ({TOPIC: {0: True}}, "offset True is not an integer >= 0"),
        ({TOPIC: {0: "5"}}, "offset '5' is not an integer >= 0"),
        ({TOPIC: {"0": 5}}, "partition '0' is not an integer >= 0"),
        ({1: {0: 5}}, "topic 1 is not a string"),
        ({TOPIC: [5]}, "must map topic -> {partition: offset}"),
        ([(TOPIC, {0: 5})], "must map topic -> {partition: offset}"),
    ],
)
def test_bad_initial_offsets_fail_when_the_consumer_is_made(offsets: Any, message: str) -> None:
    with pytest.raises(ValidationError, match="initial_offsets") as caught:
        EmbeddedBus().consumer("g", [TOPIC], initial_offsets=offsets)
    assert message in str(caught.value)
    with pytest.raises(ValidationError, match="initial_offsets"):  # no broker needed
        KafkaBus("127.0.0.1:1", topic_specs=()).consumer("g", [TOPIC], initial_offsets=offsets)


async def test_the_start_never_overwrites_a_commit_made_elsewhere(tmp_path: Path) -> None:
    """Two bus instances on one file (two processes): the commit one made wins over the
    other's initial offset, which only fills partitions without a commit."""
    path = tmp_path / "bus.db"
    async with EmbeddedBus(path) as a, EmbeddedBus(path) as b:
        await a.ensure_topic(TopicSpec(name=TOPIC, partitions=2))
        for i in range(4):
            await a.publish(TOPIC, f"m{i}".encode(), key=f"k{i}")
        ends = await a.end_offsets([TOPIC])
        async with a.consumer("g", [TOPIC]) as first:
            (m, *_) = await first.poll(max_records=1)
            await first.commit(m)
        committed_there = {m.partition: m.offset + 1}
        async with b.consumer("g", [TOPIC], initial_offsets=ends) as second:
            assert await second.poll(timeout=0.1) == [
                x for x in await b.read(TOPIC, m.partition, m.offset + 1)
            ]
        expected = {p: committed_there.get(p, ends[TOPIC][p]) for p in ends[TOPIC]}
        assert (await a.committed("g"))[TOPIC] == expected


async def test_seek_to_committed_rewinds_to_the_start() -> None:
    async with InMemoryBus() as bus:
        await bus.ensure_topic(TopicSpec(name=TOPIC, partitions=1))
        for i in range(5):
            await bus.publish(TOPIC, f"old{i}".encode())
        ends = await bus.end_offsets([TOPIC])
        for i in range(3):
            await bus.publish(TOPIC, f"new{i}".encode())
        async with bus.consumer("g", [TOPIC], initial_offsets=ends) as consumer:
            got = await consumer.poll(max_records=10)
            await consumer.seek_to_committed()
            again = await consumer.poll(max_records=10)
        assert [m.offset for m in got] == [m.offset for m in again] == [5, 6, 7]


async def test_prune_groups_forgets_only_idle_groups_of_the_prefix(tmp_path: Path) -> None:
    async with EmbeddedBus(tmp_path / "bus.db") as bus:
        await bus.ensure_topic(TopicSpec(name=TOPIC, partitions=1))
        await bus.publish(TOPIC, b"x")
        for group in ("cache-a", "cache-b", "cache-%", "ingest"):
            async with bus.consumer(group, [TOPIC]) as consumer:
                await consumer.poll()  # a delivery row, uncommitted
                if group != "cache-b":
                    (m,) = await bus.read(TOPIC, 0)
                    await consumer.commit(m)
        async with bus.consumer("cache-live", [TOPIC], initial_offsets={}) as live:
            await live.poll(timeout=0.05)
            now = time.time_ns() // 1_000_000
            assert await bus.prune_groups("cache-", idle_ms=DAY_MS) == []  # none idle yet
            # a week later: every cache group is idle, but a member keeps its group
            gone = await bus.prune_groups("cache-", idle_ms=DAY_MS, now_ms=now + 7 * DAY_MS)
            # "cache-b" never committed: no offsets row, nothing to prune ("%" is literal)
            assert sorted(gone) == ["cache-%", "cache-a"]
            assert await bus.consumer_groups() == ["cache-live", "ingest"]
            assert await bus.prune_groups("cache_", idle_ms=0, now_ms=now + DAY_MS) == []
        with pytest.raises(ValidationError, match="prefix"):
            await bus.prune_groups("", idle_ms=0)
        with pytest.raises(ValidationError, match="idle_ms"):
            await bus.prune_groups("cache-", idle_ms=-1)
