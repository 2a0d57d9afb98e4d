"""Publishing :class:`ChangeEvent` objects to their topics.

:class:`EventPublisher` serializes an event, picks its topic (``event.topic``, optionally
behind a tenant prefix) and key (``event.key``, the entity id, so one entity's changes stay
in order on one partition), and creates the topic on first use from the known topic specs.

Example::

    publisher = EventPublisher(bus)                       # JSON, DEFAULT_TOPICS
    meta = await publisher.publish_event(event)           # RecordMetadata(topic, partition, offset)
    metas = await publisher.publish_events(events)        # batched where the bus supports it

    acme = EventPublisher(bus, topic_prefix="acme")  # 'acme.customers.directus.entity_changed'
    mesh = EventPublisher(bus, tenant_topics=True)   # each event to '<its tenant>.<topic>'
    limited = EventPublisher(bus, quota=TenantQuotas(settings.tenancy.quotas))
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from dictamesh.core.bus_config import TopicSettings
from dictamesh.core.errors import ConfigurationError, ValidationError
from dictamesh.core.models import ChangeEvent
from dictamesh.events.bus import TOMBSTONE, EventBus, RecordMetadata
from dictamesh.events.codecs import WritesTombstones
from dictamesh.events.serde import JsonEventSerializer, Serializer
from dictamesh.events.topics import DEFAULT_TOPICS, TopicSpec, configured_spec
from dictamesh.observability.stats import BATCH_SIZE_BUCKETS, BucketHistogram
from dictamesh.observability.tracing import SpanKind, context_from_trace, span

__all__ = ["EventPublisher", "PublishQuota", "PublishStats", "SupportsPublishMany"]

_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DEFAULT_TENANT = "default"  # the catalog's tenant of events without one


@runtime_checkable
class SupportsPublishMany(Protocol):
    """A bus that can append many records to one topic in one go (the embedded bus)."""

    async def publish_many(
        self,
        topic: str,
        records: Iterable[tuple[bytes, str | None, Mapping[str, bytes] | None]],
    ) -> list[RecordMetadata]: ...


@runtime_checkable
class PublishQuota(Protocol):
    """Events per tenant and second (:class:`dictamesh.tenancy.TenantQuotas`): returns when
    ``tenant`` may publish ``count`` more events (it may wait), or raises
    :class:`~dictamesh.core.errors.TenantQuotaExceeded`."""

    async def acquire_events(self, tenant: str | None, count: int = 1) -> None: ...


@dataclass
class PublishStats:
    """What a publisher sent (``/metrics`` reads it at scrape time)."""

    #: topic → records published
    published: Counter[str] = field(default_factory=Counter)
    #: topic → records per publish call
    batch_sizes: dict[str, BucketHistogram] = field(default_factory=dict)

    def record(self, topic: str, records: int) -> None:
        self.published[topic] += records
        hist = self.batch_sizes.get(topic)
        if hist is None:
            hist = self.batch_sizes[topic] = BucketHistogram(BATCH_SIZE_BUCKETS)
        hist.observe(records)


@contextmanager
def _producer_span(topic: str, event: ChangeEvent) -> Iterator[None]:
    # Encoding inside the span puts its context in the record's traceparent header; its
    # parent is the adapter's change span the event carries (else the current span).
    with span(
        f"publish {topic}",
        kind=SpanKind.PRODUCER,
        parent=context_from_trace(event.trace_context),
        attributes={
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
            "messaging.message.id": str(event.event_id),
        },
    ):
        yield


class EventPublisher:
    """Serializes and publishes change events; creates each topic once per publisher.

    :param topic_specs: configurations for topics this publisher may create. A spec is
        matched by the full (prefixed) topic name first, then by the unprefixed name (and
        then applied under the prefixed name). Unknown topics get ``TopicSpec`` defaults.
    :param topic_prefix: a tenant prefix: events go to ``<prefix>.<event.topic>``.
    :param tenant_topics: each event carrying a ``tenant_id`` (other than ``'default'``)
        goes to ``<tenant_id>.<event.topic>`` (``tenancy.topic_prefix_per_tenant``); events
        without one go to ``topic_prefix``'s topic, else the plain one.
    :param quota: asked before publishing, per tenant (``tenancy.quotas``): it delays the
        publish, or raises :class:`~dictamesh.core.errors.TenantQuotaExceeded` — before
        anything of the call was sent.
    :param topic_settings: ``bus.topics``: override the partitions, retention... of the
        topics this publisher creates (:func:`~dictamesh.events.topics.configured_spec`).

    A serializer that says so (:class:`~dictamesh.events.codecs.WritesTombstones`, as the
    node's :class:`~dictamesh.events.codecs.TopicCodec` does for ``bus.topics`` that
    ``writes_tombstones``) gets a tombstone (same key, no value) right after each delete,
    so compaction drops the entity as Debezium's ``tombstones.on.delete`` does.
    """

    def __init__(
        self,
        bus: EventBus,
        serializer: Serializer | None = None,
        topic_specs: Iterable[TopicSpec] = DEFAULT_TOPICS,
        topic_prefix: str | None = None,
        *,
        tenant_topics: bool = False,
        quota: PublishQuota | None = None,
        topic_settings: Sequence[TopicSettings] = (),
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
        self.tenant_topics = tenant_topics
        self.quota = quota
        self.topic_settings = tuple(topic_settings)
        self._tombstones: WritesTombstones | None = (
            self.serializer if isinstance(self.serializer, WritesTombstones) else None
        )
        self._specs: dict[str, TopicSpec] = {spec.name: spec for spec in topic_specs}
        self._ensured: set[str] = set()
        self.stats = PublishStats()

    def topic_for(self, event: ChangeEvent) -> str:
        """The topic ``event`` is published to."""
        topic = event.topic
        tenant = event.tenant_id
        if self.tenant_topics and tenant and tenant != _DEFAULT_TENANT:
            if not _PREFIX.match(tenant):
                # never a "similar" topic name: that could merge two tenants' streams
                raise ValidationError(
                    f"tenant {tenant!r} cannot prefix a topic: lowercase letters, digits"
                    " and '_', starting with a letter",
                    tenant=tenant[:64],
                )
            return f"{tenant}.{topic}"
        return f"{self.topic_prefix}.{topic}" if self.topic_prefix else topic

    def spec_for(self, topic: str) -> TopicSpec:
        """The configuration used when this publisher creates ``topic``."""
        return configured_spec(self._builtin_spec(topic), self.topic_settings)

    def _builtin_spec(self, topic: str) -> TopicSpec:
        spec = self._specs.get(topic)
        if spec is not None:
            return spec
        prefix, _, rest = topic.partition(".")
        if rest and (prefix == self.topic_prefix or self.tenant_topics):
            base = self._specs.get(rest)
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
        if self.quota is not None:
            await self.quota.acquire_events(event.tenant_id, 1)
        await self._ensure(topic)
        with _producer_span(topic, event):
            value, headers = self.serializer.encode(event)
            tombstone = self._tombstones is not None and self._tombstones.tombstone_after(event)
            if tombstone and isinstance(self.bus, SupportsPublishMany):
                records = [(value, event.key, headers), (TOMBSTONE, event.key, None)]
                meta = (await self.bus.publish_many(topic, records))[0]
            else:
                meta = await self.bus.publish(topic, value, key=event.key, headers=headers)
                if tombstone:
                    await self.bus.publish(topic, TOMBSTONE, key=event.key)
        self.stats.record(topic, 2 if tombstone else 1)
        return meta

    async def publish_events(self, events: Iterable[ChangeEvent]) -> list[RecordMetadata]:
        """Publish events in order; one batch per topic when the bus supports it.

        Per-key order is kept either way. Results are in the order of ``events``.
        """
        # index -1: a tombstone, published after its delete but returned to nobody
        batches: dict[
            str, list[tuple[int, tuple[bytes, str | None, Mapping[str, bytes] | None]]]
        ] = {}
        count = 0
        events = list(events)
        if self.quota is not None:
            per_tenant = Counter(event.tenant_id for event in events)
            for tenant, number in per_tenant.items():
                await self.quota.acquire_events(tenant, number)
        for index, event in enumerate(events):
            topic = self.topic_for(event)
            with _producer_span(topic, event):  # per event: each record carries its own
                value, headers = self.serializer.encode(event)
            batch = batches.setdefault(topic, [])
            batch.append((index, (value, event.key, headers)))
            if self._tombstones is not None and self._tombstones.tombstone_after(event):
                batch.append((-1, (TOMBSTONE, event.key, None)))
            count = index + 1
        results: list[RecordMetadata | None] = [None] * count
        for topic, items in batches.items():
            await self._ensure(topic)
            metas = await self._publish_batch(topic, [record for _, record in items])
            self.stats.record(topic, len(items))
            for (index, _), meta in zip(items, metas, strict=True):
                if index >= 0:
                    results[index] = meta
        return [meta for meta in results if meta is not None]

    async def _publish_batch(
        self,
        topic: str,
        records: Sequence[tuple[bytes, str | None, Mapping[str, bytes] | None]],
    ) -> list[RecordMetadata]:
        if isinstance(self.bus, SupportsPublishMany):
            return await self.bus.publish_many(topic, records)
        return [
            await self.bus.publish(topic, value, key=key, headers=headers)
            for value, key, headers in records
        ]
