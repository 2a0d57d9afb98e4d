"""Per-topic bus configuration (``bus.topics`` in ``mesh.yaml``): pure models, no bus import.

A node's topics are created and written as the first matching entry says (entries are
``fnmatch`` globs over the topic name without a tenant prefix, first match wins)::

    bus:
      serialization: avro             # json (default) or avro: typed records per entity type
      topics:
        - name: "customers.*.entity_changed"
          partitions: 12
          retention: 30d
          envelope: debezium          # what the value looks like (docs/events.md)
          cloudevents: true           # plus CloudEvents 1.0 ce_* headers (Kafka binding)
        - name: "system.*"
          partitions: 3
          cleanup_policy: compact
"""

from __future__ import annotations

from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dictamesh.core.retention import parse_age

__all__ = [
    "AvroTimestamps",
    "Envelope",
    "Serialization",
    "TopicCleanup",
    "TopicSettings",
    "topic_settings_for",
]


class Serialization(StrEnum):
    JSON = "json"
    #: one Avro record per entity type (typed fields), Confluent wire format
    AVRO = "avro"


class AvroTimestamps(StrEnum):
    """How ``datetime`` entity fields are written in typed Avro records (docs/events.md)."""

    #: ``timestamp-millis``: Kafka Connect and ksqlDB read it as a TIMESTAMP; a value with
    #: sub-millisecond digits is refused (never rounded)
    MILLIS = "millis"
    #: ``timestamp-micros``: exact to the microsecond; Connect and ksqlDB see a BIGINT
    MICROS = "micros"


class Envelope(StrEnum):
    #: the ChangeEvent model as it is (``docs/events.md``)
    DICTAMESH = "dictamesh"
    #: Debezium's change-event envelope: ``before``, ``after``, ``source``, ``op``, ``ts_ms``
    DEBEZIUM = "debezium"


class TopicCleanup(StrEnum):
    DELETE = "delete"
    COMPACT = "compact"


class TopicSettings(BaseModel):
    """How the topics whose name matches ``name`` are created and what they carry.

    Unset fields keep the built-in topic's value (``events/topics.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: a glob over the topic name without a tenant prefix (``customers.*.entity_changed``)
    name: str = Field(min_length=1, max_length=249)
    partitions: int | None = Field(default=None, ge=1, le=1024)
    replication_factor: int | None = Field(default=None, ge=1, le=32)
    #: Kafka's ``min.insync.replicas``: with ``acks=all`` a write needs this many replicas
    min_insync_replicas: int | None = Field(default=None, ge=1, le=32)
    #: how long records are kept (``7d``, ``12h``); ``forever`` keeps them
    retention: str | None = None
    cleanup_policy: TopicCleanup | None = None
    envelope: Envelope = Envelope.DICTAMESH
    cloudevents: bool = False
    #: after a delete, a record with the same key and no value, so compaction drops the
    #: entity; default: on for compacted topics with the Debezium envelope (as Debezium)
    tombstones: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.retention is not None and self.retention != "forever":
            parse_age(self.retention)  # a clear error now, not when the topic is created
        if (
            self.min_insync_replicas is not None
            and self.replication_factor is not None
            and self.min_insync_replicas > self.replication_factor
        ):
            raise ValueError(
                f"min_insync_replicas {self.min_insync_replicas} > replication_factor"
                f" {self.replication_factor}: no write could ever be acknowledged"
            )
        return self

    def matches(self, topic: str) -> bool:
        return fnmatchcase(topic, self.name)

    @property
    def retention_ms(self) -> int | None:
        """``None`` when unset or ``forever`` (see :attr:`keeps_forever`)."""
        if self.retention is None or self.retention == "forever":
            return None
        return int(parse_age(self.retention).total_seconds() * 1000)

    @property
    def keeps_forever(self) -> bool:
        return self.retention == "forever"

    @property
    def writes_tombstones(self) -> bool:
        if self.tombstones is not None:
            return self.tombstones
        return self.cleanup_policy is TopicCleanup.COMPACT and self.envelope is Envelope.DEBEZIUM


def topic_settings_for(
    entries: tuple[TopicSettings, ...] | list[TopicSettings], topic: str
) -> TopicSettings | None:
    """The first entry whose glob matches ``topic`` (give it without a tenant prefix)."""
    for entry in entries:
        if entry.matches(topic):
            return entry
    return None
