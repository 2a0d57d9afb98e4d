"""EventPublisher: topic, key, headers, tenant prefix, topic specs, batching."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Self

import pytest

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import ChangeEvent, EntityVersionRef, EventType, SourceRef
from dictamesh.events.bus import Consumer, RecordMetadata
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.partitioner import partition_for_key
from dictamesh.events.publisher import EventPublisher, SupportsPublishMany
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.events.topics import DEFAULT_TOPICS, CleanupPolicy, TopicSpec
from dictamesh.testing.bus import InMemoryBus


def event(
    entity_id: str = "c-1", domain: str = "customers", system: str = "directus"
) -> ChangeEvent:
    return ChangeEvent(
        event_type=EventType.UPDATED,
        entity=EntityVersionRef(type="customer", id=entity_id, version=2),
        source=SourceRef(domain=domain, system=system),
        tenant_id="acme",
    )


@pytest.fixture
async def bus() -> AsyncIterator[EmbeddedBus]:
    async with InMemoryBus() as bus:
        yield bus


class RecordingBus:
    """A minimal EventBus without publish_many, recording calls."""

    def __init__(self) -> None:
        self.ensured: list[TopicSpec] = []
        self.published: list[tuple[str, bytes, str | None, dict[str, bytes]]] = []

    async def connect(self) -> None: ...

    async def aclose(self) -> None: ...

    async def ping(self) -> bool:
        return True

    async def ensure_topic(self, spec: TopicSpec) -> None:
        self.ensured.append(spec)

    async def publish(
        self,
        topic: str,
        value: bytes,
        key: str | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> RecordMetadata:
        self.published.append((topic, value, key, dict(headers or {})))
        return RecordMetadata(topic, 0, len(self.published) - 1)

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...


async def test_publish_event_topic_key_headers_and_spec(bus: EmbeddedBus) -> None:
    e = event()
    meta = await EventPublisher(bus).publish_event(e)
    assert meta.topic == "customers.directus.entity_changed"
    assert meta.partition == partition_for_key("c-1", 3)
    (m,) = await bus.read(meta.topic, meta.partition)
    assert m.key == "c-1"
    assert m.headers["tenant-id"] == b"acme"
    assert JsonEventSerializer().decode(m.value, m.headers) == e
    # the topic was created from DEFAULT_TOPICS (30 days), not the 7-day default
    spec = (await bus.topics())[meta.topic]
    known = next(s for s in DEFAULT_TOPICS if s.name == meta.topic)
    assert spec.retention_ms == known.retention_ms


async def test_unknown_topic_gets_default_spec(bus: EmbeddedBus) -> None:
    meta = await EventPublisher(bus, topic_specs=()).publish_event(event(domain="hr", system="sap"))
    assert meta.topic == "hr.sap.entity_changed"
    assert (await bus.topics())[meta.topic].partitions == TopicSpec(name=meta.topic).partitions


async def test_tenant_prefix_applies_the_unprefixed_spec(bus: EmbeddedBus) -> None:
    specs = [
        TopicSpec(
            name="customers.directus.entity_changed",
            partitions=5,
            cleanup_policy=CleanupPolicy.COMPACT,
        )
    ]
    publisher = EventPublisher(bus, topic_specs=specs, topic_prefix="acme")
    meta = await publisher.publish_event(event())
    assert meta.topic == "acme.customers.directus.entity_changed"
    stored = (await bus.topics())[meta.topic]
    assert (stored.partitions, stored.cleanup_policy) == (5, CleanupPolicy.COMPACT)
    assert "customers.directus.entity_changed" not in await bus.topics()


async def test_a_spec_for_the_prefixed_name_wins() -> None:
    specs = [
        TopicSpec(name="customers.directus.entity_changed", partitions=5),
        TopicSpec(name="acme.customers.directus.entity_changed", partitions=7),
    ]
    publisher = EventPublisher(RecordingBus(), topic_specs=specs, topic_prefix="acme")
    assert publisher.spec_for("acme.customers.directus.entity_changed").partitions == 7


@pytest.mark.parametrize("prefix", ["", "Acme", "a.b", "1x"])
def test_bad_prefix(prefix: str) -> None:
    with pytest.raises(ConfigurationError):
        EventPublisher(RecordingBus(), topic_prefix=prefix)


async def test_topic_is_ensured_once_per_publisher() -> None:
    bus = RecordingBus()
    publisher = EventPublisher(bus)
    for i in range(3):
        await publisher.publish_event(event(f"c-{i}"))
    await publisher.publish_events([event("c-9"), event("p-1", "products", "thirdparty")])
    assert [s.name for s in bus.ensured] == [
        "customers.directus.entity_changed",
        "products.thirdparty.entity_changed",
    ]


async def test_publish_events_without_publish_many_publishes_in_order() -> None:
    bus = RecordingBus()
    assert not isinstance(bus, SupportsPublishMany)
    events = [event("c-1"), event("p-1", "products", "thirdparty"), event("c-2")]
    metas = await EventPublisher(bus).publish_events(events)
    assert [m.topic for m in metas] == [
        "customers.directus.entity_changed",
        "products.thirdparty.entity_changed",
        "customers.directus.entity_changed",
    ]
    assert [key for _, _, key, _ in bus.published] == ["c-1", "c-2", "p-1"]


async def test_publish_events_batches_on_the_embedded_bus(bus: EmbeddedBus) -> None:
    assert isinstance(bus, SupportsPublishMany)
    events = [event(f"c-{i % 4}") for i in range(40)] + [event("p-1", "products", "thirdparty")]
    metas = await EventPublisher(bus).publish_events(events)
    assert len(metas) == 41
    assert metas[-1].topic == "products.thirdparty.entity_changed"
    for e, meta in zip(events, metas, strict=True):
        assert meta.partition == partition_for_key(e.key, 3)
        (m,) = await bus.read(meta.topic, meta.partition, meta.offset, 1)
        assert JsonEventSerializer().decode(m.value, m.headers).event_id == e.event_id
    assert await EventPublisher(bus).publish_events([]) == []
