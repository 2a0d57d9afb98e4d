"""Shared by the tests that put our events next to Confluent's clients: sample change events
and a plain librdkafka reader."""

from __future__ import annotations

import time
from typing import Any

from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef


def change_events(system: str, n: int) -> list[ChangeEvent]:
    """``n`` customer changes (updated/created in turn) from source system ``system``."""
    source = SourceRef(domain="it", system=system)
    return [
        ChangeEvent.for_change(
            EventType.CREATED if i % 2 else EventType.UPDATED,
            Entity(type="customer", id=f"c-{i}", version=i + 1, attributes={"i": i}, source=source),
        )
        for i in range(n)
    ]


def consume_with_librdkafka(
    bootstrap: str, topic: str, count: int, *, partitions: int = 1
) -> list[Any]:
    """Read ``count`` records from the beginning with librdkafka (no group: plain assign)."""
    import confluent_kafka  # the callers importorskip it

    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused-assign-only",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        consumer.assign(
            [
                confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
                for p in range(partitions)
            ]
        )
        records: list[Any] = []
        deadline = time.monotonic() + 20
        while len(records) < count and time.monotonic() < deadline:
            record = consumer.poll(0.5)
            if record is None:
                continue
            assert record.error() is None, record.error()
            records.append(record)
        return records
    finally:
        consumer.close()
