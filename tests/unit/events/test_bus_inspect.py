"""The bus inspector's library on the embedded bus: offsets, tails, follow, lag, DLQ filters
and idempotent replay (the CLI over it: tests/unit/cli/test_bus_cli.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from dictamesh.core.errors import ValidationError
from dictamesh.events.bus import Message
from dictamesh.events.consume import DLQ_ERROR_TYPE, DLQ_ORIGINAL_TOPIC
from dictamesh.events.dlq import (
    REPLAY_LEDGER_TOPIC,
    dead_letter,
    parse_filters,
    read_dead_letters,
    replay,
    replayed_refs,
)
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.inspect import follow, read_range, tail, topic_rows
from dictamesh.events.inspect_view import EventDecoder, record_view, safe_text
from dictamesh.events.topics import TopicSpec

TOPIC = "crm.lab.entity_changed"


@pytest.fixture
async def bus() -> AsyncIterator[EmbeddedBus]:
    async with EmbeddedBus(":memory:") as bus:
        await bus.ensure_topic(TopicSpec(name=TOPIC, partitions=3))
        yield bus


async def publish(bus: EmbeddedBus, n: int, key: str | None = None) -> None:
    for i in range(n):
        await bus.publish(TOPIC, f"v{i}".encode(), key=key or f"k{i}")
        await asyncio.sleep(0.002)  # distinct timestamps: time order is publish order


async def test_offsets_counts_and_lag_details(bus: EmbeddedBus) -> None:
    await publish(bus, 9)
    assert sum((await bus.end_offsets([TOPIC]))[TOPIC].values()) == 9
    assert set((await bus.beginning_offsets([TOPIC]))[TOPIC].values()) == {0}
    [row] = await topic_rows(bus, groups=True)
    assert (row.name, row.partitions, row.messages, row.groups) == (TOPIC, 3, 9, ())
    async with bus.consumer("g", [TOPIC]) as consumer:
        await consumer.commit_many(await consumer.poll(max_records=4, timeout=1))
    details = await bus.lag_details("g")
    assert {d.partition: d.lag for d in details} == (await bus.lag("g"))[TOPIC]
    assert all(d.lag == d.end_offset - (d.committed or 0) for d in details)
    assert sum(d.lag for d in details) == 5
    assert await bus.consumer_groups() == ["g"]
    [row] = await topic_rows(bus, "crm.*", groups=True)
    assert row.groups == ("g",)


async def test_beginning_offsets_follow_retention(bus: EmbeddedBus) -> None:
    await publish(bus, 6, key="same")  # one partition
    await bus.enforce_retention(now_ms=2**62)  # everything expired
    ends = (await bus.end_offsets([TOPIC]))[TOPIC]
    assert (await bus.beginning_offsets([TOPIC]))[TOPIC] == ends  # nothing retained
    [row] = await topic_rows(bus)
    assert row.messages == 0


async def test_tail_picks_the_newest_or_oldest_over_all_partitions(bus: EmbeddedBus) -> None:
    await publish(bus, 10)
    newest, ends = await tail(bus, TOPIC, limit=3)
    assert [m.value for m in newest] == [b"v7", b"v8", b"v9"]
    assert sum(ends.values()) == 10
    oldest, _ = await tail(bus, TOPIC, from_beginning=True, limit=3)
    assert [m.value for m in oldest] == [b"v0", b"v1", b"v2"]
    everything, _ = await tail(bus, TOPIC, limit=None)
    assert [m.value for m in everything] == [f"v{i}".encode() for i in range(10)]
    keyed, _ = await tail(bus, TOPIC, key="k4", limit=3)
    assert [m.value for m in keyed] == [b"v4"]
    # the tail reads outside any group: nobody committed, nothing is lagging
    assert await bus.consumer_groups() == []


async def test_read_range_stops_at_the_bound(bus: EmbeddedBus) -> None:
    await publish(bus, 5, key="same")
    partition = next(p for p, n in (await bus.end_offsets([TOPIC]))[TOPIC].items() if n)
    chunks = [c async for c in read_range(bus, TOPIC, partition, 1, 4)]
    assert [m.offset for c in chunks for m in c] == [1, 2, 3]


async def test_follow_yields_new_records_until_stopped(bus: EmbeddedBus) -> None:
    await publish(bus, 2)
    _, ends = await tail(bus, TOPIC)
    stop = asyncio.Event()
    seen: list[bytes] = []

    async def watch() -> None:
        async for batch in follow(bus, TOPIC, ends, stop, key="late", interval=0.05):
            seen.extend(m.value for m in batch)
            stop.set()

    task = asyncio.create_task(watch())
    await asyncio.sleep(0.1)
    await bus.publish(TOPIC, b"other", key="nope")
    await bus.publish(TOPIC, b"new", key="late")
    await asyncio.wait_for(task, 5)
    assert seen == [b"new"]


async def test_decoder_and_view_show_undecodable_bytes_safely(bus: EmbeddedBus) -> None:
    await bus.publish(TOPIC, b"\x00\x00\x00\x00\x07garbage", key="k")
    [message] = [m for p in range(3) for m in await bus.read(TOPIC, p)]
    event, error = await EventDecoder().try_decode(message)
    assert event is None
    assert error is not None
    assert "schema registry" in error  # an Avro frame, and no registry to read it
    view = record_view(message, event, error)
    assert view["raw"] == "\\x00\\x00\\x00\\x00\\x07garbage"
    assert view["size"] == 12
    assert safe_text(b"a" * 10, limit=4) == "aaaa... (10 bytes)"


def letter_message(offset: int, key: str, error_type: str) -> Message:
    return Message(
        f"{TOPIC}.dlq",
        0,
        offset,
        key,
        b"{}",
        {DLQ_ERROR_TYPE: error_type.encode(), DLQ_ORIGINAL_TOPIC: TOPIC.encode()},
    )


def test_filters() -> None:
    letters = [
        dead_letter(letter_message(0, "c-1", "ValueError")),
        dead_letter(letter_message(5, "c-2", "dictamesh.core.errors.SerializationError")),
        dead_letter(letter_message(9, "x-3", "KeyError")),
    ]

    def pick(*exprs: str) -> list[int]:
        chosen = parse_filters(exprs)
        return [lt.message.offset for lt in letters if all(f.matches(lt) for f in chosen)]

    assert pick() == [0, 5, 9]
    assert pick("error_type=SerializationError") == [5]  # the short name matches
    assert pick("error_type=dictamesh.core.*") == [5]
    assert pick("key=c-*") == [0, 5]
    assert pick("offset=5..") == [5, 9]
    assert pick("offset=..5", "key=c-*") == [0, 5]
    assert pick("offset=1..8,error_type=*Error") == [5]
    assert pick("topic=crm.*", "partition=0") == [0, 5, 9]
    assert pick("original_offset=0") == []  # no such header on these
    for bad in ("nope=1", "key", "offset=a", "offset=3..1", "offset=..", "partition=0..1", "=x"):
        with pytest.raises(ValidationError):
            parse_filters([bad])


async def test_replay_is_recorded_and_not_repeated(bus: EmbeddedBus) -> None:
    dlq = f"{TOPIC}.dlq"
    await bus.ensure_topic(TopicSpec(name=dlq, partitions=1))
    for i, error in enumerate(("ValueError", "KeyError", "ValueError")):
        msg = letter_message(i, f"c-{i}", error)
        await bus.publish(dlq, msg.value, key=msg.key, headers=dict(msg.headers))
    ends = await bus.end_offsets([TOPIC])

    dry = await replay(bus, dlq, parse_filters(["error_type=ValueError"]), dry_run=True)
    assert [o.status for o in dry] == ["dry-run", "dry-run"]
    assert await bus.end_offsets([TOPIC]) == ends
    assert REPLAY_LEDGER_TOPIC not in await bus.topic_names()  # a dry run writes nothing

    first = await replay(bus, dlq, parse_filters(["error_type=ValueError"]))
    assert [(o.letter.message.key, o.status) for o in first] == [
        ("c-0", "replayed"),
        ("c-2", "replayed"),
    ]
    assert await replayed_refs(bus) == {f"{dlq}/0/0", f"{dlq}/0/2"}
    second = await replay(bus, dlq)
    assert [o.status for o in second] == ["skipped", "replayed", "skipped"]
    third = await replay(bus, dlq, force=True)
    assert [o.status for o in third] == ["replayed"] * 3
    replayed, _ = await tail(bus, TOPIC, limit=None)
    assert sorted(m.key or "" for m in replayed) == ["c-0", "c-0", "c-1", "c-1", "c-2", "c-2"]
    ledger = await bus.read(REPLAY_LEDGER_TOPIC, 0)
    entry = json.loads(ledger[0].value)
    assert (entry["dlq_topic"], entry["dlq_offset"], entry["topic"]) == (dlq, 0, TOPIC)
    with pytest.raises(ValidationError, match="not a dead-letter topic"):
        await read_dead_letters(bus, TOPIC)
