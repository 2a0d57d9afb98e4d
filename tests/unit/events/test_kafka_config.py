"""KafkaBus configuration and topic specs, without a broker."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
from tests.tls_support import write_ca_certificate

from dictamesh.core.bus_config import KafkaClientSettings
from dictamesh.core.errors import ConfigurationError, ValidationError
from dictamesh.events.kafka import KafkaBus, topic_configs
from dictamesh.events.kafka_client import (
    aiokafka_security,
    hide_sasl_bytes_in_logs,
    librdkafka_config,
)
from dictamesh.events.topics import DEFAULT_TOPICS, CleanupPolicy, TopicSpec


def test_producer_and_consumer_defaults() -> None:
    bus = KafkaBus("127.0.0.1:9092")
    assert bus.producer_config["enable_idempotence"] is True
    assert bus.producer_config["acks"] == "all"
    assert bus.producer_config["compression_type"] in (None, "lz4")
    assert bus.consumer_config["enable_auto_commit"] is False
    assert bus.consumer_config["auto_offset_reset"] == "earliest"
    assert bus.consumer_config["isolation_level"] == "read_committed"
    assert bus.consumer_config["heartbeat_interval_ms"] < bus.consumer_config["session_timeout_ms"]


def test_overrides() -> None:
    bus = KafkaBus(
        "b:9092",
        compression_type="gzip",
        producer_config={"max_batch_size": 1024},
        consumer_config={"fetch_max_wait_ms": 100},
    )
    assert bus.producer_config["compression_type"] == "gzip"
    assert bus.producer_config["max_batch_size"] == 1024
    assert bus.consumer_config["fetch_max_wait_ms"] == 100


def test_topic_configs_from_spec() -> None:
    assert topic_configs(TopicSpec(name="a.b.c", retention_ms=1000)) == {
        "retention.ms": "1000",
        "cleanup.policy": "delete",
    }
    compacted = TopicSpec(name="a.b.c", retention_ms=None, cleanup_policy=CleanupPolicy.COMPACT)
    assert topic_configs(compacted) == {"retention.ms": "-1", "cleanup.policy": "compact"}


def test_spec_for_known_dlq_and_unknown_topics() -> None:
    bus = KafkaBus("b:9092")
    known = DEFAULT_TOPICS[0]
    assert bus.spec_for(known.name) == known.model_copy(update={"partitions": 12})
    compacted = next(s for s in DEFAULT_TOPICS if s.cleanup_policy is CleanupPolicy.COMPACT)
    dlq = bus.spec_for(compacted.name + ".dlq")
    assert dlq is not None
    assert dlq.partitions == 3  # a system topic's
    assert dlq.cleanup_policy is CleanupPolicy.DELETE  # never compact poison messages away
    assert bus.spec_for("x.y.z") == TopicSpec(name="x.y.z", partitions=12)
    assert bus.spec_for("Not A Mesh Topic") is None


def test_consumer_arguments_are_validated() -> None:
    bus = KafkaBus("b:9092")
    with pytest.raises(ValidationError):
        bus.consumer("", ["a.b.c"])
    with pytest.raises(ValidationError):
        bus.consumer("g", [])
    with pytest.raises(ValidationError):
        bus.consumer("g", "a.b.c")


def test_missing_aiokafka_is_a_missing_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from dictamesh.core.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "aiokafka", None)  # makes `import aiokafka` fail
    with pytest.raises(MissingDependencyError, match=r"dictamesh\[kafka\]"):
        KafkaBus("b:9092")


# -- bus.kafka (KafkaClientSettings) -------------------------------------------------------


def test_bus_kafka_tuning_reaches_producer_and_consumer_configs() -> None:
    settings = KafkaClientSettings(
        linger_ms=20,
        max_batch_size=65_536,
        max_request_size=2_097_152,
        compression_type="gzip",
        request_timeout_ms=15_000,
        delivery_timeout_ms=9_000,
        max_poll_records=50,
        fetch_max_bytes=10_485_760,
        max_partition_fetch_bytes=2_097_152,
        session_timeout_ms=45_000,
        heartbeat_interval_ms=3_000,
        max_poll_interval_ms=600_000,
    )
    bus = KafkaBus("b:9092", settings=settings)
    assert {k: bus.producer_config[k] for k in _PRODUCER} == {
        "linger_ms": 20,
        "max_batch_size": 65_536,
        "max_request_size": 2_097_152,
        "compression_type": "gzip",
        "request_timeout_ms": 15_000,
        "acks": "all",
        "enable_idempotence": True,
    }
    assert {k: bus.consumer_config[k] for k in _CONSUMER} == {
        "max_poll_records": 50,
        "fetch_max_bytes": 10_485_760,
        "max_partition_fetch_bytes": 2_097_152,
        "session_timeout_ms": 45_000,
        "heartbeat_interval_ms": 3_000,
        "max_poll_interval_ms": 600_000,
        "request_timeout_ms": 15_000,
    }
    assert bus.delivery_timeout_ms == 9_000


_PRODUCER = (
    "linger_ms",
    "max_batch_size",
    "max_request_size",
    "compression_type",
    "request_timeout_ms",
    "acks",
    "enable_idempotence",
)
_CONSUMER = (
    "max_poll_records",
    "fetch_max_bytes",
    "max_partition_fetch_bytes",
    "session_timeout_ms",
    "heartbeat_interval_ms",
    "max_poll_interval_ms",
    "request_timeout_ms",
)


def test_acks_one_without_idempotence_is_an_int_for_aiokafka() -> None:
    bus = KafkaBus("b:9092", settings=KafkaClientSettings(acks="1", enable_idempotence=False))
    assert (bus.producer_config["acks"], bus.producer_config["enable_idempotence"]) == (1, False)


def test_keyword_overrides_are_checked_with_the_settings() -> None:
    assert KafkaBus("b:9092", linger_ms=0).settings.linger_ms == 0
    with pytest.raises(ConfigurationError, match="must be below session_timeout_ms"):
        KafkaBus("b:9092", heartbeat_interval_ms=20_000)
    with pytest.raises(ConfigurationError, match="delivery_timeout_ms"):
        KafkaBus("b:9092", delivery_timeout_ms=0)


def test_compression_needs_its_codec() -> None:
    from aiokafka import codec

    assert KafkaBus("b:9092", compression_type="none").producer_config["compression_type"] is None
    if not codec.has_zstd():
        with pytest.raises(ConfigurationError, match="cramjam"):
            KafkaBus("b:9092", settings=KafkaClientSettings(compression_type="zstd"))


def test_domain_topics_get_12_partitions_system_topics_3_explicit_wins() -> None:
    bus = KafkaBus("b:9092", settings=KafkaClientSettings(replication_factor=3))
    by_name = {s.name: bus.spec_for(s.name) for s in DEFAULT_TOPICS}
    for name, spec in by_name.items():
        assert spec is not None
        assert spec.partitions == (3 if name.startswith("system.") else 12), name
        assert spec.replication_factor == 3
    assert bus.spec_for("acme.system.lineage.relationship_created").partitions == 3  # type: ignore[union-attr]
    assert bus.spec_for("acme.orders.shop.entity_changed").partitions == 12  # type: ignore[union-attr]
    explicit = TopicSpec(name="a.b.c", partitions=2, replication_factor=1)
    assert bus._resolve(explicit) == explicit
    custom = KafkaBus("b:9092", settings=KafkaClientSettings(domain_partitions=6))
    assert custom.spec_for("a.b.c").partitions == 6  # type: ignore[union-attr]


def test_the_embedded_bus_keeps_its_three_partitions() -> None:
    # TopicSpec's own default is the embedded bus's; only KafkaBus applies bus.kafka's
    assert TopicSpec(name="customers.directus.entity_changed").partitions == 3
    assert all(s.partitions == 3 for s in DEFAULT_TOPICS)


def test_min_insync_replicas_is_a_topic_config_unless_the_spec_has_one() -> None:
    spec = TopicSpec(name="a.b.c")
    assert "min.insync.replicas" not in topic_configs(spec)
    assert topic_configs(spec, min_insync_replicas=2)["min.insync.replicas"] == "2"

    own = TopicSpec(name="a.b.c", replication_factor=3, min_insync_replicas=3)  # bus.topics
    assert topic_configs(own, min_insync_replicas=2)["min.insync.replicas"] == "3"


def test_sasl_password_is_only_in_the_options_handed_to_a_client() -> None:
    secret = "never-printed-0815"
    settings = KafkaClientSettings(
        security_protocol="SASL_PLAINTEXT", sasl_username="mesh", sasl_password=secret
    )
    bus = KafkaBus("b:9092", settings=settings)
    for text in (repr(vars(bus)), repr(bus.settings), str(bus.producer_config)):
        assert secret not in text
    options = aiokafka_security(settings)
    assert options == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "mesh",
        "sasl_plain_password": secret,
    }


def test_tls_context_from_the_files(tmp_path: Path) -> None:
    ca = write_ca_certificate(tmp_path / "ca.pem")
    settings = KafkaClientSettings(security_protocol="SSL", ssl_cafile=ca, check_hostname=False)
    context = aiokafka_security(settings)["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is False
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert len(context.get_ca_certs()) == 1


def test_unreadable_tls_files_are_a_configuration_error_without_the_key_password(
    tmp_path: Path,
) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    settings = KafkaClientSettings(
        security_protocol="SSL", ssl_certfile=cert, ssl_key_password="key-pass-4711"
    )
    with pytest.raises(ConfigurationError, match="cannot load the TLS files") as info:
        KafkaBus("b:9092", settings=settings)
    assert "key-pass-4711" not in str(info.value)
    assert info.value.__cause__ is None


def test_librdkafka_config_mirrors_bus_kafka(tmp_path: Path) -> None:
    ca = write_ca_certificate(tmp_path / "ca.pem")
    settings = KafkaClientSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="mesh",
        sasl_password="pw",
        ssl_cafile=ca,
        linger_ms=7,
        max_poll_interval_ms=120_000,
    )
    admin = librdkafka_config(settings, "k:9093")
    assert admin == {
        "bootstrap.servers": "k:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "mesh",
        "sasl.password": "pw",
        "ssl.ca.location": str(ca),
        "ssl.endpoint.identification.algorithm": "https",
    }
    producer = librdkafka_config(settings, "k:9093", "producer")
    assert (producer["linger.ms"], producer["acks"], producer["enable.idempotence"]) == (
        7,
        "all",
        True,
    )
    assert producer["partitioner"] == "murmur2_random"
    assert librdkafka_config(settings, "k:9093", "consumer")["max.poll.interval.ms"] == 120_000


def test_aiokafka_debug_logs_of_sasl_requests_hide_the_payload(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aiokafka.protocol.admin import SaslAuthenticateRequest_v1

    hide_sasl_bytes_in_logs()
    caplog.set_level(logging.DEBUG, logger="aiokafka.conn")
    request = SaslAuthenticateRequest_v1(b"\x00mesh\x00plain-pass-99")
    logging.getLogger("aiokafka.conn").debug("Request to %s:%d %d: %s", "h", 1, 4, request)
    assert "plain-pass-99" not in caplog.text
    assert "sasl_auth_bytes=<hidden>" in caplog.text


def test_the_node_builds_its_kafka_bus_with_bus_kafka() -> None:
    from dictamesh.core.settings import BusSettings
    from dictamesh.events.registry import build_bus

    kafka = KafkaClientSettings(domain_partitions=24, linger_ms=11)
    bus = build_bus(BusSettings(backend="kafka", kafka=kafka), node_name="node-7")
    assert isinstance(bus, KafkaBus)
    assert bus.settings == kafka
    assert bus.producer_config["linger_ms"] == 11
    assert bus.spec_for("a.b.c").partitions == 24  # type: ignore[union-attr]
    assert bus.client_id == "node-7"
