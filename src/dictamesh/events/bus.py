"""The event bus interface every backend (embedded SQLite log, Apache Kafka) implements.

A record with an empty value (:data:`TOMBSTONE`) is a *tombstone*: it says "this key is
gone", and compaction drops the key's earlier records (Kafka writes it as a null value).
:func:`dictamesh.events.consume.run_consumer` commits tombstones without handing them on.

Delivery is at-least-once: a consumer group sees every message of its topics, and a message
is delivered again to the group until it is committed (acked). Ordering holds per partition,
and the partition follows the key (the entity id), so one entity's changes stay in order.

Where a group starts: at its committed offsets; where it never committed, at the earliest
retained message (durable groups: catalog ingest, the router, notifications), or at
``initial_offsets`` when given (a node's own cache group starts at the end offsets it saw at
start-up, so a new process does not replay days of old changes to its subscribers).

Example::

    async with EmbeddedBus(path) as bus:
        await bus.ensure_topic(TopicSpec(name="customers.directus.entity_changed"))
        await bus.publish("customers.directus.entity_changed", b"{...}", key="c-1")
        async with bus.consumer("catalog-ingest", ["customers.directus.entity_changed"]) as c:
            for msg in await c.poll(max_records=100, timeout=1.0):
                handle(msg)
                await c.commit(msg)

        # a group of this process only: what is published from now on
        now = await bus.end_offsets(["customers.directus.entity_changed"])
        fresh = bus.consumer(f"cache-{os.getpid()}", list(now), initial_offsets=now)
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
    "StartOffsets",
    "TopicInfo",
]

#: the value of a tombstone record (Kafka: null); no event encodes to it
TOMBSTONE: Final = b""

StartOffsets = Mapping[str, Mapping[int, int]]
"""``{topic: {partition: offset}}``: where a group's never-committed partitions start,
typically :meth:`EventBus.end_offsets` taken when a process starts ("only what is new from
now on", including what is published before the consumer has joined)."""


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

    async def end_offsets(self, topics: Sequence[str] | None = None) -> dict[str, dict[int, int]]:
        """Next offset to be written per partition: ``{topic: {partition: offset}}`` (only
        topics that exist; ``None``: every topic). A snapshot for ``initial_offsets``."""
        ...

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        *,
        initial_offsets: StartOffsets | None = None,
    ) -> Consumer:
        """A consumer in ``group``. A partition the group committed on resumes at its
        commit. One it never committed on starts at ``initial_offsets[topic][partition]``
        (0 where the mapping lacks it), and that start is committed for the group at once;
        without ``initial_offsets`` it starts at the earliest retained message (the default:
        a durable group must see every event)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...
