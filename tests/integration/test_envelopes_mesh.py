"""Interop envelopes end to end: a node writes a topic configured ``envelope: debezium,
cloudevents: true, cleanup_policy: compact`` (on the embedded bus and on Kafka), and

(a) the CloudEvents SDK reads every record as a valid CloudEvent with the event's id,
    source, type and time;
(b) a Debezium-envelope consumer written only from Debezium's documentation
    (:class:`DebeziumTableMirror`) rebuilds the table from the topic after creates, updates
    and deletes, tombstones included;
(c) the node's own catalog ingest still ingests the topic, committing the tombstones
    without dead-lettering them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1.kafka import KafkaMessage as V1KafkaMessage
from cloudevents.v1.kafka import from_binary as v1_from_binary

from dictamesh.core.errors import EntityNotFound
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.topics import CleanupPolicy
from dictamesh.node import MeshNode
from tests.unit.gateway.fakes import CUSTOMER, MemoryAdapter

# --- a Debezium consumer, from Debezium's documentation only -------------------------------
#
# What it relies on (Debezium reference, "Change event values", "Tombstone events"):
# * a change event value is {"before", "after", "source", "op", "ts_ms", ...}; with the
#   JsonConverter and schemas.enable=true it is wrapped in {"schema", "payload"};
# * op: "c" create, "r" read (snapshot), "u" update, "d" delete, "t" truncate;
# * "before" is the row before the change (null for c/r), "after" the row after it (null
#   for d);
# * source.ts_ms: when the change was made in the database; the envelope's ts_ms: when the
#   connector processed it (so source.ts_ms <= ts_ms);
# * after a delete event, the connector emits a tombstone: the same key, a null value, so
#   that log compaction removes every message of that key. A consumer reading a compacted
#   topic may find the tombstone without the delete before it.


@dataclass
class DebeziumTableMirror:
    """A table rebuilt from one Debezium topic, keyed by the record key."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_op: dict[str, str] = field(default_factory=dict)
    #: tombstones not directly preceded by a delete of their key (fine on compacted topics)
    orphan_tombstones: list[str] = field(default_factory=list)
    changes: int = 0

    def apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            if self.last_op.get(key) != "d":
                self.orphan_tombstones.append(key)
            self.rows.pop(key, None)
            self.last_op[key] = "tombstone"
            return
        payload = json.loads(value)
        if isinstance(payload, dict) and set(payload) == {"schema", "payload"}:
            payload = payload["payload"]
        op, before, after = payload["op"], payload["before"], payload["after"]
        source_ts, processed_ts = payload["source"]["ts_ms"], payload["ts_ms"]
        assert isinstance(source_ts, int), payload
        assert source_ts <= processed_ts, payload
        if op in ("c", "r"):
            assert before is None, payload
            assert isinstance(after, dict), payload
            self.rows[key] = after
        elif op == "u":
            assert isinstance(after, dict), payload
            self.rows[key] = after
        elif op == "d":
            assert after is None, payload
            assert isinstance(before, dict), payload
            self.rows.pop(key, None)
        elif op == "t":
            self.rows.clear()
        else:
            raise AssertionError(f"unknown op {op!r}")
        self.last_op[key] = op
        self.changes += 1


# --- the mesh under test ----------------------------------------------------------------------


@dataclass
class Record:
    """One record as a Kafka client sees it (``value`` None: a tombstone)."""

    partition: int
    offset: int
    key: str
    value: bytes | None
    headers: dict[str, bytes]


class QuietCustomers(MemoryAdapter):
    """Customers of one system; change capture waits (the test publishes the events)."""

    async def stream_changes(self) -> AsyncIterator[ChangeEvent]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")  # pragma: no cover
        yield  # pragma: no cover


def node_settings(state: Path, catalog_url: str, system: str, bus: dict[str, Any]) -> Any:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": f"env-{system}",
            "state_dir": str(state),
            "bus": {
                **bus,
                "max_delivery_attempts": 1,
                "topics": [
                    {
                        "name": f"customers.{system}.entity_changed",
                        "partitions": 2,
                        "min_insync_replicas": 1,
                        "envelope": "debezium",
                        "cloudevents": True,
                        "cleanup_policy": "compact",
                        "retention": "forever",
                    }
                ],
            },
            "catalog": {"url": catalog_url},
            "saga": {"enabled": False},
            "notifications": {"enabled": False},
        }
    )


def change(
    event_type: EventType,
    system: str,
    entity_id: str,
    version: int,
    name: str | None,
    before: str | None = None,
) -> ChangeEvent:
    """A change as an adapter detects it (a delete or an update carries the row before)."""
    entity = Entity(
        type="customer",
        id=entity_id,
        source=SourceRef(domain="customers", system=system),
        version=version,
        attributes={} if name is None else {"name": name},
    )
    return ChangeEvent.for_change(
        event_type, entity, before=None if before is None else {"name": before}
    )


def history(system: str) -> list[ChangeEvent]:
    c, u, d = EventType.CREATED, EventType.UPDATED, EventType.DELETED
    return [
        change(c, system, "c-1", 1, "Ada"),
        change(c, system, "c-2", 1, "Bob"),
        change(u, system, "c-1", 2, "Adele", before="Ada"),
        change(c, system, "c-3", 1, "Cy"),
        change(d, system, "c-2", 2, None, before="Bob"),
        change(u, system, "c-3", 2, "Cyril", before="Cy"),
        change(c, system, "c-4", 1, "Dee"),
        change(d, system, "c-4", 2, None, before="Dee"),
    ]


