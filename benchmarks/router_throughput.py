"""Event router throughput on Kafka, events/second, against a bare aiokafka consume → produce
loop moving the same messages, in one run.

    python benchmarks/router_throughput.py                    # 20 000 events
    python benchmarks/router_throughput.py --events 50000 --batch-size 500

N customer change events (JSON, the node's serializer) are published to a fresh source
topic. Then, from the earliest offset, each consumer group moves them:

(a) DictaMesh: :class:`~dictamesh.router.runtime.NodeRouter` — the code a router node runs:
    ``run_consumer`` batches, the router's handler (decode, rules, transforms, one
    ``publish_many`` per target, all acknowledged before the commit) — with two rules:
    ``slim`` projects and masks (hash) the e-mail into one topic (one transform), ``fanout``
    copies every event untouched to two topics (one fan-out). 3 records written per event.
(b) Baseline: an ``AIOKafkaConsumer`` (``getmany``, manual commits) and an
    ``AIOKafkaProducer`` with the same settings as the bus's (idempotent, ``acks=all``,
    ``linger_ms`` 5, same compression), sending each message's bytes unchanged to three
    topics, awaiting every acknowledgement before committing the batch. No decoding.

Timed from the first polled batch to the last commit. The two alternate for ``--rounds``
rounds (a new consumer group each, reading the same source from the start), so a machine
busy with other work slows both alike; the figures are each side's median, the ratio is
(a)'s median rate over (b)'s (goal ≥ 0.5). Topics and groups are created for the run
(``bench<run>.*``) and deleted at the end.
Address: ``DICTAMESH_KAFKA_BOOTSTRAP`` (default ``127.0.0.1:9092``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Sequence

from _kpi import Kpi, record
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from dictamesh.core.models import ChangeEvent, EntityVersionRef, EventType, SourceRef
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.events.topics import TopicSpec
from dictamesh.router.runtime import NodeRouter

DEFAULT_KAFKA = "127.0.0.1:9092"
PARTITIONS = 3


def make_events(n: int, domain: str) -> list[ChangeEvent]:
    return [
        ChangeEvent(
            event_type=EventType.UPDATED,
            entity=EntityVersionRef(type="customer", id=f"c-{i % 5000}", version=i // 5000 + 1),
            source=SourceRef(domain=domain, system="crm"),
            changed_fields=["email", "tier"],
            before={"email": f"old{i}@example.com", "tier": "free"},
            after={
                "email": f"user{i}@example.com",
                "name": f"Customer {i}",
                "tier": ["free", "pro", "enterprise"][i % 3],
                "balance": i * 1.5,
            },
        )
        for i in range(n)
    ]


class Topics:
    def __init__(self, run: str) -> None:
        self.domain = f"bench{run}"
        self.source = f"{self.domain}.crm.entity_changed"
        self.router = [
            f"{self.domain}.router.slim",
            f"{self.domain}.router.all",
            f"{self.domain}.router.archive",
        ]
        self.bare = [
            f"{self.domain}.bare.one",
            f"{self.domain}.bare.two",
            f"{self.domain}.bare.three",
        ]

    @property
    def every(self) -> list[str]:
        return [self.source, *self.router, *self.bare]


async def publish(bus: KafkaBus, topic: str, events: Sequence[ChangeEvent]) -> float:
    serde = JsonEventSerializer()
    records = []
    for event in events:
        value, headers = serde.encode(event)
        records.append((value, event.key, headers))
    started = time.perf_counter()
    for i in range(0, len(records), 2000):
        await bus.publish_many(topic, records[i : i + 2000])
    return time.perf_counter() - started


async def through_router(bootstrap: str, topics: Topics, group: str, n: int, batch: int) -> float:
    slim, every, archive = topics.router
    settings = DictaMeshSettings.from_mapping(
        {
            "bus": {"backend": "kafka", "kafka_bootstrap": bootstrap},
            "governance": {"masking_key": "bench-masking-key"},
            "router": {
                "group": group,
                "sources": [topics.source],
                "batch_size": batch,
                "rules": [
                    {
                        "name": "slim",
                        "match": {"changed_fields": ["email"]},
                        "transform": [{"project": ["email", "tier"]}, {"mask": {"email": "hash"}}],
                        "to": [slim],
                    },
                    {"name": "fanout", "to": [every, archive]},
                ],
            },
        }
    )
    async with KafkaBus(bootstrap, client_id="dictamesh-bench", topic_specs=()) as bus:
        router = NodeRouter.build(settings, bus=bus, sources=[topics.source])
        await router.start()
        stop = asyncio.Event()
        task = asyncio.create_task(router.consume(stop))
        while router.stats.batches == 0:  # noqa: ASYNC110 (a counter nothing signals)
            await asyncio.sleep(0.001)
        started = time.perf_counter()
        while router.stats.committed < n:
            if task.done():
                task.result()
                raise RuntimeError("the router stopped early")
            await asyncio.sleep(0.002)
        took = time.perf_counter() - started
        stop.set()
        await task
        routed = sum(router.router.stats.routed.values())
        assert routed == 3 * n, f"routed {routed} records, expected {3 * n}"
        return took


async def bare_loop(bootstrap: str, topics: Topics, group: str, n: int, batch: int) -> float:
    probe = KafkaBus(bootstrap, topic_specs=())  # the bus's producer settings, as the router's
    config = {k: v for k, v in probe.producer_config.items() if k != "client_id"}
    producer = AIOKafkaProducer(**config)
    consumer = AIOKafkaConsumer(
        topics.source,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await producer.start()
    await consumer.start()
    moved = 0
    started = 0.0
    try:
        while moved < n:
            polled = await consumer.getmany(timeout_ms=1000, max_records=batch)
            if not polled:
                continue
            if not started:
                started = time.perf_counter()
            sends = []
            for records in polled.values():
                for r in records:
                    for target in topics.bare:
                        sends.append(
                            await producer.send(target, r.value, key=r.key, headers=list(r.headers))
                        )
                    moved += 1
            await asyncio.gather(*sends)
            await consumer.commit()
        return time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()


async def cleanup(bootstrap: str, topics: Topics, groups: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics(topics.every)
    finally:
        await admin.close()
    with contextlib.suppress(ImportError):
        from confluent_kafka.admin import AdminClient

        client = AdminClient({"bootstrap.servers": bootstrap})
        for future in client.delete_consumer_groups(groups).values():
            with contextlib.suppress(Exception):
                future.result(timeout=10)


async def main(n: int, batch: int, rounds: int, bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    topics = Topics(run)
    groups: list[str] = []
    print(f"events: {n}, batch size: {batch}, source {topics.source} ({PARTITIONS} partitions)")
    try:
        async with KafkaBus(bootstrap, client_id="dictamesh-bench", topic_specs=()) as bus:
            for name in topics.every:
                await bus.ensure_topic(TopicSpec(name=name, partitions=PARTITIONS))
            publish_s = await publish(bus, topics.source, make_events(n, topics.domain))
        bare_runs: list[float] = []
        router_runs: list[float] = []
        for r in range(rounds):
            # the baseline first: any broker warm-up favours the router, not the other way
            groups += [f"bench-bare-{run}-{r}", f"bench-router-{run}-{r}"]
            bare_runs.append(await bare_loop(bootstrap, topics, groups[-2], n, batch))
            router_runs.append(await through_router(bootstrap, topics, groups[-1], n, batch))
            print(
                f"round {r + 1}: router {n / router_runs[-1]:,.0f} events/s,"
                f" bare {n / bare_runs[-1]:,.0f} events/s",
                flush=True,
            )
        bare_s = statistics.median(bare_runs)
        router_s = statistics.median(router_runs)
    finally:
        await cleanup(bootstrap, topics, groups)
    rows = [
        ("publish the source events (for reference)", n / publish_s, publish_s),
        (
            "(a) DictaMesh router: 2 rules, 1 transform, 1 fan-out (3 writes)",
            n / router_s,
            router_s,
        ),
        ("(b) bare aiokafka consume -> produce, 3 writes per event", n / bare_s, bare_s),
    ]
    for label, rate, seconds in rows:
        print(f"{label:<68} {rate:>9,.0f} events/s ({seconds:6.2f} s)")
    ratio = bare_s / router_s
    print(f"ratio (a) router / (b) bare loop: {ratio:.2f}")
    record(
        Kpi(
            figure="router on Kafka (2 rules) vs bare aiokafka consume->produce",
            value=ratio,
            unit="x",
            goal=">= 0.5",
            baseline=f"bare {n / bare_s:.0f} ev/s",
            ratio=ratio,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="change events (N)")
    parser.add_argument("--batch-size", type=int, default=500, help="records per poll")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each")
    args = parser.parse_args()
    bootstrap = os.environ.get("DICTAMESH_KAFKA_BOOTSTRAP", DEFAULT_KAFKA)
    asyncio.run(main(args.events, args.batch_size, args.rounds, bootstrap))
    sys.exit(0)
