"""The node's catalog-ingest handler hands the ingest the JSON it received, where that is
the event (so the log stores it instead of a re-encoding)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from dictamesh.catalog import CatalogIngestor
from dictamesh.catalog.ingest import IngestOutcome
from dictamesh.core.bus_config import TopicSettings
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.events.bus import Message
from dictamesh.events.codecs import TopicCodec
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.node import catalog_ingest_handler


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[list[tuple[ChangeEvent, str]], list[Any] | None]] = []

    async def apply_batch(
        self,
        events: Sequence[tuple[ChangeEvent, str]],
        *,
        payloads: Sequence[bytes | str | None] | None = None,
    ) -> IngestOutcome:
        self.calls.append((list(events), None if payloads is None else list(payloads)))
        return IngestOutcome(applied=len(events), duplicates=0, stale=0, events=tuple(events))


def event(tenant: str | None = None) -> ChangeEvent:
    entity = Entity(
        type="customer",
        id="c-1",
        source=SourceRef(domain="customers", system="crm"),
        attributes={"name": "Ada"},
        tenant_id=tenant,
    )
    return ChangeEvent.for_change(EventType.CREATED, entity)


async def test_json_values_are_passed_on_unless_the_topic_changed_the_event() -> None:
    serde = JsonEventSerializer()
    recorder = Recorder()
    handle = catalog_ingest_handler(cast(CatalogIngestor, recorder), serde)
    shared, headers = serde.encode(event())
    # on acme's topic an event without tenant gets acme: the value no longer says it all
    prefixed, _ = serde.encode(event())
    await handle(
        [
            Message("customers.crm.entity_changed", 0, 0, "c-1", shared, headers),
            Message("acme.customers.crm.entity_changed", 0, 0, "c-1", prefixed, headers),
            # no content-type: it could be another envelope the codec recognised by its shape
            Message("customers.crm.entity_changed", 0, 1, "c-1", shared),
        ]
    )
    ((events, payloads),) = recorder.calls
    assert payloads == [shared, None, None]
    assert events[1][0].tenant_id == "acme"


async def test_debezium_values_are_not_the_events_json() -> None:
    codec = TopicCodec(topics=[TopicSettings(name="customers.*", envelope="debezium")])
    recorder = Recorder()
    handle = catalog_ingest_handler(cast(CatalogIngestor, recorder), codec)
    created = event()
    value, headers = codec.encode(created)
    plain, plain_headers = JsonEventSerializer().encode(created)
    await handle(
        [
            Message("customers.crm.entity_changed", 0, 0, "c-1", value, headers),
            Message("customers.crm.entity_changed", 0, 1, "c-1", plain, plain_headers),
        ]
    )
    ((events, payloads),) = recorder.calls
    assert payloads == [None, plain]
    assert events[0][0] == events[1][0] == created


class OtherFormat(JsonEventSerializer):
    """Decodes like JSON but claims another format (as Avro would: not the event's JSON)."""

    @property
    def content_type(self) -> str:
        return "application/x-other"


async def test_values_of_other_formats_are_not_passed_on() -> None:
    recorder = Recorder()
    handle = catalog_ingest_handler(cast(CatalogIngestor, recorder), OtherFormat())
    value, _ = JsonEventSerializer().encode(event())
    await handle([Message("customers.crm.entity_changed", 0, 0, "c-1", value)])
    ((_events, payloads),) = recorder.calls
    assert payloads == [None]


async def test_each_committed_batchs_outcome_goes_to_the_listener() -> None:
    serde = JsonEventSerializer()
    outcomes: list[IngestOutcome] = []
    handle = catalog_ingest_handler(
        cast(CatalogIngestor, Recorder()), serde, on_outcome=outcomes.append
    )
    value, _ = serde.encode(event())
    await handle([Message("customers.crm.entity_changed", 0, 0, "c-1", value)])
    ((outcome),) = outcomes
    assert outcome.applied == 1
    assert [e.entity.id for e, _ in outcome.events] == ["c-1"]
