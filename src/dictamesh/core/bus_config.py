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

How every Kafka client connects (SASL, TLS), batches and which partitions, replication and
``min.insync.replicas`` topics get when no entry says: :class:`KafkaClientSettings`
(``bus.kafka``).
"""

from __future__ import annotations

from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from dictamesh.core.retention import parse_age

__all__ = [
    "AvroTimestamps",
    "Compression",
    "Envelope",
    "KafkaClientSettings",
    "SaslMechanism",
    "SecurityProtocol",
    "Serialization",
    "TopicCleanup",
    "TopicSettings",
    "is_system_topic",
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


# -- bus.kafka: client security, tuning and topic defaults of every Kafka client ------------


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"

    @property
    def uses_sasl(self) -> bool:
        return self in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)

    @property
    def uses_tls(self) -> bool:
        return self in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


Compression = Literal["auto", "none", "gzip", "snappy", "lz4", "zstd"]


class KafkaClientSettings(BaseModel):
    """``bus.kafka``: how every Kafka client of the mesh connects, batches and creates topics.

    Read by :class:`dictamesh.events.kafka.KafkaBus` (producer, consumers, admin client) and
    :mod:`dictamesh.events.kafka_client` (the same options for librdkafka clients).
    Combinations that cannot work are refused here, when the settings load. Example::

        bus:
          backend: kafka
          kafka_bootstrap: broker-1:9094,broker-2:9094
          kafka:
            security_protocol: SASL_SSL
            sasl_mechanism: SCRAM-SHA-512
            sasl_username: mesh-node
            sasl_password: ${KAFKA_PASSWORD}
            ssl_cafile: /etc/dictamesh/kafka-ca.pem
            replication_factor: 3
            min_insync_replicas: 2

    Env example: ``DICTAMESH_BUS__KAFKA__SASL_PASSWORD=...``.
    """

    # the input of a refused combination holds the passwords: keep it out of the error
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    # -- security
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism = SaslMechanism.SCRAM_SHA_512
    sasl_username: str | None = Field(default=None, min_length=1)
    sasl_password: SecretStr | None = None
    #: CA certificates (PEM) the broker's certificate must chain to; unset: the system's
    ssl_cafile: Path | None = None
    #: client certificate (PEM) for mutual TLS; may also hold the key
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None
    #: the broker's certificate must name the host connected to (turn off only for tests)
    check_hostname: bool = True

    # -- producer
    #: ``all`` waits for every in-sync replica; ``1`` for the leader only; ``0`` for nobody
    acks: Literal["all", "1", "0"] = "all"
    #: no duplicates from producer retries, per-partition order kept (needs ``acks: all``)
    enable_idempotence: bool = True
    linger_ms: int = Field(default=5, ge=0, le=60_000)
    #: bytes per partition batch
    max_batch_size: int = Field(default=16_384, ge=1_024, le=64 * 1024 * 1024)
    #: ``auto``: lz4 when its wheel is installed, else none
    compression_type: Compression = "auto"
    request_timeout_ms: int = Field(default=30_000, ge=1_000)
    #: longest a publish waits for the broker's acknowledgement before it fails
    delivery_timeout_ms: int = Field(default=30_000, ge=1)
    #: largest request (one record, compressed batch) the producer sends
    max_request_size: int = Field(default=1_048_576, ge=1_024)

    # -- consumer
    #: most records one poll returns, whatever the caller asks; unset: what it asks
    max_poll_records: int | None = Field(default=None, ge=1)
    fetch_max_bytes: int = Field(default=52_428_800, ge=1_024)
    max_partition_fetch_bytes: int = Field(default=1_048_576, ge=1_024)
    #: a member silent this long loses its partitions (quick failover by default)
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=1_000, ge=100)
    #: longest gap between two polls before the member leaves the group
    max_poll_interval_ms: int = Field(default=300_000, ge=1_000)

    # -- topics the mesh creates (a ``bus.topics`` entry or an explicit spec wins)
    #: partitions of domain topics (``<domain>.<source>.<event>``), as the design says
    domain_partitions: int = Field(default=12, ge=1, le=1024)
    #: partitions of ``system.*`` topics (registrations, lineage, breaker changes)
    system_partitions: int = Field(default=3, ge=1, le=1024)
    #: copies of each partition; 1 suits a single development broker, production wants 3
    replication_factor: int = Field(default=1, ge=1, le=32)
    #: topic config ``min.insync.replicas``; unset: the broker's default
    min_insync_replicas: int | None = Field(default=None, ge=1, le=32)

    @field_validator("acks", mode="before")
    @classmethod
    def _acks_text(cls, value: object) -> object:
        # YAML and the environment give ``acks: 1`` as an int or a string: accept both
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = [*self._security_problems(), *self._tuning_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _security_problems(self) -> list[str]:
        protocol = self.security_protocol
        problems = []
        if protocol.uses_sasl:
            if self.sasl_username is None or self.sasl_password is None:
                problems.append(
                    f"security_protocol {protocol.value} needs sasl_username and sasl_password"
                )
        elif self.sasl_username is not None or self.sasl_password is not None:
            problems.append(
                f"sasl_username/sasl_password are set but security_protocol {protocol.value}"
                " does not authenticate (use SASL_SSL or SASL_PLAINTEXT)"
            )
        files = {
            "ssl_cafile": self.ssl_cafile,
            "ssl_certfile": self.ssl_certfile,
            "ssl_keyfile": self.ssl_keyfile,
        }
        given = [name for name, path in files.items() if path is not None]
        if not protocol.uses_tls and (given or self.ssl_key_password is not None):
            names = ", ".join(given or ["ssl_key_password"])
            problems.append(
                f"{names} set but security_protocol {protocol.value} does not use TLS"
                " (use SSL or SASL_SSL)"
            )
        for name, path in files.items():
            if path is not None and not path.is_file():
                problems.append(f"{name} {str(path)!r} does not exist or is not a file")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            problems.append("ssl_keyfile needs ssl_certfile (the client certificate)")
        if self.ssl_key_password is not None and self.ssl_certfile is None:
            problems.append("ssl_key_password needs ssl_certfile (and the key it unlocks)")
        return problems

    def _tuning_problems(self) -> list[str]:
        problems = []
        if self.enable_idempotence and self.acks != "all":
            problems.append(
                f"enable_idempotence needs acks 'all' (got {self.acks!r}); set"
                " enable_idempotence: false to trade duplicates for latency"
            )
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            problems.append(
                f"heartbeat_interval_ms {self.heartbeat_interval_ms} must be below"
                f" session_timeout_ms {self.session_timeout_ms} (a third of it is usual)"
            )
        if self.max_partition_fetch_bytes > self.fetch_max_bytes:
            problems.append(
                f"max_partition_fetch_bytes {self.max_partition_fetch_bytes} >"
                f" fetch_max_bytes {self.fetch_max_bytes}"
            )
        if (
            self.min_insync_replicas is not None
            and self.min_insync_replicas > self.replication_factor
        ):
            problems.append(
                f"min_insync_replicas {self.min_insync_replicas} > replication_factor"
                f" {self.replication_factor}: no write with acks=all could ever succeed"
            )
        return problems

    def partitions_for(self, topic: str) -> int:
        """The partitions a topic gets when nothing more specific says (``system`` domain:
        :attr:`system_partitions`, else :attr:`domain_partitions`)."""
        return self.system_partitions if is_system_topic(topic) else self.domain_partitions


def is_system_topic(topic: str) -> bool:
    """Whether ``topic`` (``[tenant.]<domain>.<source>.<event>[.dlq]``) is in the ``system``
    domain: the domain is the third part from the end, after any ``.dlq``."""
    parts = topic.removesuffix(".dlq").split(".")
    return len(parts) >= 3 and parts[-3] == "system"
