"""``dictamesh bus topics|tail|lag|dlq`` on an embedded bus file (the Kafka run of the same
commands: tests/integration/kafka/test_kafka_bus_cli.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from rich.console import Console
from tests.unit.cli.bus_support import (
    SPAN_ID,
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
from dictamesh.events.dlq import DLQ_REPLAYED_FROM, REPLAY_LEDGER_TOPIC
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.serde import JsonEventSerializer

TOPIC = "crm.lab.entity_changed"
T = TypeVar("T")


@pytest.fixture(autouse=True)
def wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    # the runner's terminal is 80 columns: tables would wrap and cut the cells we check
    monkeypatch.setattr(_output, "console", Console(width=250))


@pytest.fixture
def bus_path(tmp_path: Path) -> Path:
    return tmp_path / "bus.sqlite3"


@pytest.fixture
def config(tmp_path: Path, bus_path: Path, sqlite_catalog_url: str) -> Path:
    return write_config(tmp_path / "mesh.yaml", {"path": str(bus_path)}, sqlite_catalog_url)


def on_bus(bus_path: Path, work: Callable[[EmbeddedBus], Awaitable[T]]) -> T:
    async def main() -> T:
        async with EmbeddedBus(bus_path) as bus:
            return await work(bus)

    return asyncio.run(main())


def test_topics_with_counts_retention_and_groups(config: Path, bus_path: Path) -> None:
    async def work(bus: EmbeddedBus) -> None:
        await seed_json(bus, TOPIC)
        async with bus.consumer("indexer", [TOPIC]) as consumer:
            batch = await consumer.poll(max_records=2, timeout=1)
            await consumer.commit_many(batch)

    on_bus(bus_path, work)
    rows = cli_json(config, "topics")
    assert rows == [
        {
            "topic": TOPIC,
            "partitions": 3,
            "messages": 5,
            "retention": 7 * 24 * 3600 * 1000,
            "cleanup": "delete",
            "groups": ["indexer"],
        }
    ]
    code, out = cli(config, "topics", "crm.*")
    assert code == 0, out
    assert TOPIC in out
    assert "7d" in out
    assert "indexer" in out
    assert cli_json(config, "topics", "nothing.*") == []
    code, out = cli(config, "topics", "nothing.*")
    assert (code, out.strip()) == (0, "no topics")


def test_tail_decodes_every_envelope_and_shows_headers(config: Path, bus_path: Path) -> None:
    on_bus(bus_path, lambda bus: seed_json(bus, TOPIC))
    rows = cli_json(config, "tail", TOPIC)
    assert keys(rows) == ["c-1", "c-2", "c-3", "c-1", "junk"]  # in time order
    created, traced, _, debezium, junk = rows
    assert created["event"]["event_type"] == "CREATED"
    assert created["event"]["entity_type"] == "customer"
    assert created["headers"]["tenant_id"] == "acme"
    assert created["headers"]["content_type"] == "application/json"
    assert traced["headers"]["trace_id"] == TRACE_ID
    assert traced["headers"]["all"]["traceparent"] == f"00-{TRACE_ID}-{SPAN_ID}-01"
    assert debezium["event"]["event_type"] == "UPDATED"
    assert "email" in debezium["event"]["changed_fields"]
    assert debezium["headers"]["content_type"] == "application/json; envelope=debezium"
    assert debezium["headers"]["cloudevents"]["type"].endswith("updated")
    assert "undecodable" in junk
    assert "SerializationError" in junk["undecodable"]
    assert junk["raw"] == "\\x1b[31mnot an event\\xff"  # nothing a terminal interprets
    # --limit keeps the newest, --from-beginning the oldest
    assert keys(cli_json(config, "tail", TOPIC, "--limit", "2")) == ["c-1", "junk"]
    assert keys(cli_json(config, "tail", TOPIC, "--from-beginning", "-n", "2")) == [
        "c-1",
        "c-2",
    ]
    only = cli_json(config, "tail", TOPIC, "--key", "c-1")
    assert [r["event"]["event_type"] for r in only] == ["CREATED", "UPDATED"]
    assert cli_json(config, "tail", TOPIC, "--key", "nobody") == []
    code, out = cli(config, "tail", TOPIC)
    assert code == 0, out
    assert "CREATED customer/c-1" in out
    assert TRACE_ID in out
    assert "undecodable" in out


def test_tail_reads_without_a_consumer_group(config: Path, bus_path: Path) -> None:
    on_bus(bus_path, lambda bus: seed_json(bus, TOPIC))
    assert len(cli_json(config, "tail", TOPIC, "--from-beginning")) == 5

    async def groups(bus: EmbeddedBus) -> list[str]:
        return await bus.consumer_groups()

    assert on_bus(bus_path, groups) == []
    assert cli_json(config, "lag") == []


def test_tail_decodes_typed_avro_through_the_catalog_registry(
    config: Path, bus_path: Path, sqlite_catalog_url: str
) -> None:
    topic = "crm.avro.entity_changed"
    on_bus(bus_path, lambda bus: seed_avro(bus, topic, sqlite_catalog_url))
    [row] = cli_json(config, "tail", topic)
    assert row["headers"]["content_type"].startswith("application/vnd.dictamesh.avro")
    assert row["event"]["entity_id"] == "c-avro"
    assert row["event"]["after"]["email"] == "ada@example.org"
    assert row["event"]["after"]["age"] == 36


def test_avro_without_its_registry_is_shown_raw(
    tmp_path: Path, bus_path: Path, sqlite_catalog_url: str
) -> None:
    topic = "crm.avro.entity_changed"
    on_bus(bus_path, lambda bus: seed_avro(bus, topic, sqlite_catalog_url))
    # the schema is in a catalog this config does not point at
    other = tmp_path / "elsewhere.sqlite3"
    config = write_config(
        tmp_path / "other.yaml", {"path": str(bus_path)}, f"sqlite+aiosqlite:///{other}"
    )
    [row] = cli_json(config, "tail", topic)
    assert "event" not in row
    assert f"no catalog at {other}" in row["undecodable"]
    assert row["raw"].startswith("\\x00")  # the Confluent frame's magic byte, escaped
    assert not other.exists()  # looking for the registry created no catalog file


def test_follow_prints_new_records_and_ends_cleanly_on_ctrl_c(config: Path, bus_path: Path) -> None:
    on_bus(bus_path, lambda bus: seed_json(bus, TOPIC))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "dictamesh", "bus", "tail", TOPIC, "--follow", "-n", "1"]
    with subprocess.Popen(
        [*command, "--format", "json", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        try:
            first = proc.stdout.readline()
            assert json.loads(first)["key"] == "junk"  # the backlog: the last record
            on_bus(bus_path, publish_one)
            line = proc.stdout.readline()
            assert json.loads(line)["event"]["entity_id"] == "c-new"
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
            assert proc.returncode == 0, err
            assert "Traceback" not in err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


async def publish_one(bus: EmbeddedBus) -> None:
    value, headers = JsonEventSerializer().encode(customer_event(entity_id="c-new"))
    await bus.publish(TOPIC, value, key="c-new", headers=headers)


def test_lag_per_group_and_partition(config: Path, bus_path: Path) -> None:
    async def work(bus: EmbeddedBus) -> None:
        await seed_json(bus, TOPIC)
        async with bus.consumer("indexer", [TOPIC]) as consumer:
            await consumer.commit_many(await consumer.poll(max_records=2, timeout=1))

    on_bus(bus_path, work)
    rows = cli_json(config, "lag", "indexer")
    assert {r["group"] for r in rows} == {"indexer"}
    assert sum(r["lag"] for r in rows) == 3
    assert all(r["lag"] == r["end"] - (r["committed"] or 0) for r in rows)
    assert cli_json(config, "lag") == rows
    assert cli_json(config, "lag", "--topic", TOPIC) == rows
    code, out = cli(config, "lag")
    assert code == 0
    assert "indexer" in out
    code, out = cli(config, "lag", "nobody")
    assert code == 2
    assert "no consumer group 'nobody'" in out


def test_dlq_list_show_replay_end_to_end(config: Path, bus_path: Path) -> None:
    topic = "crm.orders.entity_changed"
    dlq = f"{topic}.dlq"
    on_bus(bus_path, lambda bus: dead_letter_one(bus, topic, "orders"))

    [listed] = cli_json(config, "dlq", "list")
    assert listed == {"topic": dlq, "source": topic, "partitions": 3, "messages": 1, "replayed": 0}
    [letter] = cli_json(config, "dlq", "show", dlq)
    assert letter["key"] == "c-bad"
    assert letter["error_type"] == "ValueError"
    assert letter["error"] == "poison record c-bad"
    assert letter["original"].startswith(f"{topic}[")
    assert letter["attempts"] == 2
    assert letter["replayed"] is False
    assert letter["record"]["raw"] == '{"key": "c-bad"}'
    assert cli_json(config, "dlq", "show") == [letter]
    assert cli_json(config, "dlq", "show", dlq, "--filter", "error_type=KeyError") == []
    assert len(cli_json(config, "dlq", "show", "--filter", "key=c-*,offset=0..")) == 1
    code, out = cli(config, "dlq", "show", dlq)
    assert code == 0
    assert "poison record c-bad" in out

    # --dry-run says what it would do and writes nothing
    before = bus_path.stat().st_size, _ends(bus_path)
    [dry] = cli_json(config, "dlq", "replay", dlq, "--dry-run")
    assert (dry["status"], dry["target"], dry["written"]) == ("dry-run", topic, None)
    assert _ends(bus_path) == before[1]

    [done] = cli_json(config, "dlq", "replay", dlq, "--filter", "error_type=ValueError")
    assert done["status"] == "replayed"
    assert done["written"]
    code, out = cli(config, "dlq", "replay", dlq)  # the same range again: skipped
    assert code == 0
    assert "1 skipped" in out
    assert cli_json(config, "dlq", "list")[0]["replayed"] == 1
    assert cli_json(config, "dlq", "show", dlq)[0]["replayed"] is True

    got = on_bus(bus_path, lambda bus: consume_fixed(bus, topic, "orders"))
    assert [m.key for m in got] == ["c-bad"]  # the group gets exactly the replayed record
    assert (
        got[0].headers[DLQ_REPLAYED_FROM]
        == f"{dlq}/{letter['partition']}/{letter['offset']}".encode()
    )
    assert not any(k.startswith("dlq-error") for k in got[0].headers)

    [again] = cli_json(config, "dlq", "replay", dlq, "--force")
    assert again["status"] == "replayed"
    assert REPLAY_LEDGER_TOPIC in {r["topic"] for r in cli_json(config, "topics")}


def _ends(bus_path: Path) -> dict[str, dict[int, int]]:
    async def ends(bus: EmbeddedBus) -> dict[str, dict[int, int]]:
        return await bus.end_offsets()

    return on_bus(bus_path, ends)


def test_bad_input_is_exit_2_and_writes_nothing(config: Path, bus_path: Path) -> None:
    code, out = cli(config, "topics")
    assert code == 2
    assert "no embedded bus at" in out
    assert not bus_path.exists()  # inspecting created no bus file

    on_bus(bus_path, lambda bus: dead_letter_one(bus, "crm.orders.entity_changed", "orders"))
    ends = _ends(bus_path)
    dlq = "crm.orders.entity_changed.dlq"
    for args, message in [
        (("tail", "crm.nothing.entity_changed"), "no topic 'crm.nothing.entity_changed'"),
        (("dlq", "show", "crm.nothing.entity_changed.dlq"), "no topic"),
        (("dlq", "replay", dlq, "--filter", "colour=red"), "unknown field 'colour'"),
        (("dlq", "replay", dlq, "--filter", "offset=9..2"), "empty range"),
        (("dlq", "replay", dlq, "--filter", "offset=x"), "is not a number"),
        (("dlq", "replay", dlq, "--filter", "key"), "expected field=value"),
        (("dlq", "show", "--filter", "partition=1..2"), "one number"),
        (("dlq", "replay", "crm.orders.entity_changed"), "is not a dead-letter topic"),
        (("tail", "x", "--limit", "-1"), "greater than or equal to"),
    ]:
        code, out = cli(config, *args)
        assert code == 2, (args, out)
        assert message in " ".join(out.split()), (args, out)
    assert _ends(bus_path) == ends


def test_replay_refuses_a_missing_source_topic(config: Path, bus_path: Path) -> None:
    async def work(bus: EmbeddedBus) -> None:
        from dictamesh.events.topics import TopicSpec

        await bus.ensure_topic(TopicSpec(name="crm.gone.entity_changed.dlq", partitions=1))
        await bus.publish("crm.gone.entity_changed.dlq", b"{}", key="k")

    on_bus(bus_path, work)
    ends = _ends(bus_path)
    code, out = cli(config, "dlq", "replay", "crm.gone.entity_changed.dlq")
    assert code == 2
    assert "crm.gone.entity_changed: no such topic" in out
    assert _ends(bus_path) == ends


def test_an_unreachable_broker_is_exit_1(tmp_path: Path, sqlite_catalog_url: str) -> None:
    bus = {"backend": "kafka", "kafka_bootstrap": "127.0.0.1:1"}
    config = write_config(tmp_path / "mesh.yaml", bus, sqlite_catalog_url)
    code, out = cli(config, "topics")
    assert code == 1
    assert "Kafka admin connect failed" in out


def test_a_bad_config_is_exit_2(tmp_path: Path) -> None:
    code, out = cli(tmp_path / "missing.yaml", "topics")
    assert code == 2
    config = tmp_path / "mesh.yaml"
    config.write_text("bus: [not, a, mapping]\n")
    code, out = cli(config, "lag")
    assert code == 2
    assert "error:" in out
