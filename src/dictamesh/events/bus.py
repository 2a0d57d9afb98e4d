"""The event bus interface every backend (embedded SQLite log, Apache Kafka) implements.

A record with an empty value (:data:`TOMBSTONE`) is a *tombstone*: it says "this key is
gone", and compaction drops the key's earlier records (Kafka writes it as a null value).
:func:`dictamesh.events.consume.run_consumer` commits tombstones without handing them on.

Delivery is at-least-once: a consumer group sees every message of its topics, and a message
is delivered again to the group until it is committed (acked). Ordering holds per partition,
and the partition follows the key (the entity id), so one entity's changes stay in order.

Example::

    async with EmbeddedBus(path) as bus:
        await bus.ensure_topic(TopicSpec(name="customers.directus.entity_changed"))
        await bus.publish("customers.directus.entity_changed", b"{...}", key="c-1")
        async with bus.consumer("catalog-ingest", ["customers.directus.entity_changed"]) as c:
            for msg in await c.poll(max_records=100, timeout=1.0):
                handle(msg)
                await c.commit(msg)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Protocol, Self, runtime_checkable

from dictamesh.events.topics import TopicSpec

__all__ = [
    "TOMBSTONE",
    "Consumer",
    "EventBus",
    "Message",
    "PartitionLag",
    "RecordMetadata",
    "TopicInfo",
]

#: the value of a tombstone record (Kafka: null); no event encodes to it
TOMBSTONE: Final = b""


@dataclass(frozen=True, slots=True)
class RecordMetadata:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far a consumer group is behind on one partition."""

    topic: str
    partition: int
    #: next offset the group will read (None: the group never committed here)
    committed: int | None
    #: offset of the next message to be written (last stable offset under read_committed)
    end_offset: int
    lag: int


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A topic as a backend stores it (for tools: ``dictamesh bus topics``); any name, not
    only the mesh scheme's, since a broker holds topics of other applications too."""

    name: str
    partitions: int
    #: None: kept forever
    retention_ms: int | None
    #: ``delete``, ``compact`` or (Kafka) ``compact,delete``
    cleanup_policy: str


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: Mapping[str, bytes] = field(default_factory=dict)
    timestamp_ms: int = 0
    #: how many times this message was handed to this group before (0 on first delivery),
    #: where the backend knows it; used to route poison messages to the DLQ
    delivery_count: int = 0

    @property
    def tombstone(self) -> bool:
        """A tombstone: no value (Kafka's null, the embedded bus's empty value)."""
        return not self.value


@runtime_checkable
class Consumer(Protocol):
    """A member of a consumer group reading some topics."""

    async def poll(self, max_records: int = 100, timeout: float = 1.0) -> list[Message]:
        """Next uncommitted messages (may be empty after ``timeout`` seconds)."""
        ...

    async def commit(self, message: Message) -> None:
        """Ack ``message`` and every earlier message of its partition for this group."""
        ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...


@runtime_checkable
class EventBus(Protocol):
    async def connect(self) -> None: ...

    async def aclose(self) -> None: ...

    async def ping(self) -> bool: ...

    async def lag(
        self, group: str, topics: Sequence[str] | None = None
    ) -> dict[str, dict[int, int]]:
        """Messages ``group`` has not committed yet: ``{topic: {partition: count}}``. A
        backend that cannot tell returns ``{}`` (metrics then export no lag for it)."""
        ...

    async def ensure_topic(self, spec: TopicSpec) -> None:
        """Create the topic if missing (idempotent)."""
        ...

    async def publish(
        self,
        topic: str,
        value: bytes,
        key: str | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> RecordMetadata: ...

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        """A consumer in ``group``; offsets start at the earliest uncommitted message."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...
