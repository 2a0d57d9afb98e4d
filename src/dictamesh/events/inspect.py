"""Looking into a bus without changing it: topics, record ranges, tails, consumer lag.

What ``dictamesh bus topics|tail|lag`` shows, on any backend implementing
:class:`InspectableBus` (the embedded bus and Kafka do). Nothing here joins a consumer group
or commits: records are read by partition and offset (the embedded bus's ``read``, Kafka's
assign + seek), so inspecting a topic never moves anyone's position.

Example::

    async with EmbeddedBus(".dictamesh/bus.sqlite3") as bus:
        for row in await topic_rows(bus):
            print(row.name, row.messages)
        for message in await tail(bus, "customers.crm.entity_changed", limit=10):
            print(message.offset, message.key)
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dictamesh.core.errors import ValidationError
from dictamesh.events.bus import EventBus, Message, PartitionLag, TopicInfo

__all__ = [
    "InspectableBus",
    "TopicRow",
    "follow",
    "group_lag",
    "read_range",
    "require_topic",
    "tail",
    "topic_rows",
]

#: records asked per read; a Kafka fetch may return fewer, the loops ask again
_CHUNK = 500
#: groups whose committed offsets are fetched at once (one request each on Kafka)
_GROUP_CONCURRENCY = 16


@runtime_checkable
class InspectableBus(EventBus, Protocol):
    """What the inspector needs beyond :class:`EventBus` (both built-in backends have it)."""

    async def topic_names(self) -> list[str]: ...

    async def describe_topics(self, topics: Sequence[str]) -> list[TopicInfo]: ...

    async def beginning_offsets(
        self, topics: Sequence[str] | None = None
    ) -> dict[str, dict[int, int]]: ...

    async def end_offsets(
        self, topics: Sequence[str] | None = None
    ) -> dict[str, dict[int, int]]: ...

    async def read(
        self, topic: str, partition: int, offset: int = 0, max_records: int = 1000
    ) -> list[Message]: ...

    async def consumer_groups(self) -> list[str]: ...

    async def committed_offsets(
        self, group: str, topics: Sequence[str] | None = None
    ) -> dict[str, dict[int, int]]: ...

    async def lag_details(
        self, group: str, topics: Sequence[str] | None = None
    ) -> list[PartitionLag]: ...


@dataclass(frozen=True, slots=True)
class TopicRow:
    name: str
    partitions: int
    #: retained messages: end minus start offsets (compaction gaps counted)
    messages: int
    retention_ms: int | None
    cleanup_policy: str
    #: groups that committed on the topic (None: not asked for)
    groups: tuple[str, ...] | None = None


async def require_topic(bus: InspectableBus, topic: str) -> None:
    """:class:`ValidationError` unless ``topic`` exists (an inspector never creates one)."""
    if topic not in await bus.topic_names():
        raise ValidationError(f"no topic {topic!r} on this bus", topic=topic)


async def topic_rows(
    bus: InspectableBus, pattern: str | None = None, *, groups: bool = False
) -> list[TopicRow]:
    """Every topic (or those matching the glob ``pattern``) with its partitions, message
    count, retention and cleanup policy; with ``groups``, the consumer groups that
    committed on it (one request per group on Kafka)."""
    names = [n for n in await bus.topic_names() if pattern is None or fnmatch.fnmatch(n, pattern)]
    if not names:
        return []
    infos = await bus.describe_topics(names)
    starts = await bus.beginning_offsets(names)
    ends = await bus.end_offsets(names)
    by_topic: dict[str, list[str]] | None = None
    if groups:
        by_topic = {}
        for group, committed in await _all_committed(bus, await bus.consumer_groups()):
            for topic in committed:
                by_topic.setdefault(topic, []).append(group)
    rows = []
    for info in infos:
        start, end = starts.get(info.name, {}), ends.get(info.name, {})
        count = sum(max(0, n - start.get(p, n)) for p, n in end.items())
        rows.append(
            TopicRow(
                info.name,
                info.partitions,
                count,
                info.retention_ms,
                info.cleanup_policy,
                None if by_topic is None else tuple(sorted(by_topic.get(info.name, ()))),
            )
        )
    return rows


async def _all_committed(
    bus: InspectableBus, groups: Sequence[str]
) -> list[tuple[str, dict[str, dict[int, int]]]]:
    limit = asyncio.Semaphore(_GROUP_CONCURRENCY)

    async def one(group: str) -> tuple[str, dict[str, dict[int, int]]]:
        async with limit:
            return group, await bus.committed_offsets(group)

    return list(await asyncio.gather(*(one(g) for g in groups)))


async def group_lag(
    bus: InspectableBus, groups: Sequence[str], topic: str | None = None
) -> list[tuple[str, PartitionLag]]:
    """``(group, lag)`` per partition each group committed on (``topic``: only that one)."""
    limit = asyncio.Semaphore(_GROUP_CONCURRENCY)
    wanted = None if topic is None else [topic]

    async def one(group: str) -> list[tuple[str, PartitionLag]]:
        async with limit:
            return [(group, item) for item in await bus.lag_details(group, wanted)]

    out: list[tuple[str, PartitionLag]] = []
    for rows in await asyncio.gather(*(one(g) for g in groups)):
        out.extend(rows)
    return out


async def read_range(
    bus: InspectableBus, topic: str, partition: int, start: int, stop: int
) -> AsyncIterator[list[Message]]:
    """The messages of one partition with ``start <= offset < stop``, in chunks."""
    position = start
    while position < stop:
        chunk = await bus.read(topic, partition, position, min(_CHUNK, stop - position))
        chunk = [m for m in chunk if m.offset < stop]
        if not chunk:
            return  # retention or compaction left nothing up to stop
        yield chunk
        position = chunk[-1].offset + 1


def _order(messages: list[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: (m.timestamp_ms, m.partition, m.offset))


async def tail(
    bus: InspectableBus,
    topic: str,
    *,
    from_beginning: bool = False,
    key: str | None = None,
    limit: int | None = 20,
) -> tuple[list[Message], dict[int, int]]:
    """The last ``limit`` messages of ``topic`` (``from_beginning``: the first ones; ``None``:
    all), only those with ``key`` if given, in timestamp order; and the end offset of each
    partition, where :func:`follow` goes on."""
    starts = (await bus.beginning_offsets([topic])).get(topic, {})
    ends = (await bus.end_offsets([topic])).get(topic, {})
    newest = not from_beginning and limit is not None
    picked: list[Message] = []
    for partition, end in sorted(ends.items()):
        first = starts.get(partition, 0)
        if newest and key is None:
            assert limit is not None
            first = max(first, end - limit)  # without a key the last N are enough
        # each partition's first (or last) N hold the topic's first (or last) N
        part: deque[Message] = deque(maxlen=limit if newest else None)
        async for chunk in read_range(bus, topic, partition, first, end):
            part.extend(m for m in chunk if key is None or m.key == key)
            if not newest and limit is not None and len(part) >= limit:
                break
        picked.extend(part)
    ordered = _order(picked)
    if limit is not None:
        ordered = ordered[:limit] if from_beginning else ordered[-limit:]
    return ordered, dict(ends)


async def follow(
    bus: InspectableBus,
    topic: str,
    positions: dict[int, int],
    stop: asyncio.Event,
    *,
    key: str | None = None,
    interval: float = 0.25,
) -> AsyncIterator[list[Message]]:
    """New messages of ``topic`` from ``positions`` (partition → next offset) on, a batch
    at a time, until ``stop`` is set; ``positions`` is updated as they come."""
    while not stop.is_set():
        ends = (await bus.end_offsets([topic])).get(topic, {})
        batch: list[Message] = []
        for partition, end in sorted(ends.items()):
            position = positions.get(partition, 0)
            async for chunk in read_range(bus, topic, partition, position, end):
                batch.extend(m for m in chunk if key is None or m.key == key)
                position = chunk[-1].offset + 1
            positions[partition] = max(position, end)
        if batch:
            yield _order(batch)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
