"""``bus.kafka`` (KafkaClientSettings): combinations refused at load, env overrides, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from dictamesh.core.bus_config import (
    KafkaClientSettings,
    SaslMechanism,
    SecurityProtocol,
    is_system_topic,
)
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import DictaMeshSettings

PASSWORD = "pa55-w0rd-never-shown"


def load(tmp_path: Path, kafka_yaml: str) -> DictaMeshSettings:
    config = tmp_path / "mesh.yaml"
    config.write_text("bus:\n  backend: kafka\n  kafka:\n" + kafka_yaml)
    return DictaMeshSettings.from_yaml(config)


def refused(tmp_path: Path, kafka_yaml: str) -> str:
    with pytest.raises(ConfigurationError) as info:
        load(tmp_path, kafka_yaml)
    message = str(info.value)
    assert PASSWORD not in message
    assert PASSWORD not in repr(info.value.__cause__)
    return message


def test_defaults_are_the_designs() -> None:
    kafka = DictaMeshSettings().bus.kafka
    assert kafka.security_protocol is SecurityProtocol.PLAINTEXT
    assert kafka.sasl_mechanism is SaslMechanism.SCRAM_SHA_512
    assert (kafka.acks, kafka.enable_idempotence) == ("all", True)
    assert kafka.partitions_for("customers.directus.entity_changed") == 12
    assert kafka.partitions_for("system.metadata.entity_registered") == 3
    assert kafka.replication_factor == 1
    assert kafka.min_insync_replicas is None


def test_system_topics_are_told_by_their_domain_tenant_and_dlq_included() -> None:
    assert is_system_topic("system.lineage.relationship_created")
    assert is_system_topic("acme.system.metadata.entity_registered")
    assert is_system_topic("system.adapters.breaker_changed.dlq")
    assert not is_system_topic("customers.directus.entity_changed")
    assert not is_system_topic("system.customers.directus.entity_changed")  # tenant "system"
    assert not is_system_topic("customers.system.entity_changed")


def test_sasl_ssl_from_yaml_with_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read at load, only checked to exist")
    monkeypatch.setenv("DICTAMESH_BUS__KAFKA__SASL_PASSWORD", PASSWORD)
    settings = load(
        tmp_path,
        f"    security_protocol: SASL_SSL\n    sasl_username: mesh\n"
        f"    sasl_password: from-the-file\n    ssl_cafile: {ca}\n    acks: all\n",
    )
    kafka = settings.bus.kafka
    assert kafka.sasl_password is not None
    assert kafka.sasl_password.get_secret_value() == PASSWORD  # the environment wins
    assert kafka.ssl_cafile == ca
    for text in (repr(settings), str(settings), repr(kafka), kafka.model_dump_json()):
        assert PASSWORD not in text


def test_acks_one_from_yaml_is_accepted_without_idempotence(tmp_path: Path) -> None:
    kafka = load(tmp_path, "    acks: 1\n    enable_idempotence: false\n").bus.kafka
    assert kafka.acks == "1"


@pytest.mark.parametrize(
    ("kafka_yaml", "expected"),
    [
        ("    security_protocol: SASL_SSL\n", "needs sasl_username and sasl_password"),
        (
            "    security_protocol: SASL_PLAINTEXT\n    sasl_username: u\n",
            "needs sasl_username and sasl_password",
        ),
        (
            f"    sasl_username: u\n    sasl_password: {PASSWORD}\n",
            "security_protocol PLAINTEXT does not authenticate",
        ),
        ("    ssl_cafile: /etc/hosts\n", "security_protocol PLAINTEXT does not use TLS"),
        ("    security_protocol: SSL\n    ssl_cafile: /nonexistent/ca.pem\n", "does not exist"),
        (
            "    security_protocol: SSL\n    ssl_keyfile: /etc/hosts\n",
            "ssl_keyfile needs ssl_certfile",
        ),
        (
            f"    security_protocol: SSL\n    ssl_key_password: {PASSWORD}\n",
            "ssl_key_password needs ssl_certfile",
        ),
        ("    sasl_mechanism: GSSAPI\n", "sasl_mechanism"),
        ("    security_protocol: TLS\n", "security_protocol"),
        ("    acks: 1\n", "enable_idempotence needs acks 'all'"),
        ("    heartbeat_interval_ms: 10000\n", "must be below session_timeout_ms"),
        ("    max_partition_fetch_bytes: 99999999\n", "> fetch_max_bytes"),
        ("    min_insync_replicas: 2\n", "min_insync_replicas 2 > replication_factor 1"),
        ("    replication_factor: 0\n", "replication_factor"),
        ("    compression_type: brotli\n", "compression_type"),
        ("    partitions: 12\n", "Extra inputs are not permitted"),
    ],
)
def test_combinations_that_cannot_work_are_refused_at_load(
    tmp_path: Path, kafka_yaml: str, expected: str
) -> None:
    message = refused(tmp_path, kafka_yaml)
    assert "bus.kafka" in message
    assert expected in message
    assert "line " in message  # names where in mesh.yaml


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as info:
        KafkaClientSettings(
            security_protocol=SecurityProtocol.SASL_SSL,
            acks="0",
            replication_factor=1,
            min_insync_replicas=3,
        )
    message = str(info.value)
    for part in ("sasl_username", "acks", "min_insync_replicas 3"):
        assert part in message


def test_environment_alone_configures_scram(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICTAMESH_BUS__KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("DICTAMESH_BUS__KAFKA__SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("DICTAMESH_BUS__KAFKA__SASL_USERNAME", "mesh")
    monkeypatch.setenv("DICTAMESH_BUS__KAFKA__SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("DICTAMESH_BUS__KAFKA__DOMAIN_PARTITIONS", "24")
    kafka = DictaMeshSettings().bus.kafka
    assert kafka.sasl_mechanism is SaslMechanism.SCRAM_SHA_256
    assert kafka.partitions_for("a.b.c") == 24
    assert PASSWORD not in repr(kafka)
