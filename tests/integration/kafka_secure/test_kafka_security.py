"""KafkaBus against a broker that accepts only SCRAM-SHA-512 logins, over plaintext and TLS.

Everything a bus starts (producer, consumer group member, admin and offsets clients) must
log in with ``bus.kafka``; a wrong password or a CA that does not vouch for the broker is a
quick :class:`EventBusError` saying so; the password shows up in no message and no log.
Topics get ``bus.kafka``'s partitions (12 domain, 3 system), replication factor and
``min.insync.replicas``. librdkafka clients get the same options from ``librdkafka_config``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from dictamesh.core.bus_config import KafkaClientSettings
from dictamesh.core.errors import EventBusError
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.kafka_client import librdkafka_config
from dictamesh.events.topics import CleanupPolicy, TopicSpec
from tests.integration.kafka_secure.conftest import PASSWORD, SecureBroker
from tests.tls_support import write_ca_certificate

pytestmark = pytest.mark.kafka

WRONG = "not-the-password-4711"


def bus_for(address: str, settings: KafkaClientSettings, **extra: Any) -> KafkaBus:
    return KafkaBus(
        address,
        settings=settings,
        client_id="secure-tests",
        topic_specs=(),
        linger_ms=0,
        request_timeout_ms=10_000,
        **extra,
    )


async def round_trip(bus: KafkaBus, topic: str, group: str) -> None:
    """Publish keyed records, read them back in a consumer group, commit, check the lag."""
    await bus.ensure_topic(TopicSpec(name=topic, partitions=2))
    records = [(f"v{i}".encode(), f"k{i % 3}", {"n": str(i).encode()}) for i in range(6)]
    await bus.publish_many(topic, records)
    got = []
    async with bus.consumer(group, [topic]) as consumer:
        deadline = time.monotonic() + 20
        while len(got) < len(records) and time.monotonic() < deadline:
            got.extend(await consumer.poll(max_records=100, timeout=1.0))
        await consumer.commit_many(got)
    assert sorted(m.value for m in got) == sorted(r[0] for r in records)
    assert {m.headers["n"] for m in got} == {str(i).encode() for i in range(6)}
    assert await bus.total_lag(group, [topic]) == 0  # admin + offsets clients logged in too


async def test_scram_sha_512_over_plaintext(secure_kafka: SecureBroker, uid: str) -> None:
    async with bus_for(secure_kafka.sasl, secure_kafka.scram()) as bus:
        await round_trip(bus, f"sec.k{uid}.plain", f"g-{uid}")


async def test_scram_sha_512_over_tls_with_hostname_check(
    secure_kafka: SecureBroker, uid: str
) -> None:
    settings = secure_kafka.scram_tls(check_hostname=True)
    async with bus_for(secure_kafka.tls, settings) as bus:
        await round_trip(bus, f"sec.k{uid}.tls", f"g-{uid}")


@pytest.mark.parametrize("listener", ["sasl", "tls"])
async def test_wrong_password_is_a_quick_clear_error_without_the_password(
    secure_kafka: SecureBroker, listener: str, caplog: pytest.LogCaptureFixture
) -> None:
    if listener == "sasl":
        bus = bus_for(secure_kafka.sasl, secure_kafka.scram(password=WRONG))
    else:
        bus = bus_for(secure_kafka.tls, secure_kafka.scram_tls(password=WRONG))
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    try:
        with pytest.raises(EventBusError) as info:
            await bus.connect()
    finally:
        await bus.aclose()
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "authentication failed" in message
    assert "SCRAM-SHA-512" in message
    assert "'dictamesh'" in message
    for text in (message, repr(info.value.details), caplog.text, repr(vars(bus))):
        assert WRONG not in text


async def test_consumer_of_a_bus_with_a_wrong_password_fails_too(
    secure_kafka: SecureBroker, uid: str
) -> None:
    bus = bus_for(secure_kafka.sasl, secure_kafka.scram(password=WRONG))
    try:
        with pytest.raises(EventBusError, match="authentication failed"):
            async with bus.consumer(f"g-{uid}", [f"sec.k{uid}.x"]):
                pass
    finally:
        await bus.aclose()


async def test_a_ca_that_does_not_vouch_for_the_broker_is_refused(
    secure_kafka: SecureBroker, tmp_path: Path
) -> None:
    bus = bus_for(
        secure_kafka.tls,
        secure_kafka.scram_tls(ssl_cafile=write_ca_certificate(tmp_path / "other-ca.pem")),
    )
    started = time.monotonic()
    try:
        with pytest.raises(EventBusError, match="certificate is not trusted") as info:
            await bus.connect()
    finally:
        await bus.aclose()
    assert time.monotonic() - started < 5
    assert "ssl_cafile" in str(info.value)


async def test_plaintext_client_on_a_sasl_listener_is_told_to_check_the_protocol(
    secure_kafka: SecureBroker,
) -> None:
    bus = bus_for(secure_kafka.sasl, KafkaClientSettings())
    try:
        with pytest.raises(EventBusError, match="another security_protocol than PLAINTEXT"):
            await bus.connect()
    finally:
        await bus.aclose()


async def test_topics_get_the_partitions_replication_and_min_isr_of_bus_kafka(
    secure_kafka: SecureBroker, uid: str
) -> None:
    tenant = f"t{uid}"
    domain = TopicSpec(name=f"{tenant}.customers.directus.entity_changed")
    system = TopicSpec(
        name=f"{tenant}.system.metadata.entity_registered",
        retention_ms=None,
        cleanup_policy=CleanupPolicy.COMPACT,
    )
    explicit = TopicSpec(name=f"{tenant}.orders.shop.entity_changed", partitions=4)
    settings = secure_kafka.scram(replication_factor=1, min_insync_replicas=1)
    async with KafkaBus(
        secure_kafka.sasl, settings=settings, topic_specs=[domain, system, explicit]
    ) as bus:  # connect creates them
        assert len(await bus.partitions_for(domain.name)) == 12
        assert len(await bus.partitions_for(system.name)) == 3
        assert len(await bus.partitions_for(explicit.name)) == 4
        # first use of an unknown topic: same rule
        await bus.publish(f"{tenant}.system.lineage.relationship_created", b"{}", key="r")
        assert len(await bus.partitions_for(f"{tenant}.system.lineage.relationship_created")) == 3
        overrides = await bus.describe_topic_configs(domain.name, overrides_only=True)
        assert overrides["min.insync.replicas"] == "1"
        compacted = await bus.describe_topic_configs(system.name, overrides_only=True)
        assert compacted["cleanup.policy"] == "compact"
        assert compacted["min.insync.replicas"] == "1"

    plain = TopicSpec(name=f"{tenant}.customers.other.entity_changed")
    async with bus_for(secure_kafka.sasl, secure_kafka.scram()) as bus:
        await bus.ensure_topic(plain)
        # no bus.kafka.min_insync_replicas: the broker's default applies, nothing is set
        assert "min.insync.replicas" not in await bus.describe_topic_configs(
            plain.name, overrides_only=True
        )
        assert (await bus.describe_topic_configs(plain.name))["min.insync.replicas"] == "1"


async def test_a_replication_factor_the_cluster_cannot_meet_is_refused(
    secure_kafka: SecureBroker, uid: str
) -> None:
    settings = secure_kafka.scram(replication_factor=3, min_insync_replicas=2)
    async with bus_for(secure_kafka.sasl, settings) as bus:
        with pytest.raises(EventBusError, match="InvalidReplicationFactor"):
            await bus.ensure_topic(TopicSpec(name=f"sec.k{uid}.replicated"))


def librdkafka_round_trip(settings: KafkaClientSettings, bootstrap: str, topic: str) -> list[Any]:
    import confluent_kafka

    producer = confluent_kafka.Producer(librdkafka_config(settings, bootstrap, "producer"))
    for i in range(3):
        producer.produce(topic, value=f"r{i}".encode(), key=b"k")
    assert producer.flush(15) == 0
    config = librdkafka_config(settings, bootstrap, "consumer")
    config.update({"group.id": f"{topic}-g", "auto.offset.reset": "earliest"})
    consumer = confluent_kafka.Consumer(config)
    try:
        consumer.subscribe([topic])
        got: list[Any] = []
        deadline = time.monotonic() + 20
        while len(got) < 3 and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                got.append(message.value())
        return got
    finally:
        consumer.close()


async def test_librdkafka_clients_log_in_with_the_same_settings(
    secure_kafka: SecureBroker, uid: str
) -> None:
    pytest.importorskip("confluent_kafka")
    settings = secure_kafka.scram_tls()
    topic = f"sec.k{uid}.librdkafka"
    async with bus_for(secure_kafka.tls, settings) as bus:
        await bus.ensure_topic(TopicSpec(name=topic, partitions=1))
        got = await asyncio.to_thread(librdkafka_round_trip, settings, secure_kafka.tls, topic)
    assert got == [b"r0", b"r1", b"r2"]
    config = librdkafka_config(settings, secure_kafka.tls, "producer")
    assert config["sasl.password"] == PASSWORD  # only in the dict handed to the client
