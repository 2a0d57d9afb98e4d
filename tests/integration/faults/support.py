"""Shared pieces of the fault tests: a keyed event stream, the catalog ingest as the node
wires it, and the exactly-once checks on the catalog afterwards."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from dictamesh.catalog.ingest import CatalogIngestor
from dictamesh.catalog.service import MAX_EVENT_LOG_LIMIT, CatalogService
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.events.bus import Message
from dictamesh.events.serde import JsonEventSerializer, Serializer

ENTITIES = 20
VERSIONS = 100  # 20 x 100 = 2,000 events


def event_stream(
    entities: int = ENTITIES, versions: int = VERSIONS
) -> tuple[str, dict[str, list[ChangeEvent]]]:
    """A unique topic and, per (unique) entity id, its events with versions 1..``versions``."""
    uid = uuid.uuid4().hex[:10]
    source = SourceRef(domain="faults", system=f"s{uid}")
    streams = {
        f"w{uid}-{e}": [
            ChangeEvent.for_change(
                EventType.CREATED if v == 1 else EventType.UPDATED,
                Entity(
                    type="widget",
                    id=f"w{uid}-{e}",
                    version=v,
                    attributes={"name": f"widget {e}", "rev": v},
                    source=source,
                ),
            )
            for v in range(1, versions + 1)
        ]
        for e in range(entities)
    }
    topic = streams[f"w{uid}-0"][0].topic
    return topic, streams


@dataclass
class Timeline:
    """When things happened (monotonic seconds), to measure recovery."""

    events: dict[str, list[float]] = field(default_factory=dict)

    def mark(self, what: str) -> None:
        self.events.setdefault(what, []).append(time.monotonic())

    def first_after(self, what: str, after: float) -> float | None:
        return next((t for t in self.events.get(what, []) if t > after), None)


class Ingest:
    """The node's catalog-ingest handler (decode, then ``handle_batch``), instrumented:
    which messages were handled successfully, and when."""

    def __init__(
        self, catalog: CatalogService, timeline: Timeline, serializer: Serializer | None = None
    ) -> None:
        self.ingestor = CatalogIngestor(catalog, {})
        self.serializer = serializer or JsonEventSerializer()
        self.timeline = timeline
        self.handled: set[tuple[str, int, int]] = set()
        self.errors: list[BaseException] = []

    async def __call__(self, batch: list[Message]) -> None:
        events = [(self.serializer.decode(m.value, m.headers), m.topic) for m in batch]
        try:
            await self.ingestor.handle_batch(events)
        except Exception as exc:
            self.errors.append(exc)
            self.timeline.mark("ingest_failed")
            raise
        self.handled.update((m.topic, m.partition, m.offset) for m in batch)
        self.timeline.mark("ingested")


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.05)


async def check_exactly_once(
    catalog: CatalogService, streams: dict[str, list[ChangeEvent]]
) -> None:
    """Every event id once in the event log (none missing, none extra) and every entity at
    its last version, last written by its last event."""
    wanted = {str(ev.event_id) for evs in streams.values() for ev in evs}
    counts: Counter[str] = Counter()
    for entity_id, evs in streams.items():
        assert 2 * len(evs) < MAX_EVENT_LOG_LIMIT  # one page shows duplicates too
        logged = await catalog.get_event_log(
            entity_type="widget", entity_id=entity_id, limit=MAX_EVENT_LOG_LIMIT
        )
        counts.update(record.event_id for record in logged)
    missing = wanted - counts.keys()
    assert not missing, f"{len(missing)} events never reached the event log"
    assert counts.keys() == wanted, "unexpected events in the log"
    twice = {k: n for k, n in counts.items() if n != 1}
    assert not twice, f"events logged more than once: {twice}"
    for entity_id, evs in streams.items():
        location = await catalog.get_entity_location("widget", entity_id)
        assert location.version == evs[-1].entity.version, entity_id
        assert location.attributes["rev"] == evs[-1].entity.version, entity_id
        assert location.last_event_id == str(evs[-1].event_id), entity_id
