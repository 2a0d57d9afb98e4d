"""The system topics on a real Kafka broker (marker ``kafka``): created compacted and kept
forever, every notice keyed so compaction keeps the latest record per type, entity and
relationship. Topic names are unique per test (the relay's ``specs``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from tests.contract.catalog_contract import CUSTOMER, SCHEMAS, TOPIC, invoice_event
from tests.contract.system_status_contract import stored_edges
from tests.integration.kafka.conftest import PollUntil

from dictamesh.catalog import CatalogIngestor, CatalogService
from dictamesh.core.models import EventType
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.system_topics import SYSTEM_TOPIC_SPECS, SystemTopicRelay
from dictamesh.events.topics import TopicSpec

pytestmark = pytest.mark.kafka


async def test_notices_land_on_compacted_topics_keyed_by_identity(
    kafka_bus: KafkaBus,
    topic_name: Callable[..., str],
    poll_until: PollUntil,
    sqlite_catalog: CatalogService,
) -> None:
    specs = {
        kind: TopicSpec(**{**spec.model_dump(), "name": topic_name(kind)})
        for kind, spec in SYSTEM_TOPIC_SPECS.items()
    }
    registered, related = specs["entity_registered"].name, specs["relationship_created"].name
    await sqlite_catalog.register_entity_type(CUSTOMER)
    ingestor = CatalogIngestor(sqlite_catalog, SCHEMAS, outbox=True)
    await ingestor.apply_batch([(invoice_event("i-1", items=[("1", "p-1")]), TOPIC)])
    gone = invoice_event("i-1", items=[("1", "p-1")], version=2, event_type=EventType.DELETED)
    await ingestor.apply_batch([(gone, TOPIC)])
    await ingestor.apply_batch([(invoice_event("i-1", items=[("1", "p-1")], version=3), TOPIC)])
    waiting = await sqlite_catalog.outbox.count()

    relay = SystemTopicRelay(kafka_bus, sqlite_catalog.outbox, specs=specs)
    await relay.ensure_topics()
    for name in (registered, related):
        configs = await kafka_bus.describe_topic_configs(name)
        assert configs["cleanup.policy"] == "compact"
        assert configs["retention.ms"] == "-1"
        assert len(await kafka_bus.partitions_for(name)) == 3
    assert await relay.publish_pending() == waiting
    assert await sqlite_catalog.outbox.count() == 0

    consumer = kafka_bus.consumer(f"it-{uuid.uuid4().hex[:8]}", [registered, related])
    try:
        messages = await poll_until(consumer, waiting)
    finally:
        await consumer.aclose()
    latest: dict[tuple[str, str | None], dict[str, Any]] = {}
    for message in sorted(messages, key=lambda m: (m.topic, m.partition, m.offset)):
        latest[(message.topic, message.key)] = json.loads(message.value)
    assert sorted(k for t, k in latest if t == registered) == [
        "default/entity/invoice/i-1",
        "default/entity/invoice_item/i-1:1",
        "default/type/customer",
    ]
    # what compaction keeps for the invoice: its registration after the re-creation
    assert latest[(registered, "default/entity/invoice/i-1")]["entity_version"] == 3
    edges = {
        (
            body["tenant_id"],
            body["subject"]["type"],
            body["subject"]["id"],
            body["relationship_type"],
            body["object"]["type"],
            body["object"]["id"],
        )
        for (topic, _), body in latest.items()
        if topic == related
    }
    assert edges == await stored_edges(sqlite_catalog)
    for message in messages:
        assert message.headers["content-type"] == b"application/json"
