"""The system topics the design declares, fed from the catalog's outbox.

``system.metadata.entity_registered`` and ``system.lineage.relationship_created`` are
compacted and kept forever (:data:`~dictamesh.events.topics.DEFAULT_TOPICS`). What goes on
them is decided by the catalog, which writes a notice into its outbox in the transaction
that made an entity type, an entity or a relationship new
(:mod:`dictamesh.catalog.system_outbox`, ``docs/catalog.md`` for the payloads). A
:class:`SystemTopicRelay` publishes those notices in order, keyed by the notice's key (so
compaction keeps the latest record per type, entity and relationship), and deletes them
once the bus has acknowledged them.

Guarantee: at least once. A notice is never lost once its catalog change is committed
(a crash before publishing leaves it in the outbox for the next start); it may be published
twice (a crash between the acknowledgement and the delete, or two nodes relaying the same
catalog), so consumers dedupe by key. Ingest never waits for the bus: it only wakes the
relay (:meth:`SystemTopicRelay.wake`).

This module does not import the catalog (a sibling layer): the node hands it the outbox as
a :class:`NoticeSource`.

Example::

    relay = SystemTopicRelay(bus, catalog.outbox)
    await relay.ensure_topics()
    task = asyncio.create_task(relay.run())          # until cancelled
    relay.wake()                                     # after an ingest wrote notices
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from dictamesh.events.bus import EventBus
from dictamesh.events.topics import _PART, DEFAULT_TOPICS, TopicSpec

__all__ = [
    "ENTITY_REGISTERED_TOPIC",
    "RELATIONSHIP_CREATED_TOPIC",
    "SYSTEM_TOPIC_SPECS",
    "Notice",
    "NoticeSource",
    "SystemTopicRelay",
]

log = logging.getLogger("dictamesh.events.system_topics")

ENTITY_REGISTERED_TOPIC = "system.metadata.entity_registered"
RELATIONSHIP_CREATED_TOPIC = "system.lineage.relationship_created"
#: notice kind → its topic's spec (compacted, kept forever)
SYSTEM_TOPIC_SPECS: Mapping[str, TopicSpec] = {
    kind: next(s for s in DEFAULT_TOPICS if s.name == name)
    for kind, name in (
        ("entity_registered", ENTITY_REGISTERED_TOPIC),
        ("relationship_created", RELATIONSHIP_CREATED_TOPIC),
    )
}
_DEFAULT_TENANT = "default"


class Notice(Protocol):
    """One stored notice (:class:`dictamesh.catalog.system_outbox.OutboxNotice`)."""

    @property
    def id(self) -> int: ...

    @property
    def tenant(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def payload(self) -> Mapping[str, Any]: ...


class NoticeSource(Protocol):
    """The outbox (:class:`dictamesh.catalog.system_outbox.SystemOutboxStore`)."""

    async def pending(self, limit: int = 500) -> Sequence[Notice]:
        """The notices of the oldest ``limit`` stored units (rows), in order."""
        ...

    async def delete(self, ids: Iterable[int]) -> int:
        """Forget the units of these notice ids (published)."""
        ...


class SystemTopicRelay:
    """Publishes the outbox's notices (see the module docstring).

    ``tenant_topics`` (``tenancy.topic_prefix_per_tenant``): a tenant's notices go to
    ``<tenant>.<topic>``, as its change events do; the default tenant's to the topic itself.
    ``specs`` (notice kind → topic spec) replaces :data:`SYSTEM_TOPIC_SPECS` (tests, a
    mesh sharing a cluster with another).
    """

    def __init__(
        self,
        bus: EventBus,
        source: NoticeSource,
        *,
        tenant_topics: bool = False,
        batch_size: int = 100,
        poll_seconds: float = 1.0,
        specs: Mapping[str, TopicSpec] | None = None,
    ) -> None:
        if batch_size < 1 or poll_seconds <= 0:
            raise ValueError("batch_size must be >= 1 and poll_seconds > 0")
        self.bus = bus
        self.source = source
        self.tenant_topics = tenant_topics
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.specs = dict(SYSTEM_TOPIC_SPECS if specs is None else specs)
        #: notices published (acknowledged by the bus)
        self.published = 0
        self._wake = asyncio.Event()
        self._ensured: set[str] = set()

    def wake(self) -> None:
        """Publish now rather than at the next poll (never blocks)."""
        self._wake.set()

    async def ensure_topics(self) -> None:
        for spec in self.specs.values():
            await self._ensure(spec.name, spec)

    async def _ensure(self, topic: str, spec: TopicSpec) -> None:
        if topic in self._ensured:
            return
        if topic != spec.name:  # a tenant's copy: the base topic's settings
            spec = TopicSpec(**{**spec.model_dump(), "name": topic})
        await self.bus.ensure_topic(spec)
        self._ensured.add(topic)

    def topic_for(self, notice: Notice) -> str | None:
        spec = self.specs.get(notice.kind)
        if spec is None:
            return None
        if (
            self.tenant_topics
            and notice.tenant != _DEFAULT_TENANT
            and _PART.match(notice.tenant)  # else its events were refused anyway
        ):
            return f"{notice.tenant}.{spec.name}"
        return spec.name

    async def publish_pending(self) -> int:
        """Publish every notice waiting now, oldest first; returns how many."""
        total = 0
        while True:
            notices = list(await self.source.pending(self.batch_size))
            if not notices:
                return total
            await self._publish(notices)
            units = {n.id for n in notices}
            await self.source.delete(units)
            total += len(notices)
            self.published += len(notices)
            if len(units) < self.batch_size:
                return total

    async def _publish(self, notices: list[Notice]) -> None:
        # Concurrent sends in waves of distinct keys: a key's records keep their order.
        wave: list[tuple[str, Notice]] = []
        keys: set[str] = set()
        for notice in notices:
            topic = self.topic_for(notice)
            if topic is None:
                log.error(
                    "system-topic notice %d has unknown kind %r; dropped", notice.id, notice.kind
                )
                continue
            spec = self.specs[notice.kind]
            await self._ensure(topic, spec)
            if notice.key in keys:
                await self._send(wave)
                wave, keys = [], set()
            wave.append((topic, notice))
            keys.add(notice.key)
        await self._send(wave)

    async def _send(self, wave: list[tuple[str, Notice]]) -> None:
        await asyncio.gather(
            *(
                self.bus.publish(
                    topic,
                    json.dumps(dict(notice.payload), separators=(",", ":")).encode(),
                    key=notice.key,
                    headers={
                        "content-type": b"application/json",
                        "dictamesh-notice": notice.kind.encode(),
                        "dictamesh-tenant": notice.tenant.encode(),
                    },
                )
                for topic, notice in wave
            )
        )

    async def run(self) -> None:
        """Publish as notices come (woken by :meth:`wake`, else every ``poll_seconds``),
        until cancelled. A bus or catalog error propagates: the node's supervisor restarts
        the relay with backoff and the notices wait in the outbox meanwhile."""
        while True:
            self._wake.clear()
            await self.publish_pending()
            with contextlib.suppress(TimeoutError):  # a poll: notices another node wrote
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
