"""``dictamesh bus topics|tail|lag|dlq`` against a real Kafka broker (marker ``kafka``): the
same scenarios as tests/unit/cli/test_bus_cli.py on the embedded bus, on unique topics."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from rich.console import Console
from tests.unit.cli.bus_support import (
    TRACE_ID,
    cli,
    cli_json,
    consume_fixed,
    dead_letter_one,
    keys,
    seed_avro,
    seed_json,
    write_config,
)
from tests.unit.events.typed_avro_support import customer_event

from dictamesh.cli import _output
from dictamesh.events.dlq import DLQ_REPLAYED_FROM
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.events.topics import TopicSpec

pytestmark = pytest.mark.kafka

T = TypeVar("T")


@pytest.fixture(autouse=True)
def wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_output, "console", Console(width=250))


@pytest.fixture
def config(tmp_path: Path, kafka_bootstrap: str, sqlite_catalog_url: str) -> Path:
    bus = {"backend": "kafka", "kafka_bootstrap": kafka_bootstrap}
    return write_config(tmp_path / "mesh.yaml", bus, sqlite_catalog_url)


@pytest.fixture
def on_kafka(kafka_bootstrap: str) -> Callable[[Callable[[KafkaBus], Awaitable[T]]], T]:
    def run(work: Callable[[KafkaBus], Awaitable[T]]) -> T:
        async def main() -> T:
            bus = KafkaBus(
                kafka_bootstrap, client_id="dictamesh-tests", topic_specs=(), linger_ms=0
            )
            async with bus:
                return await work(bus)

        return asyncio.run(main())

    return run


def test_topics_tail_and_lag(
    config: Path, on_kafka: Any, topic_name: Callable[..., str], uid: str
) -> None:
    topic = topic_name("entity_changed")
    group = f"g-{uid}"

    async def work(bus: KafkaBus) -> None:
        await seed_json(bus, topic)
        async with bus.consumer(group, [topic]) as consumer:
            got: list[Any] = []
            while len(got) < 5:
                got.extend(await consumer.poll(max_records=10, timeout=1))
            await consumer.commit_many([m for m in got if m.partition == got[0].partition])

    on_kafka(work)
    [row] = cli_json(config, "topics", f"it.k{uid}.*")
    assert row == {
        "topic": topic,
        "partitions": 3,
        "messages": 5,
        "retention": 7 * 24 * 3600 * 1000,
        "cleanup": "delete",
    }
    [row] = cli_json(config, "topics", f"it.k{uid}.*", "--groups")
    assert row["groups"] == [group]
    code, out = cli(config, "topics", f"it.k{uid}.*")
    assert code == 0
    assert "7d" in out

    rows = cli_json(config, "tail", topic)
    assert keys(rows) == ["c-1", "c-2", "c-3", "c-1", "junk"]
    assert rows[1]["headers"]["trace_id"] == TRACE_ID
    assert rows[0]["headers"]["tenant_id"] == "acme"
    assert rows[3]["event"]["event_type"] == "UPDATED"
    assert rows[3]["headers"]["cloudevents"]["type"].endswith("updated")
    assert rows[4]["raw"] == "\\x1b[31mnot an event\\xff"
    assert keys(cli_json(config, "tail", topic, "-n", "2")) == ["c-1", "junk"]
    assert keys(cli_json(config, "tail", topic, "--from-beginning", "-n", "2")) == ["c-1", "c-2"]
    assert [r["offset"] for r in cli_json(config, "tail", topic, "--key", "c-1")] == [0, 1]
    code, out = cli(config, "tail", topic)
    assert code == 0
    assert "CREATED customer/c-2" in out

    lag = cli_json(config, "lag", group)
    assert {r["topic"] for r in lag} == {topic}
    assert sum(r["lag"] for r in lag) == 5 - sum(r["committed"] or 0 for r in lag)
    assert all(r["end"] - (r["committed"] or 0) == r["lag"] for r in lag)
    code, out = cli(config, "lag", f"nobody-{uid}")
    assert code == 2
    assert "no consumer group" in out
    code, out = cli(config, "tail", topic_name("missing"))
    assert code == 2
    assert "no topic" in out


def test_tail_decodes_typed_avro(
    config: Path, on_kafka: Any, topic_name: Callable[..., str], sqlite_catalog_url: str
) -> None:
    topic = topic_name("avro")
    on_kafka(lambda bus: seed_avro(bus, topic, sqlite_catalog_url))
    [row] = cli_json(config, "tail", topic, "--from-beginning")
    assert row["event"]["entity_id"] == "c-avro"
    assert row["event"]["after"]["age"] == 36


def test_follow_until_ctrl_c(config: Path, on_kafka: Any, topic_name: Callable[..., str]) -> None:
    topic = topic_name("follow")
    on_kafka(lambda bus: seed_json(bus, topic))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "dictamesh", "bus", "tail", topic, "--follow", "-n", "1"]

    async def publish(bus: KafkaBus) -> None:
        value, headers = JsonEventSerializer().encode(customer_event(entity_id="c-new"))
        await bus.publish(topic, value, key="c-new", headers=headers)

    with subprocess.Popen(
        [*command, "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        try:
            assert "key=junk" in proc.stdout.readline()  # one line per record
            on_kafka(publish)
            assert "CREATED customer/c-new" in proc.stdout.readline()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_dlq_list_show_replay_end_to_end(
    config: Path, on_kafka: Any, topic_name: Callable[..., str], uid: str
) -> None:
    topic = topic_name("orders")
    dlq = f"{topic}.dlq"
    group = f"g-{uid}"
    on_kafka(lambda bus: dead_letter_one(bus, topic, group))

    listed = [d for d in cli_json(config, "dlq", "list") if d["topic"] == dlq]
    assert [(d["source"], d["messages"], d["replayed"]) for d in listed] == [(topic, 1, 0)]
    [letter] = cli_json(config, "dlq", "show", dlq)
    assert (letter["key"], letter["error_type"]) == ("c-bad", "ValueError")
    assert letter["error"] == "poison record c-bad"
    assert cli_json(config, "dlq", "show", dlq, "--filter", "key=c-1") == []

    [dry] = cli_json(config, "dlq", "replay", dlq, "--dry-run")
    assert dry["status"] == "dry-run"
    [done] = cli_json(config, "dlq", "replay", dlq, "--filter", "error_type=ValueError")
    assert done["status"] == "replayed"
    [again] = cli_json(config, "dlq", "replay", dlq)
    assert again["status"] == "skipped"

    got = on_kafka(lambda bus: consume_fixed(bus, topic, group))
    assert [m.key for m in got] == ["c-bad"]
    assert (
        got[0].headers[DLQ_REPLAYED_FROM]
        == f"{dlq}/{letter['partition']}/{letter['offset']}".encode()
    )
    code, out = cli(config, "dlq", "replay", dlq, "--filter", "nope=1")
    assert code == 2
    assert "unknown field" in out


def test_concurrent_first_calls_share_one_client_each(
    on_kafka: Any, kafka_bootstrap: str, topic_name: Callable[..., str]
) -> None:
    # `bus lag` asks for every group at once: the admin and offsets clients must be one each
    topic = topic_name("shared")
    on_kafka(lambda bus: bus.ensure_topic(TopicSpec(name=topic, partitions=2)))

    async def main() -> None:
        async with KafkaBus(kafka_bootstrap, topic_specs=(), auto_create_topics=False) as bus:
            calls = [bus.end_offsets([topic]) for _ in range(6)]
            calls += [bus.committed_offsets(f"nobody-{n}") for n in range(6)]
            results = await asyncio.gather(*calls)
            assert results[0] == {topic: {0: 0, 1: 0}}
            admin, offsets = bus._admin_client, bus._offsets_client
            assert admin is await bus._admin()
            assert offsets is await bus._offsets()
        gc.collect()  # a second, unclosed client would warn here (warnings are errors)

    asyncio.run(main())
