"""The behaviour every :class:`~dictamesh.events.bus.EventBus` backend must show.

Subclass :class:`BusContract` in a ``test_*.py`` module and provide a ``bus`` fixture that
yields a connected bus (and closes it afterwards)::

    class TestKafkaBusContract(BusContract):
        @pytest.fixture
        async def bus(self, kafka_bootstrap: str) -> AsyncIterator[EventBus]:
            async with KafkaBus(kafka_bootstrap) as bus:
                yield bus

The tests only use the ``EventBus``/``Consumer`` protocols (plus ``run_consumer`` and the
partitioner), every test uses fresh topic and group names, and every wait is bounded by
:attr:`BusContract.deadline`, so they run against a long-lived real broker as well.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable

import pytest

from dictamesh.events.bus import TOMBSTONE, Consumer, EventBus, Message
from dictamesh.events.consume import (
    DLQ_ATTEMPTS,
    DLQ_ERROR,
    DLQ_ERROR_TYPE,
    DLQ_ORIGINAL_OFFSET,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_TOPIC,
    ConsumerStats,
    run_consumer,
)
from dictamesh.events.partitioner import partition_for_key
from dictamesh.events.topics import TopicSpec, dlq_topic

__all__ = ["BusContract", "ConsumeHelpers"]


def _uid() -> str:
    return uuid.uuid4().hex[:12]


class ConsumeHelpers:
    """Waiting for messages under a deadline, shared by the bus contracts."""

    #: upper bound (seconds) for any single wait; generous for a real broker's rebalances
    deadline: float = 30.0
    #: how long "nothing more arrives" is observed
    quiet_period: float = 1.5

    async def collect(
        self, consumer: Consumer, count: int, *, commit: bool = True
    ) -> list[Message]:
        """Poll until ``count`` messages arrived (fails after :attr:`deadline`)."""
        got: list[Message] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + self.deadline
        while len(got) < count:
            remaining = end - loop.time()
            if remaining <= 0:
                pytest.fail(f"received {len(got)} of {count} messages in {self.deadline}s")
            batch = await consumer.poll(max_records=500, timeout=min(remaining, 1.0))
            got.extend(batch)
            if commit:
                for m in batch:
                    await consumer.commit(m)
        return got

    async def quiet(self, consumer: Consumer) -> list[Message]:
        """Whatever arrives during :attr:`quiet_period` (expected: nothing)."""
        got: list[Message] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + self.quiet_period
        while (remaining := end - loop.time()) > 0:
            got.extend(await consumer.poll(max_records=500, timeout=remaining))
        return got

    async def eventually(self, condition: Callable[[], bool], what: str) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + self.deadline
        while not condition():
            if loop.time() > end:
                pytest.fail(f"timed out after {self.deadline}s waiting for {what}")
            await asyncio.sleep(0.02)


class BusContract(ConsumeHelpers):
    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def topic(suffix: str = "events") -> str:
        return f"ct{_uid()}.contract.{suffix}"

    @staticmethod
    def group(name: str = "g") -> str:
        return f"contract-{name}-{_uid()}"

    async def new_topic(self, bus: EventBus, partitions: int = 3, suffix: str = "events") -> str:
        name = self.topic(suffix)
        await bus.ensure_topic(TopicSpec(name=name, partitions=partitions))
        return name

    # --- basics ----------------------------------------------------------------------------

    async def test_ping(self, bus: EventBus) -> None:
        assert await bus.ping() is True

    async def test_ensure_topic_is_idempotent(self, bus: EventBus) -> None:
        spec = TopicSpec(name=self.topic(), partitions=2)
        await bus.ensure_topic(spec)
        await bus.ensure_topic(spec)
        meta = await bus.publish(spec.name, b"x", key="k")
        assert meta.topic == spec.name
        assert 0 <= meta.partition < 2

    async def test_roundtrip_value_key_headers(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus)
        headers = {"content-type": b"application/json", "binary": bytes(range(256))}
        before_ms = time.time_ns() // 1_000_000 - 5_000
        keyed = await bus.publish(topic, b'{"n": 1}', key="c-1", headers=headers)
        unkeyed = await bus.publish(topic, b"", key=None)
        assert (keyed.topic, unkeyed.topic) == (topic, topic)

        async with bus.consumer(self.group(), [topic]) as consumer:
            got = {(m.partition, m.offset): m for m in await self.collect(consumer, 2)}

        first = got[(keyed.partition, keyed.offset)]
        assert first.topic == topic
        assert first.key == "c-1"
        assert first.value == b'{"n": 1}'
        assert {k: first.headers[k] for k in headers} == headers
        assert first.timestamp_ms >= before_ms
        second = got[(unkeyed.partition, unkeyed.offset)]
        assert second.key is None
        assert second.value == b""

    async def test_a_keyed_empty_value_is_a_tombstone(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus)
        await bus.publish(topic, b"v", key="k")
        await bus.publish(topic, TOMBSTONE, key="k")
        async with bus.consumer(self.group(), [topic]) as consumer:
            got = sorted(await self.collect(consumer, 2), key=lambda m: m.offset)
        assert [(m.key, m.value, m.tombstone) for m in got] == [
            ("k", b"v", False),
            ("k", b"", True),
        ]

    async def test_partition_is_kafka_murmur2_of_the_key(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus, partitions=6)
        keys = [f"entity-{i}" for i in range(24)] + ["c-1", "cust-42", "ü-ñ-€"]
        metas = [await bus.publish(topic, k.encode(), key=k) for k in keys]
        for key, meta in zip(keys, metas, strict=True):
            assert meta.partition == partition_for_key(key, 6), key
        async with bus.consumer(self.group(), [topic]) as consumer:
            for m in await self.collect(consumer, len(keys)):
                assert m.key is not None
                assert m.partition == partition_for_key(m.key, 6)

    async def test_per_key_order_is_kept(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus, partitions=3)
        keys = [f"k{i}" for i in range(6)]
        for seq in range(15):
            for key in keys:
                await bus.publish(topic, f"{key}:{seq}".encode(), key=key)
        async with bus.consumer(self.group(), [topic]) as consumer:
            got = await self.collect(consumer, len(keys) * 15)
        per_key: dict[str, list[int]] = defaultdict(list)
        last_offset: dict[int, int] = {}
        for m in got:
            key, number = m.value.decode().split(":")
            assert m.key == key
            per_key[key].append(int(number))
            assert m.offset > last_offset.get(m.partition, -1), "offsets go forward"
            last_offset[m.partition] = m.offset
        assert per_key == {key: list(range(15)) for key in keys}

    # --- groups ----------------------------------------------------------------------------

    async def test_each_group_gets_every_message(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus)
        values = {f"v{i}".encode() for i in range(20)}
        for i, v in enumerate(sorted(values)):
            await bus.publish(topic, v, key=f"k{i % 7}")
        async with (
            bus.consumer(self.group("a"), [topic]) as a,
            bus.consumer(self.group("b"), [topic]) as b,
        ):
            got_a, got_b = await asyncio.gather(self.collect(a, 20), self.collect(b, 20))
        assert sorted(m.value for m in got_a) == sorted(values)
        assert sorted(m.value for m in got_b) == sorted(values)

    async def test_committed_message_never_comes_back(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus)
        group = self.group()
        for i in range(5):
            await bus.publish(topic, f"old-{i}".encode(), key=f"k{i}")
        async with bus.consumer(group, [topic]) as consumer:
            await self.collect(consumer, 5, commit=True)
            assert await self.quiet(consumer) == []

        for i in range(2):
            await bus.publish(topic, f"new-{i}".encode(), key=f"k{i}")
        async with bus.consumer(group, [topic]) as consumer:
            got = await self.collect(consumer, 2)
            got += await self.quiet(consumer)
        assert sorted(m.value for m in got) == [b"new-0", b"new-1"]

    async def test_uncommitted_message_comes_back_after_close(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus, partitions=1)
        group = self.group()
        for i in range(3):
            await bus.publish(topic, f"m{i}".encode(), key="same")
        async with bus.consumer(group, [topic]) as consumer:
            first = await self.collect(consumer, 3, commit=False)
            assert [m.value for m in first] == [b"m0", b"m1", b"m2"]
            await consumer.commit(first[0])
            # closed without committing m1 and m2 (a crash looks the same to the group)

        async with bus.consumer(group, [topic]) as consumer:
            again = await self.collect(consumer, 2)
            again += await self.quiet(consumer)
        assert [m.value for m in again] == [b"m1", b"m2"]
        assert [m.offset for m in again] == [first[1].offset, first[2].offset]

    async def test_group_members_split_partitions(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus, partitions=6)
        group = self.group()
        keys = [f"key-{i}" for i in range(30)]  # covers all 6 partitions
        assert {partition_for_key(k, 6) for k in keys} == set(range(6))

        async with bus.consumer(group, [topic]) as a, bus.consumer(group, [topic]) as b:
            members = {"a": a, "b": b}
            seen: dict[str, list[Message]] = {"a": [], "b": []}

            async def pump(until: Callable[[], bool]) -> None:
                async def drain(name: str) -> None:
                    consumer = members[name]
                    while not until():
                        batch = await consumer.poll(max_records=100, timeout=0.2)
                        for m in batch:
                            await consumer.commit(m)
                        seen[name].extend(batch)

                await asyncio.gather(drain("a"), drain("b"))

            def settled() -> bool:
                return bool(seen["a"]) and bool(seen["b"])

            async def probe() -> None:
                while not settled():
                    for k in keys:
                        await bus.publish(topic, b"probe", key=k)
                    await asyncio.sleep(0.3)

            # Warm-up: probes until both members received something, i.e. the group has
            # settled with both members owning partitions (a real broker rebalances here).
            await self._bounded(asyncio.gather(probe(), pump(settled)), "both members to join")

            # Stable group: every message goes to exactly one member.
            seen = {"a": [], "b": []}
            expected = {f"real-{i}".encode() for i in range(60)}
            for i, value in enumerate(sorted(expected)):
                await bus.publish(topic, value, key=keys[i % len(keys)])

            def all_real_seen() -> bool:
                return {m.value for name in seen for m in seen[name]} >= expected

            await self._bounded(pump(all_real_seen), "all messages")
            for name in members:
                seen[name] += await self.quiet(members[name])

        real = {name: [m for m in seen[name] if m.value != b"probe"] for name in seen}
        counts = Counter(m.value for name in real for m in real[name])
        assert set(counts) == expected
        assert max(counts.values()) == 1, "a message reached the group twice"
        assert real["a"], "member a got nothing"
        assert real["b"], "member b got nothing"
        parts_a = {m.partition for m in real["a"]}
        parts_b = {m.partition for m in real["b"]}
        assert not parts_a & parts_b, "both members read the same partition"

    async def _bounded(self, aw: Awaitable[object], what: str) -> None:
        try:
            await asyncio.wait_for(aw, timeout=self.deadline)
        except TimeoutError:
            pytest.fail(f"timed out after {self.deadline}s waiting for {what}")

    # --- run_consumer ----------------------------------------------------------------------

    async def test_run_consumer_dead_letters_poison_and_moves_on(self, bus: EventBus) -> None:
        topic = await self.new_topic(bus, partitions=3)
        group = self.group()
        original_headers = {"trace": b"abc"}
        sent = []
        for value in (b"ok-1", b"poison", b"ok-2"):
            sent.append(await bus.publish(topic, value, key="same", headers=original_headers))
        poison_meta = sent[1]

        handled: list[bytes] = []
        poison_calls = 0

        async def handler(messages: list[Message]) -> None:
            nonlocal poison_calls
            if any(m.value == b"poison" for m in messages):
                if len(messages) == 1:
                    poison_calls += 1
                raise ValueError("boom: cannot handle poison")
            handled.extend(m.value for m in messages)

        stop = asyncio.Event()
        stats = ConsumerStats()
        dead: list[tuple[Message, BaseException]] = []

        async def on_dead_letter(message: Message, exc: BaseException) -> None:
            dead.append((message, exc))

        task = asyncio.create_task(
            run_consumer(
                bus,
                group,
                [topic],
                handler,
                max_attempts=3,
                backoff_initial=0.01,
                backoff_max=0.05,
                stop=stop,
                stats=stats,
                on_dead_letter=on_dead_letter,
                poll_timeout=0.2,
            )
        )
        try:
            await self.eventually(
                lambda: b"ok-2" in handled and stats.dead_lettered == 1, "ok-2 after poison"
            )
            await self.eventually(lambda: stats.committed >= 3, "all three committed")
        finally:
            stop.set()
            result = await asyncio.wait_for(task, timeout=self.deadline)
        assert result is stats
        assert handled.count(b"ok-1") >= 1
        assert handled.count(b"ok-2") >= 1
        assert b"poison" not in handled
        assert poison_calls == 3
        assert [m.value for m, _ in dead] == [b"poison"]
        assert isinstance(dead[0][1], ValueError)

        async with bus.consumer(self.group("dlq"), [dlq_topic(topic)]) as consumer:
            (dl,) = await self.collect(consumer, 1)
        assert dl.value == b"poison"
        assert dl.key == "same"
        assert dl.headers["trace"] == b"abc"
        assert b"boom" in dl.headers[DLQ_ERROR]
        assert dl.headers[DLQ_ERROR_TYPE] == b"ValueError"
        assert dl.headers[DLQ_ORIGINAL_TOPIC] == topic.encode()
        assert dl.headers[DLQ_ORIGINAL_PARTITION] == str(poison_meta.partition).encode()
        assert dl.headers[DLQ_ORIGINAL_OFFSET] == str(poison_meta.offset).encode()
        assert dl.headers[DLQ_ATTEMPTS] == b"3"

        # Everything, poison included, was committed: the group has nothing left.
        async with bus.consumer(group, [topic]) as consumer:
            assert await self.quiet(consumer) == []
