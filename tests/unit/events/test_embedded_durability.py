"""Embedded bus durability: crashes, reopening, and several writers on one file."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

from dictamesh.events.bus import Message
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.topics import TopicSpec

TOPIC = "orders.shop.entity_changed"


async def run_child(code: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(code),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def drain(bus: EmbeddedBus, group: str, *, commit: bool) -> list[Message]:
    async with bus.consumer(group, [TOPIC]) as consumer:
        got: list[Message] = []
        while batch := await consumer.poll(max_records=1000, timeout=0.2):
            got.extend(batch)
            if commit:
                for m in batch:
                    await consumer.commit(m)
        return got


CRASH_AFTER_POLL = """
    import asyncio, os, sys
    from dictamesh.events.embedded import EmbeddedBus
    from dictamesh.events.topics import TopicSpec

    async def main():
        bus = EmbeddedBus(sys.argv[1])
        await bus.ensure_topic(TopicSpec(name="orders.shop.entity_changed", partitions=1))
        for i in range(5):
            await bus.publish("orders.shop.entity_changed", b"m%d" % i, key="k")
        consumer = bus.consumer("billing", ["orders.shop.entity_changed"])
        got = await consumer.poll(max_records=10, timeout=1)
        assert len(got) == 5, got
        await consumer.commit(got[1])          # acks m0 and m1
        sys.stdout.write("polled\\n")
        sys.stdout.flush()
        os._exit(17)                           # crash: no close, no cleanup, no atexit

    asyncio.run(main())
"""


async def test_process_crash_redelivers_exactly_the_uncommitted(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.db")
    code, out, err = await run_child(CRASH_AFTER_POLL, path)
    assert code == 17, err
    assert out == "polled\n"

    async with EmbeddedBus(path) as bus:
        again = await drain(bus, "billing", commit=False)
        assert [m.value for m in again] == [b"m2", b"m3", b"m4"]
        # the crashed process had them once; this is the second delivery
        assert [m.delivery_count for m in again] == [1, 1, 1]
        # another group is unaffected and starts at the beginning
        assert len(await drain(bus, "audit", commit=True)) == 5
        # now commit them for "billing"
        assert len(await drain(bus, "billing", commit=True)) == 3

    async with EmbeddedBus(path) as bus:
        assert await drain(bus, "billing", commit=True) == []
        assert await drain(bus, "audit", commit=True) == []
        assert (await bus.lag("billing")) == {TOPIC: {0: 0}}


async def test_closing_the_bus_under_an_open_consumer_loses_no_message(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    bus = EmbeddedBus(path)
    await bus.ensure_topic(TopicSpec(name=TOPIC, partitions=2))
    for i in range(6):
        await bus.publish(TOPIC, f"m{i}".encode(), key=f"k{i}")
    consumer = bus.consumer("g", [TOPIC])
    polled = await consumer.poll(max_records=100, timeout=1)
    assert len(polled) == 6
    committed = [m for m in polled if m.value in (b"m0", b"m3")]
    for m in committed:
        await consumer.commit(m)
    await bus.aclose()  # the consumer is never closed by its owner
    del consumer
    gc.collect()

    async with EmbeddedBus(path) as bus:
        again = await drain(bus, "g", commit=True)
    expected = {
        m.value
        for m in polled
        if not any(c.partition == m.partition and m.offset <= c.offset for c in committed)
    }
    assert {m.value for m in again} == expected
    assert expected  # the scenario really left something uncommitted


KILLED_WHILE_PUBLISHING = """
    import asyncio, sys
    from dictamesh.events.embedded import EmbeddedBus
    from dictamesh.events.topics import TopicSpec

    async def main():
        bus = EmbeddedBus(sys.argv[1])
        await bus.ensure_topic(TopicSpec(name="orders.shop.entity_changed", partitions=3))
        i = 0
        while True:
            if i % 2:
                metas = await bus.publish_many(
                    "orders.shop.entity_changed",
                    [(b"batch-%d-%d" % (i, j), "k%d" % j, None) for j in range(20)],
                )
            else:
                metas = [
                    await bus.publish(
                        "orders.shop.entity_changed", b"one-%d" % i, key="k%d" % i
                    )
                ]
            for m in metas:
                sys.stdout.write("%d %d\\n" % (m.partition, m.offset))
            sys.stdout.flush()
            i += 1

    asyncio.run(main())
