"""The system-topic relay: the catalog outbox's notices published in order, keyed, then
deleted; nothing lost when the bus fails; a tenant's notices on its own topics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest
from tests.contract.catalog_contract import CUSTOMER, SCHEMAS, TOPIC, invoice_event

from dictamesh.catalog import CatalogIngestor, CatalogService
from dictamesh.core.models import EventType
from dictamesh.events.bus import Message
from dictamesh.events.system_topics import (
    ENTITY_REGISTERED_TOPIC,
    RELATIONSHIP_CREATED_TOPIC,
    SystemTopicRelay,
)
from dictamesh.events.topics import CleanupPolicy
from dictamesh.testing.bus import InMemoryBus

TOPICS = [ENTITY_REGISTERED_TOPIC, RELATIONSHIP_CREATED_TOPIC]


async def read_all(bus: InMemoryBus, topics: list[str], group: str = "reader") -> list[Message]:
    got: list[Message] = []
    async with bus.consumer(group, topics) as consumer:
        while batch := await consumer.poll(max_records=1000, timeout=0.05):
            got.extend(batch)
    return got


async def ingest_invoice(catalog: CatalogService, **kwargs: Any) -> None:
    ingestor = CatalogIngestor(catalog, SCHEMAS, outbox=True)
    await ingestor.apply_batch([(invoice_event(**kwargs), TOPIC)])


async def test_notices_are_published_keyed_in_order_then_deleted(
    sqlite_catalog: CatalogService,
) -> None:
    await sqlite_catalog.register_entity_type(CUSTOMER)
    await ingest_invoice(sqlite_catalog, items=[("1", "p-1")])
    stored = await sqlite_catalog.outbox.pending()
    async with InMemoryBus() as bus:
        relay = SystemTopicRelay(bus, sqlite_catalog.outbox, batch_size=2)
        await relay.ensure_topics()
        specs = await bus.topics()
        for name in TOPICS:
            assert specs[name].cleanup_policy is CleanupPolicy.COMPACT
            assert specs[name].retention_ms is None
        assert await relay.publish_pending() == len(stored) == 6
        assert await sqlite_catalog.outbox.pending() == []
        messages = await read_all(bus, TOPICS)
    registered = [m for m in messages if m.topic == ENTITY_REGISTERED_TOPIC]
    # three partitions: order holds per key (partition), not across keys
    assert sorted(m.key for m in registered) == [
        "default/entity/invoice/i-1",
        "default/entity/invoice_item/i-1:1",
        "default/type/customer",
    ]
    by_key = {m.key: m for m in messages}
    for notice in stored:
        message = by_key[notice.key]
        assert json.loads(message.value) == notice.payload
        assert message.headers["content-type"] == b"application/json"
        assert message.headers["dictamesh-notice"] == notice.kind.encode()
        assert message.headers["dictamesh-tenant"] == b"default"
    relationships = [m.key for m in messages if m.topic == RELATIONSHIP_CREATED_TOPIC]
    assert len(relationships) == 3


class FailingBus(InMemoryBus):
    def __init__(self) -> None:
        super().__init__()
        self.fail = True

    async def publish(
        self,
        topic: str,
        value: bytes,
        key: str | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> Any:
        if self.fail:
            raise ConnectionError("broker down")
        return await super().publish(topic, value, key=key, headers=headers)


async def test_a_failing_bus_loses_nothing(sqlite_catalog: CatalogService) -> None:
    await ingest_invoice(sqlite_catalog, items=[])
    waiting = await sqlite_catalog.outbox.pending()
    async with FailingBus() as bus:
        relay = SystemTopicRelay(bus, sqlite_catalog.outbox)
        with pytest.raises(ConnectionError):
            await relay.publish_pending()
        assert await sqlite_catalog.outbox.pending() == waiting  # still there
        bus.fail = False
        restarted = SystemTopicRelay(bus, sqlite_catalog.outbox)  # e.g. the next start
        assert await restarted.publish_pending() == len(waiting) == 2
        assert len(await read_all(bus, TOPICS)) == 2


async def test_one_keys_records_keep_their_order(sqlite_catalog: CatalogService) -> None:
    ingestor = CatalogIngestor(sqlite_catalog, SCHEMAS, outbox=True)
    await ingestor.apply_batch([(invoice_event("i-1", items=[]), TOPIC)])
    await ingestor.apply_batch(
        [(invoice_event("i-1", items=[], version=2, event_type=EventType.DELETED), TOPIC)]
    )
    await ingestor.apply_batch([(invoice_event("i-1", items=[], version=3), TOPIC)])
    async with InMemoryBus() as bus:
        await SystemTopicRelay(bus, sqlite_catalog.outbox).publish_pending()
        messages = await read_all(bus, [ENTITY_REGISTERED_TOPIC])
    assert [m.key for m in messages] == ["default/entity/invoice/i-1"] * 2
    versions = [json.loads(m.value)["entity_version"] for m in messages]
    assert versions == [1, 3]  # the last record of the key is the latest state


async def test_tenant_topics(sqlite_catalog: CatalogService) -> None:
    await ingest_invoice(sqlite_catalog, items=[], tenant_id="acme")
    await ingest_invoice(sqlite_catalog, items=[])
    async with InMemoryBus() as bus:
        relay = SystemTopicRelay(bus, sqlite_catalog.outbox, tenant_topics=True)
        assert await relay.publish_pending() == 4
        acme = await read_all(bus, [f"acme.{t}" for t in TOPICS])
        shared = await read_all(bus, TOPICS, group="shared")
        specs = await bus.topics()
    assert {m.key.split("/")[0] for m in acme} == {"acme"}
    assert {m.key.split("/")[0] for m in shared} == {"default"}
    assert specs[f"acme.{ENTITY_REGISTERED_TOPIC}"].cleanup_policy is CleanupPolicy.COMPACT


async def test_run_is_woken_by_the_ingest(sqlite_catalog: CatalogService) -> None:
    async with InMemoryBus() as bus:
        relay = SystemTopicRelay(bus, sqlite_catalog.outbox, poll_seconds=60)
        task = asyncio.create_task(relay.run())
        try:
            await asyncio.sleep(0.05)  # idle: waiting for a wake-up (or a minute)
            await ingest_invoice(sqlite_catalog, items=[])
            relay.wake()
            for _ in range(200):
                if relay.published == 2:
                    break
                await asyncio.sleep(0.01)
            assert relay.published == 2
        finally:
            task.cancel()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        SystemTopicRelay(object(), object(), batch_size=0)  # type: ignore[arg-type]
