"""Event bus helpers for tests: a real in-memory bus and a way to capture published events.

:class:`InMemoryBus` is the actual embedded engine (:class:`EmbeddedBus`) on a private
SQLite ``:memory:`` database, not a mock: partitioning, offsets, consumer groups, commits,
redelivery and dead-lettering behave exactly as in production with the embedded bus.

Example::

    async def test_adapter_emits_change_events():
        async with InMemoryBus() as bus:
            async with capture_events(bus, ["customers.directus.entity_changed"]) as captured:
                await sync_customers(bus)
            assert [e.entity.id for e in captured] == ["c-1", "c-2"]
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import overload

from dictamesh.core.models import ChangeEvent
from dictamesh.events.bus import Message
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.serde import JsonEventSerializer, Serializer

__all__ = ["CapturedEvents", "InMemoryBus", "capture_events"]


class InMemoryBus(EmbeddedBus):
    """The embedded bus on a private in-memory database (gone when closed).

    A short ``poll_interval`` keeps tests snappy; same-process publishes wake consumers
    immediately anyway.
    """

    def __init__(self, *, poll_interval: float = 0.01) -> None:
        super().__init__(":memory:", poll_interval=poll_interval)

    def __repr__(self) -> str:
        return "InMemoryBus()"


class CapturedEvents(Sequence[ChangeEvent]):
    """The events published to the watched topics while a ``capture_events`` block runs,
    decoded, in exact publish order. Live: usable inside the block too."""

    def __init__(self, topics: Sequence[str] | None, serializer: Serializer) -> None:
        self._topics = None if topics is None else frozenset(topics)
        self._serializer = serializer
        self.messages: list[Message] = []
        #: tombstones published to the watched topics (no events: not in ``messages``)
        self.tombstones: list[Message] = []
        self._events: list[ChangeEvent] = []

    def _tap(self, published: list[Message]) -> None:
        for m in published:
            if self._topics is None or m.topic in self._topics:
                (self.tombstones if m.tombstone else self.messages).append(m)

    @property
    def events(self) -> list[ChangeEvent]:
        """Decoded events (raises SerializationError for a message that is not an event)."""
        for m in self.messages[len(self._events) :]:
            self._events.append(self._serializer.decode(m.value, m.headers))
        return list(self._events)

    def of_type(self, entity_type: str) -> list[ChangeEvent]:
        return [e for e in self.events if e.entity.type == entity_type]

    @overload
    def __getitem__(self, index: int) -> ChangeEvent: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ChangeEvent]: ...

    def __getitem__(self, index: int | slice) -> ChangeEvent | Sequence[ChangeEvent]:
        return self.events[index]

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[ChangeEvent]:
        return iter(self.events)

    def __repr__(self) -> str:
        return f"CapturedEvents({len(self.messages)} events)"


@asynccontextmanager
async def capture_events(
    bus: EmbeddedBus,
    topics: Sequence[str] | None = None,
    *,
    serializer: Serializer | None = None,
) -> AsyncIterator[CapturedEvents]:
    """Collect the :class:`ChangeEvent` objects published through ``bus`` to ``topics``
    (default: every topic) while the block runs.

    Works with any :class:`EmbeddedBus`, including :class:`InMemoryBus`. It watches this
    bus instance's publishes (no consumer group is involved); on exit every captured
    message must decode as an event, else :class:`SerializationError` is raised.
    """
    captured = CapturedEvents(topics, serializer or JsonEventSerializer())
    remove = bus.on_publish(captured._tap)
    try:
        yield captured
    finally:
        remove()
    captured.events  # noqa: B018 - decode now: a non-event fails the test at the block
