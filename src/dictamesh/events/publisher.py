"""Publishing :class:`ChangeEvent` objects to their topics.

:class:`EventPublisher` serializes an event, picks its topic (``event.topic``, optionally
behind a tenant prefix) and key (``event.key``, the entity id, so one entity's changes stay
in order on one partition), and creates the topic on first use from the known topic specs.

Example::

    publisher = EventPublisher(bus)                       # JSON, DEFAULT_TOPICS
    meta = await publisher.publish_event(event)           # RecordMetadata(topic, partition, offset)
    metas = await publisher.publish_events(events)        # batched where the bus supports it

    acme = EventPublisher(bus, topic_prefix="acme")  # 'acme.customers.directus.entity_changed'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import ChangeEvent
from dictamesh.events.bus import EventBus, RecordMetadata
from dictamesh.events.serde import JsonEventSerializer, Serializer
from dictamesh.events.topics import DEFAULT_TOPICS, TopicSpec

__all__ = ["EventPublisher", "SupportsPublishMany"]

_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@runtime_checkable
class SupportsPublishMany(Protocol):
    """A bus that can append many records to one topic in one go (the embedded bus)."""

    async def publish_many(
        self,
        topic: str,
        records: Iterable[tuple[bytes, str | None, Mapping[str, bytes] | None]],
    ) -> list[RecordMetadata]: ...


class EventPublisher:
    """Serializes and publishes change events; creates each topic once per publisher.

    :param topic_specs: configurations for topics this publisher may create. A spec is
        matched by the full (prefixed) topic name first, then by the unprefixed name (and
        then applied under the prefixed name). Unknown topics get ``TopicSpec`` defaults.
    :param topic_prefix: a tenant prefix: events go to ``<prefix>.<event.topic>``.
    """

    def __init__(
        self,
        bus: EventBus,
        serializer: Serializer | None = None,
        topic_specs: Iterable[TopicSpec] = DEFAULT_TOPICS,
        topic_prefix: str | None = None,
    ) -> None:
        if topic_prefix is not None and not _PREFIX.match(topic_prefix):
            raise ConfigurationError(
                f"invalid topic prefix {topic_prefix!r}: lowercase letters, digits and '_',"
                " starting with a letter"
            )
        self.bus = bus
        self.serializer: Serializer = (
            serializer if serializer is not None else JsonEventSerializer()
        )
        self.topic_prefix = topic_prefix
        self._specs: dict[str, TopicSpec] = {spec.name: spec for spec in topic_specs}
        self._ensured: set[str] = set()

    def topic_for(self, event: ChangeEvent) -> str:
        """The topic ``event`` is published to."""
        topic = event.topic
        return f"{self.topic_prefix}.{topic}" if self.topic_prefix else topic

    def spec_for(self, topic: str) -> TopicSpec:
        """The configuration used when this publisher creates ``topic``."""
        spec = self._specs.get(topic)
        if spec is not None:
            return spec
        if self.topic_prefix and topic.startswith(self.topic_prefix + "."):
            base = self._specs.get(topic[len(self.topic_prefix) + 1 :])
            if base is not None:
                return base.model_copy(update={"name": topic})
        return TopicSpec(name=topic)

    async def _ensure(self, topic: str) -> None:
        if topic not in self._ensured:
            await self.bus.ensure_topic(self.spec_for(topic))
            self._ensured.add(topic)

    async def publish_event(self, event: ChangeEvent) -> RecordMetadata:
        """Publish one event to its topic, keyed by its entity id."""
        topic = self.topic_for(event)
        await self._ensure(topic)
        value, headers = self.serializer.encode(event)
        return await self.bus.publish(topic, value, key=event.key, headers=headers)

    async def publish_events(self, events: Iterable[ChangeEvent]) -> list[RecordMetadata]:
        """Publish events in order; one batch per topic when the bus supports it.

        Per-key order is kept either way. Results are in the order of ``events``.
        """
        batches: dict[str, list[tuple[int, tuple[bytes, str | None, Mapping[str, bytes]]]]] = {}
        count = 0
        for index, event in enumerate(events):
            value, headers = self.serializer.encode(event)
            batches.setdefault(self.topic_for(event), []).append(
                (index, (value, event.key, headers))
            )
            count = index + 1
        results: list[RecordMetadata | None] = [None] * count
        for topic, items in batches.items():
            await self._ensure(topic)
            metas = await self._publish_batch(topic, [record for _, record in items])
            for (index, _), meta in zip(items, metas, strict=True):
                results[index] = meta
        return [meta for meta in results if meta is not None]

    async def _publish_batch(
        self, topic: str, records: Sequence[tuple[bytes, str | None, Mapping[str, bytes]]]
    ) -> list[RecordMetadata]:
        if isinstance(self.bus, SupportsPublishMany):
            return await self.bus.publish_many(topic, records)
        return [
            await self.bus.publish(topic, value, key=key, headers=headers)
            for value, key, headers in records
        ]
