"""Random operation sequences against the embedded bus, checked against a simple model.

Operations: publish, poll, commit, close the consumer, "crash" (close the bus under an
open consumer and reopen the file). Invariants: a committed message is never delivered
again, every message is delivered, per-partition offsets only move forward within a
consumer session, and ``delivery_count`` is exactly the number of earlier deliveries.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dictamesh.events.bus import Message
from dictamesh.events.embedded import EmbeddedBus, EmbeddedConsumer
from dictamesh.events.topics import TopicSpec

T = "orders.shop.entity_changed"

_publish = st.tuples(st.just("publish"), st.integers(1, 4), st.sampled_from(["a", "b", "c"]))
_poll = st.tuples(st.just("poll"), st.integers(1, 5))
_commit = st.tuples(st.just("commit"), st.integers(0, 10))
# Publishes, polls and commits are weighted up: closes and crashes reset a session.
ops = st.lists(
    st.one_of(
        _publish,
        _publish,
        _poll,
        _poll,
        _poll,
        _commit,
        _commit,
        st.tuples(st.just("close")),
        st.tuples(st.just("crash")),
    ),
    max_size=30,
)


async def scenario(path: Path, steps: list[tuple[object, ...]]) -> None:
    bus = EmbeddedBus(path, poll_interval=0.01)
    await bus.ensure_topic(TopicSpec(name=T, partitions=2))
    consumer: EmbeddedConsumer | None = None
    published: set[tuple[int, int]] = set()
    committed: dict[int, int] = {}  # partition -> next offset
    deliveries: dict[tuple[int, int], int] = {}
    delivered_ever: set[tuple[int, int]] = set()
    session_last: dict[int, int] = {}
    polled: list[Message] = []

    def check(batch: list[Message]) -> None:
        for m in batch:
            tp = (m.partition, m.offset)
            assert m.offset >= committed.get(m.partition, 0), "committed message came back"
            assert m.offset > session_last.get(m.partition, -1), "offsets went backwards"
            assert m.delivery_count == deliveries.get(tp, 0), (m, deliveries.get(tp, 0))
            session_last[m.partition] = m.offset
            deliveries[tp] = deliveries.get(tp, 0) + 1
            delivered_ever.add(tp)

    try:
        for step in steps:
            op = step[0]
            if op == "publish":
                n, key = step[1], step[2]
                assert isinstance(n, int)
                assert isinstance(key, str)
                metas = await bus.publish_many(T, [(b"v", key, None)] * n)
                published.update((m.partition, m.offset) for m in metas)
            elif op == "poll":
                if consumer is None:
                    consumer = bus.consumer("g", [T])
                    session_last.clear()
                assert isinstance(step[1], int)
                batch = await consumer.poll(max_records=step[1], timeout=0)
                check(batch)
                polled += batch
            elif op == "commit" and consumer is not None and polled:
                assert isinstance(step[1], int)
                m = polled[step[1] % len(polled)]
                await consumer.commit(m)
                committed[m.partition] = max(committed.get(m.partition, 0), m.offset + 1)
            elif op == "close" and consumer is not None:
                await consumer.aclose()
                consumer, polled = None, []
            elif op == "crash":
                await bus.aclose()  # the consumer is abandoned, never closed by its owner
                bus = EmbeddedBus(path, poll_interval=0.01)
                consumer, polled = None, []

        if consumer is not None:
            await consumer.aclose()
        session_last.clear()
        async with bus.consumer("g", [T]) as final:
            while batch := await final.poll(max_records=100, timeout=0):
                check(batch)
                for m in batch:
                    await final.commit(m)
                    committed[m.partition] = max(committed.get(m.partition, 0), m.offset + 1)
        assert delivered_ever == published, "a message was never delivered"
        assert await bus.lag("g", [T]) == {T: {0: 0, 1: 0}}
    finally:
        await bus.aclose()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_random_operations_keep_at_least_once_invariants(steps: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp) / "bus.db", steps))
