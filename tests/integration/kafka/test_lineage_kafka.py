"""OpenLineage over Kafka: a node's lineage events on a topic of a real broker, read back
and validated against the spec; one job's events share a key (so a partition keeps them in
order)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from tests.integration.kafka.conftest import PollUntil
from tests.unit.lineage.ol_schema import validate

from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.topics import TopicSpec
from dictamesh.lineage import NodeLineage
from dictamesh.testing.adapters import WIDGET_SCHEMA, FakeAdapter

pytestmark = pytest.mark.kafka


def widget(entity_id: str) -> ChangeEvent:
    entity = Entity(
        type="widget",
        id=entity_id,
        source=SourceRef(domain="testing", system="fake"),
        attributes={"name": entity_id},
    )
    return ChangeEvent.for_change(EventType.CREATED, entity)


async def test_lineage_events_on_a_kafka_topic(
    kafka_bootstrap: str,
    kafka_bus: KafkaBus,
    topic_name: Callable[..., str],
    uid: str,
    poll_until: PollUntil,
) -> None:
    topic = topic_name("lineage")
    await kafka_bus.ensure_topic(TopicSpec(name=topic, partitions=1))
    settings = DictaMeshSettings(
        node_name="k1",
        bus={"backend": "kafka", "kafka_bootstrap": kafka_bootstrap},
        openlineage={"enabled": True, "transport": "kafka", "kafka_topic": topic},
    )
    lineage = NodeLineage(settings, [FakeAdapter()], lambda: {"widget": WIDGET_SCHEMA})
    lineage.start()
    lineage.captured("fake_widgets", "testing.fake.entity_changed")
    lineage.ingested([(widget("w-1"), "testing.fake.entity_changed")])
    lineage.ingest_failed([(widget("w-2"), "testing.fake.entity_changed")], OSError("no disk"))
    await lineage.aclose()  # completes the sync run, delivers everything
    assert (lineage.emitter.stats.emitted, lineage.emitter.stats.failed) == (6, 0)

    async with kafka_bus.consumer(f"g{uid}", [topic]) as consumer:
        messages = await poll_until(consumer, 6)
    events: list[tuple[str, dict[str, Any]]] = [
        (m.key.decode() if isinstance(m.key, bytes) else str(m.key), validate(json.loads(m.value)))
        for m in messages
    ]
    keys = [key for key, _ in events]
    namespace = f"kafka://{kafka_bootstrap.split(',')[0]}"  # the naming spec's
    assert keys[:2] == [
        "dataset:dictamesh/testing.widget",
        f"dataset:{namespace}/testing.fake.entity_changed",
    ]
    assert keys.count("run:dictamesh/dictamesh.catalog_ingest") == 2
    assert keys.count("run:dictamesh/dictamesh.adapter_sync.fake_widgets") == 2
    states = [
        e.get("eventType")
        for _, e in events
        if e.get("job", {}).get("name", "").endswith("catalog_ingest")
    ]
    assert states == ["START", "FAIL"]
    sync = [e for _, e in events if e.get("job", {}).get("name", "").endswith("fake_widgets")]
    assert [e["eventType"] for e in sync] == ["START", "COMPLETE"]
    assert sync[1]["outputs"][0]["namespace"] == namespace


async def test_an_unreachable_broker_counts_failed_events() -> None:
    settings = DictaMeshSettings(
        openlineage={
            "enabled": True,
            "transport": "kafka",
            "kafka_bootstrap": "127.0.0.1:1",
            "timeout_seconds": 0.5,
        }
    )
    lineage = NodeLineage(settings, [FakeAdapter()], dict)
    lineage.start()  # two DatasetEvents, never delivered
    await lineage.aclose()
    assert (lineage.emitter.stats.emitted, lineage.emitter.stats.failed) == (0, 2)
