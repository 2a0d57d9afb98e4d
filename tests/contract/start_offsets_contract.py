"""Where a consumer group starts: ``initial_offsets`` (a snapshot of the end offsets) for
partitions it never committed on, its commits everywhere else; every backend alike.

A node's own cache group is new in every process; with the earliest-message default it
would replay every retained change to its subscribers. The snapshot is taken when the node
starts, so what is published between then and the (slow, on Kafka) group join still counts
as new: "latest at assignment time" would lose it.

Subclass :class:`StartOffsetsContract` with a ``bus`` fixture (see ``bus_contract.py``).
"""

from __future__ import annotations

import asyncio

import pytest

from dictamesh.events.bus import Consumer, EventBus, Message
from dictamesh.events.consume import run_consumer
from dictamesh.events.partitioner import partition_for_key
from dictamesh.events.topics import TopicSpec

from .bus_contract import ConsumeHelpers, _uid

__all__ = ["StartOffsetsContract"]


def keys_for(partition: int, partitions: int, count: int) -> list[str]:
    """``count`` keys the partitioner puts on ``partition``."""
    found: list[str] = []
    n = 0
    while len(found) < count:
        key = f"k{n}"
        if partition_for_key(key, partitions) == partition:
            found.append(key)
        n += 1
    return found


class StartOffsetsContract(ConsumeHelpers):
    deadline: float = 30.0
    quiet_period: float = 1.0

    async def new_topic(self, bus: EventBus, partitions: int = 3) -> str:
        name = f"so{_uid()}.contract.events"
        await bus.ensure_topic(TopicSpec(name=name, partitions=partitions))
        return name

    @staticmethod
    def group() -> str:
        return f"contract-start-{_uid()}"

    @staticmethod
    async def publish(bus: EventBus, topic: str, label: str, count: int) -> set[bytes]:
        values = {f"{label}-{i}".encode() for i in range(count)}
        for value in sorted(values):
            await bus.publish(topic, value, key=value.decode())
        return values

    async def collect(
        self, consumer: Consumer, count: int, *, commit: bool = True
    ) -> list[Message]:
        """Poll (and commit) until ``count`` messages came, then watch for strays."""
        got = await super().collect(consumer, count, commit=commit)
        return got + await self.quiet(consumer)

    async def lag_when_joined(
        self, consumer: Consumer, bus: EventBus, group: str, topic: str
    ) -> dict[int, int]:
        """Poll (receiving nothing) until the group committed its start everywhere."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.deadline
        while loop.time() < end:
            assert await consumer.poll(max_records=10, timeout=0.2) == []
            lag = (await bus.lag(group, [topic])).get(topic, {})
            if lag and not any(lag.values()):
                return lag
        pytest.fail(f"{group}: lag {await bus.lag(group, [topic])} after {self.deadline}s")

    # --- tests -----------------------------------------------------------------------------

    async def test_a_fresh_group_starts_at_the_snapshot(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus)
        old = await self.publish(bus, topic, "old", 12)
        snapshot = await bus.end_offsets([topic])
        assert sum(snapshot[topic].values()) == 12
        # after the snapshot, before the consumer exists (let alone joined): new, not lost
        early = await self.publish(bus, topic, "early", 6)
        group = self.group()
        async with bus.consumer(group, [topic], initial_offsets=snapshot) as consumer:
            got = await self.collect(consumer, 6)
            assert {m.value for m in got} == early
            late = await self.publish(bus, topic, "late", 6)
            got += await self.collect(consumer, 6)
        values = [m.value for m in got]
        assert sorted(values) == sorted(early | late)  # each once, none of the old ones
        assert not old & set(values)
        # nothing left behind: the group is at the end everywhere
        assert all(n == 0 for n in (await bus.lag(group, [topic]))[topic].values())

    async def test_the_start_is_committed_so_lag_counts_from_it(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus)
        await self.publish(bus, topic, "old", 9)
        snapshot = await bus.end_offsets([topic])
        group = self.group()
        async with bus.consumer(group, [topic], initial_offsets=snapshot) as consumer:
            # partitions that get no traffic would otherwise report the 9 old messages as
            # lag forever (and trip the consumer-lag alert on every new node)
            assert await self.lag_when_joined(consumer, bus, group, topic) == dict.fromkeys(
                range(3), 0
            )
        # a restart of the same group resumes from those commits, whatever it is given
        await self.publish(bus, topic, "gap", 3)
        later = await bus.end_offsets([topic])
        async with bus.consumer(group, [topic], initial_offsets=later) as consumer:
            got = await self.collect(consumer, 3)
        assert {m.value for m in got} == {b"gap-0", b"gap-1", b"gap-2"}

    async def test_committed_partitions_resume_from_their_commit(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus, partitions=2)
        on0, on1 = keys_for(0, 2, 6), keys_for(1, 2, 6)
        for key in on0[:5] + on1[:5]:
            await bus.publish(topic, key.encode(), key=key)
        group = self.group()
        # an earlier member of the group handled partition 0 up to offset 2, partition 1
        # not at all (read, never committed)
        async with bus.consumer(group, [topic]) as first:
            got = await self.collect(first, 10, commit=False)
            await first.commit(next(m for m in got if (m.partition, m.offset) == (0, 2)))
        snapshot = await bus.end_offsets([topic])
        assert snapshot[topic] == {0: 5, 1: 5}
        await bus.publish(topic, on0[5].encode(), key=on0[5])
        await bus.publish(topic, on1[5].encode(), key=on1[5])
        async with bus.consumer(group, [topic], initial_offsets=snapshot) as member:
            got = await self.collect(member, 4)
        # partition 0 resumes after its commit (3, 4, then the new 5); partition 1 never
        # committed: it starts at the snapshot (only the new 5)
        assert sorted((m.partition, m.offset) for m in got) == [(0, 3), (0, 4), (0, 5), (1, 5)]

    async def test_a_topic_the_snapshot_lacks_starts_at_its_beginning(self, bus: EventBus) -> None:
        seen = await self.new_topic(bus)
        unseen = await self.new_topic(bus)
        await self.publish(bus, seen, "old", 6)
        snapshot = await bus.end_offsets([seen])
        assert unseen not in snapshot
        # unseen's messages all came after the snapshot (the topic did not count yet)
        fresh = await self.publish(bus, unseen, "new", 6)
        async with bus.consumer(self.group(), [seen, unseen], initial_offsets=snapshot) as c:
            got = await self.collect(c, 6)
        assert {m.value for m in got} == fresh

    async def test_without_initial_offsets_a_group_starts_at_the_earliest(
        self, bus: EventBus
    ) -> None:
        """The default every durable group (catalog ingest, router, notifications) relies on."""
        topic = await self.new_topic(bus)
        old = await self.publish(bus, topic, "old", 6)
        await bus.end_offsets([topic])
        async with bus.consumer(self.group(), [topic]) as consumer:
            got = await self.collect(consumer, 6)
        assert {m.value for m in got} == old

    async def test_run_consumer_passes_initial_offsets(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus)
        await self.publish(bus, topic, "old", 6)
        snapshot = await bus.end_offsets([topic])
        new = await self.publish(bus, topic, "new", 6)
        handled: list[bytes] = []
        stop = asyncio.Event()

        async def handle(batch: list[Message]) -> None:
            handled.extend(m.value for m in batch)
            if len(handled) >= len(new):
                stop.set()

        group = self.group()
        run = run_consumer(bus, group, [topic], handle, stop=stop, initial_offsets=snapshot)
        stats = await asyncio.wait_for(run, self.deadline)
        assert sorted(handled) == sorted(new)
        assert stats.committed == len(new)