"""


async def test_sigkill_mid_publish_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.db")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(KILLED_WHILE_PUBLISHING),
        path,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    acked: list[tuple[int, int]] = []
    while len(acked) < 500:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        assert line, "publisher died"
        p, o = line.split()
        acked.append((int(p), int(o)))
    os.kill(proc.pid, signal.SIGKILL)
    await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    async with EmbeddedBus(path) as bus:
        ends = (await bus.end_offsets([TOPIC]))[TOPIC]
        stored: dict[int, list[int]] = defaultdict(list)
        for partition, end in ends.items():
            stored[partition] = [m.offset for m in await bus.read(TOPIC, partition, 0, 100_000)]
            # dense: no hole, no duplicate, and the offset counter matches the rows
            assert stored[partition] == list(range(end))
        for partition, offset in acked:
            assert offset in stored[partition]
        # and the file takes new writes where the dead process stopped
        meta = await bus.publish(TOPIC, b"after", key="k0")
        assert meta.offset == ends[meta.partition]


async def test_two_bus_instances_on_one_file_publish_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    async with EmbeddedBus(path) as a, EmbeddedBus(path) as b:
        await a.ensure_topic(TopicSpec(name=TOPIC, partitions=3))

        async def writer(bus: EmbeddedBus, name: str) -> list[tuple[int, int]]:
            out = []
            for i in range(150):
                if i % 10 == 0:
                    metas = await bus.publish_many(
                        TOPIC, [(f"{name}-{i}-{j}".encode(), f"k{j}", None) for j in range(5)]
                    )
                else:
                    metas = [await bus.publish(TOPIC, f"{name}-{i}".encode(), key=f"k{i % 9}")]
                out += [(m.partition, m.offset) for m in metas]
            return out

        got_a, got_b = await asyncio.gather(writer(a, "a"), writer(b, "b"))
        assert len(set(got_a) | set(got_b)) == len(got_a) + len(got_b), "duplicate offsets"

        # b learnt the topic (3 partitions) from the file, not from a default spec
        assert (await b.topics())[TOPIC].partitions == 3
        ends = (await a.end_offsets([TOPIC]))[TOPIC]
        for partition, end in ends.items():
            offsets = [m.offset for m in await a.read(TOPIC, partition, 0, 10_000)]
            assert offsets == list(range(end)), "offsets are dense"
        assert sum(ends.values()) == len(got_a) + len(got_b)


CONCURRENT_WRITER = """
    import asyncio, sys
    from dictamesh.events.embedded import EmbeddedBus

    async def main():
        async with EmbeddedBus(sys.argv[1]) as bus:
            for i in range(200):
                value = b"%s-%d" % (sys.argv[2].encode(), i)
                await bus.publish("orders.shop.entity_changed", value, key="k%d" % (i % 5))

    asyncio.run(main())
"""


async def test_two_processes_publish_concurrently(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.db")
    async with EmbeddedBus(path) as bus:
        await bus.ensure_topic(TopicSpec(name=TOPIC, partitions=2))
        results = await asyncio.gather(
            run_child(CONCURRENT_WRITER, path, "p1"), run_child(CONCURRENT_WRITER, path, "p2")
        )
        for code, _, err in results:
            assert code == 0, err
        ends = (await bus.end_offsets([TOPIC]))[TOPIC]
        values = []
        for partition, end in ends.items():
            msgs = await bus.read(TOPIC, partition, 0, 10_000)
            assert [m.offset for m in msgs] == list(range(end))
            values += [m.value for m in msgs]
        assert len(values) == len(set(values)) == 400


async def test_consumer_sees_messages_published_by_another_instance(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    async with (
        EmbeddedBus(path, poll_interval=0.02) as reader,
        EmbeddedBus(path) as writer,
        reader.consumer("g", [TOPIC]) as consumer,
    ):
        # The topic does not exist yet: the consumer discovers it once the writer
        # (another "process") creates it.
        assert await consumer.poll(timeout=0.05) == []
        poll = asyncio.create_task(consumer.poll(timeout=5))
        await asyncio.sleep(0.1)
        await writer.publish(TOPIC, b"hello", key="k")
        loop = asyncio.get_running_loop()
        started = loop.time()
        got = await poll
        assert [m.value for m in got] == [b"hello"]
        assert loop.time() - started < 2


async def test_reopen_keeps_topics_offsets_and_commits(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "bus.db"  # parents are created
    async with EmbeddedBus(path) as bus:
        await bus.ensure_topic(TopicSpec(name=TOPIC, partitions=4, retention_ms=None))
        first = await bus.publish(TOPIC, b"a", key="k")
        async with bus.consumer("g", [TOPIC]) as c:
            (m,) = await c.poll(timeout=1)
            await c.commit(m)
    async with EmbeddedBus(path) as bus:
        spec = (await bus.topics())[TOPIC]
        assert (spec.partitions, spec.retention_ms) == (4, None)
        second = await bus.publish(TOPIC, b"b", key="k")
        assert (second.partition, second.offset) == (first.partition, first.offset + 1)
        assert await bus.committed("g") == {TOPIC: {first.partition: first.offset + 1}}
