"""A node's own cache group (``dictamesh-cache-<node>``, new in every process) starts at the
change topics' end offsets taken when the node starts: subscribers and the response cache
get what is new, not days of retained changes replayed as if they had just happened.

On the embedded bus here, and on Kafka (marker ``kafka``) with a topic of its own.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from dictamesh.core.errors import EventBusError
from dictamesh.core.models import ChangeEvent, EntityVersionRef, EventType, SourceRef
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.bus import EventBus
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.publisher import EventPublisher
from dictamesh.node import MeshNode
from dictamesh.testing import FakeAdapter

OLD = 20  # changes on the bus before the node starts
DAY_MS = 24 * 3600 * 1000


def change(source: SourceRef, entity_id: str) -> ChangeEvent:
    return ChangeEvent(
        event_type=EventType.UPDATED,
        entity=EntityVersionRef(type="widget", id=entity_id, version=2),
        source=source,
    )


def settings(tmp_path: Path, bus: dict[str, Any]) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": f"start-{uuid.uuid4().hex[:8]}",
            "state_dir": str(tmp_path),
            "bus": bus,
            "catalog": {"url": f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}"},
            "saga": {"enabled": False},
            "notifications": {"enabled": False},
        }
    )


async def only_new_changes_reach_the_feed(
    node: MeshNode, other: EventBus, source: SourceRef
) -> None:
    """``other`` is another process's bus (a capture node): it published :data:`OLD`
    changes before ``node`` started; the node must hand on only the one after."""
    seen: list[ChangeEvent] = []
    first = asyncio.Event()

    def listen(event: ChangeEvent) -> None:
        seen.append(event)
        first.set()

    node.changes.add_listener(listen)
    async with node:
        # at once: whether or not the node's consumer has joined yet, this one is new
        new = change(source, "w-new")
        await EventPublisher(other).publish_event(new)
        await asyncio.wait_for(first.wait(), 30)
        await asyncio.sleep(1.0)  # long enough for a replay of the old ones to show
        group = f"dictamesh-cache-{node.settings.node_name}"
        lag = await node.bus.lag(group, node.topics)
    assert [e.event_id for e in seen] == [new.event_id]
    assert lag
    assert not any(n for partitions in lag.values() for n in partitions.values())


async def test_a_new_node_hands_only_new_changes_on(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite3"
    source = FakeAdapter.source
    async with EmbeddedBus(path) as other:
        publisher = EventPublisher(other)
        for i in range(OLD):
            await publisher.publish_event(change(source, f"w-{i}"))
        node = MeshNode(
            settings(tmp_path, {"path": str(path)}), adapters=[FakeAdapter()], roles=["api"]
        )
        await only_new_changes_reach_the_feed(node, other, source)


async def test_the_cache_groups_of_gone_processes_are_pruned(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite3"
    topic = FakeAdapter.source.change_topic
    async with EmbeddedBus(path) as bus:
        await bus.publish(topic, b"{}", key="w-1")
    now = time.time_ns() // 1_000_000
    rows = [  # (group, last commit): two processes gone for 8 days, one an hour ago
        ("dictamesh-cache-host-1", now - 8 * DAY_MS),
        ("dictamesh-cache-host-2", now - 8 * DAY_MS),
        ("dictamesh-cache-host-3", now - 3600_000),
        ("dictamesh-catalog-ingest", now - 30 * DAY_MS),  # durable: never pruned
    ]
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO dictamesh_bus_group_offsets VALUES (?, ?, 0, 1, ?)",
            [(group, topic, at) for group, at in rows],
        )
    node = MeshNode(
        settings(tmp_path, {"path": str(path)}), adapters=[FakeAdapter()], roles=["api"]
    )
    async with node:
        group = f"dictamesh-cache-{node.settings.node_name}"
        deadline = time.monotonic() + 10
        while group not in await node.bus.consumer_groups():  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "the node's cache group never started"
            await asyncio.sleep(0.05)
        groups = await node.bus.consumer_groups()  # type: ignore[attr-defined]
    assert "dictamesh-cache-host-1" not in groups
    assert "dictamesh-cache-host-2" not in groups
    assert {"dictamesh-cache-host-3", "dictamesh-catalog-ingest", group} <= set(groups)


@pytest.mark.kafka
async def test_a_new_node_hands_only_new_changes_on_kafka(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    # a topic of this test's own on the shared broker
    source = SourceRef(domain=f"start{uuid.uuid4().hex[:8]}", system="fake")
    widgets = type("Widgets", (FakeAdapter,), {"source": source})()
    other = KafkaBus(kafka_bootstrap, client_id="dictamesh-tests", topic_specs=(), linger_ms=0)
    try:
        await other.connect()
    except EventBusError as exc:
        await other.aclose()
        message = f"Kafka broker not reachable at {kafka_bootstrap}: {exc.message}"
        if os.environ.get("CI"):  # a missing broker must never turn CI green
            pytest.fail(message)
        pytest.skip(message)
    try:
        publisher = EventPublisher(other)
        for i in range(OLD):
            await publisher.publish_event(change(source, f"w-{i}"))
        node = MeshNode(
            settings(tmp_path, {"backend": "kafka", "kafka_bootstrap": kafka_bootstrap}),
            adapters=[widgets],
            roles=["api"],
        )
        await only_new_changes_reach_the_feed(node, other, source)
    finally:
        await other.aclose()