EXPECTED_TABLE = {"c-1": {"name": "Adele"}, "c-3": {"name": "Cyril"}}


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except (AssertionError, EntityNotFound):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def read_embedded(bus: EmbeddedBus, topic: str) -> list[Record]:
    records = []
    for partition in (await bus.end_offsets([topic]))[topic]:
        for m in await bus.read(topic, partition):
            assert m.key is not None
            records.append(
                Record(
                    m.partition, m.offset, m.key, None if m.tombstone else m.value, {**m.headers}
                )
            )
    return records


async def read_kafka(bootstrap: str, topic: str, count: int) -> list[Record]:
    """Every record of ``topic`` as a plain aiokafka client gets it (no DictaMesh code)."""
    from aiokafka import AIOKafkaConsumer

    raw = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await raw.start()
    try:
        got: list[Any] = []
        async with asyncio.timeout(20):
            while len(got) < count:
                for batch in (await raw.getmany(timeout_ms=500)).values():
                    got.extend(batch)
    finally:
        await raw.stop()
    return [
        Record(r.partition, r.offset, r.key.decode(), r.value, dict(r.headers or ())) for r in got
    ]


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_debezium_cloudevents_compacted_topic(
    backend: str, tmp_path: Path, sqlite_catalog_url: str, request: pytest.FixtureRequest
) -> None:
    system = f"s{uuid.uuid4().hex[:10]}"
    topic = f"customers.{system}.entity_changed"
    if backend == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        bus: dict[str, Any] = {"backend": "kafka", "kafka_bootstrap": bootstrap}
    else:
        bus = {"path": str(tmp_path / "bus.sqlite3")}
    settings = node_settings(tmp_path, sqlite_catalog_url, system, bus)
    events = history(system)
    by_id = {str(e.event_id): e for e in events}
    deletes = sum(e.event_type is EventType.DELETED for e in events)

    async with MeshNode(
        settings,
        adapters=[QuietCustomers(CUSTOMER, system=system)],
        ingest_group=f"env-ingest-{system}",
    ) as node:
        assert node.topics == [topic]
        # created as configured: compacted, 2 partitions
        if isinstance(node.bus, KafkaBus):
            configs = await node.bus.describe_topic_configs(topic)
            # (min.insync.replicas 1 is also the broker's default: the check is that the
            # broker accepted the topic config at creation)
            assert (configs["cleanup.policy"], configs["retention.ms"]) == ("compact", "-1")
            assert await node.bus.partitions_for(topic) == [0, 1]
        else:
            assert isinstance(node.bus, EmbeddedBus)
            spec = (await node.bus.topics())[topic]
            assert (spec.cleanup_policy, spec.partitions) == (CleanupPolicy.COMPACT, 2)

        await node.publisher.publish_events(events[:4])
        for event in events[4:]:  # publish_event too writes the tombstone
            await node.publisher.publish_event(event)

        if isinstance(node.bus, KafkaBus):
            records = await read_kafka(bootstrap, topic, len(events) + deletes)
        else:
            assert isinstance(node.bus, EmbeddedBus)
            records = await read_embedded(node.bus, topic)
        records.sort(key=lambda r: (r.partition, r.offset))
        assert len(records) == len(events) + deletes

        # (a) every record but the tombstones is a valid CloudEvent of its event
        tombstones = [r for r in records if r.value is None]
        assert sorted(r.key for r in tombstones) == ["c-2", "c-4"]
        assert all(r.headers == {} for r in tombstones)
        for r in records:
            if r.value is None:
                continue
            ce = from_binary(
                KafkaMessage(headers=r.headers, key=r.key, value=r.value), JSONFormat()
            )
            event = by_id[ce.get_id()]
            assert ce.get_specversion() == "1.0"
            assert ce.get_source() == f"/dictamesh/customers/{system}"
            assert ce.get_type() == f"io.dictamesh.customer.{event.event_type.value.lower()}"
            time = ce.get_time()
            assert time is not None
            assert int(time.timestamp() * 1000) == event.timestamp
            assert ce.get_extension("partitionkey") == event.entity.id == r.key
            data = ce.get_data()
            assert isinstance(data, dict)
            assert data["after"] == event.after
            # and the SDK's v1 API agrees
            legacy = v1_from_binary(V1KafkaMessage(headers=r.headers, key=r.key, value=r.value))
            assert (legacy["id"], legacy["type"]) == (ce.get_id(), ce.get_type())

        # (b) the Debezium consumer rebuilds the table, in each key's order
        mirror = DebeziumTableMirror()
        for r in records:
            mirror.apply(r.key, r.value)
        assert mirror.rows == EXPECTED_TABLE
        assert mirror.orphan_tombstones == []  # each tombstone right after its delete
        assert mirror.changes == len(events)

        # (c) the node's catalog ingest applied every event and committed the tombstones
        async def ingested() -> None:
            location = await node.catalog.get_entity_location("customer", "c-1")
            assert location.attributes["name"] == "Adele"
            assert (await node.catalog.get_entity_location("customer", "c-3")).version == 2
            assert await node.catalog.count_entities("customer") == 2
            lag = await node.bus.lag(node.ingest_group, [topic])
            assert sum(lag.get(topic, {}).values()) == 0, lag

        await eventually(ingested)
        assert node.metrics.dead_lettered() == {}

        if isinstance(node.bus, EmbeddedBus):
            # compaction keeps one record per key (the tombstones of deleted ones): the
            # Debezium consumer rebuilds the same table from what is left
            await node.bus.enforce_retention()
            compacted = await read_embedded(node.bus, topic)
            assert sorted(r.key for r in compacted) == ["c-1", "c-2", "c-3", "c-4"]
            mirror = DebeziumTableMirror()
            for r in sorted(compacted, key=lambda r: (r.partition, r.offset)):
                mirror.apply(r.key, r.value)
            assert mirror.rows == EXPECTED_TABLE
            assert sorted(mirror.orphan_tombstones) == ["c-2", "c-4"]
