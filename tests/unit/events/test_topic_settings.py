"""``bus.topics`` applied to the topics the buses and the publisher create."""

from __future__ import annotations

from pathlib import Path

import pytest

from dictamesh.core.bus_config import TopicSettings
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import BusSettings
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.kafka import KafkaBus, topic_configs
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.registry import build_bus
from dictamesh.events.topics import (
    DEFAULT_TOPICS,
    CleanupPolicy,
    TopicSpec,
    apply_topic_settings,
    base_topic,
    configured_spec,
)

DAY_MS = 24 * 3600 * 1000
SPEC = TopicSpec(name="customers.directus.entity_changed", retention_ms=30 * DAY_MS)


def entry(**fields: object) -> TopicSettings:
    return TopicSettings.model_validate({"name": "customers.*", **fields})


def test_unset_fields_keep_the_spec() -> None:
    assert apply_topic_settings(SPEC, None) is SPEC
    assert apply_topic_settings(SPEC, entry(envelope="debezium", cloudevents=True)) is SPEC


def test_every_field_overrides() -> None:
    got = apply_topic_settings(
        SPEC,
        entry(
            partitions=12,
            replication_factor=3,
            min_insync_replicas=2,
            retention="12h",
            cleanup_policy="compact",
        ),
    )
    assert got == TopicSpec(
        name=SPEC.name,
        partitions=12,
        replication_factor=3,
        min_insync_replicas=2,
        retention_ms=12 * 3600 * 1000,
        cleanup_policy=CleanupPolicy.COMPACT,
    )
    assert topic_configs(got) == {
        "retention.ms": str(12 * 3600 * 1000),
        "cleanup.policy": "compact",
        "min.insync.replicas": "2",
    }
    assert "min.insync.replicas" not in topic_configs(SPEC)


def test_forever_keeps_everything() -> None:
    got = apply_topic_settings(SPEC, entry(retention="forever"))
    assert got.retention_ms is None
    assert topic_configs(got)["retention.ms"] == "-1"


def test_a_min_isr_above_the_replication_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"customers\.\*.*replication_factor 1"):
        apply_topic_settings(SPEC, entry(min_insync_replicas=2))
    with pytest.raises(ValueError, match="no write could be acknowledged"):
        TopicSpec(name=SPEC.name, min_insync_replicas=3, replication_factor=2)


def test_dlq_takes_its_base_entry_but_is_never_compacted() -> None:
    dlq = TopicSpec(name=f"{SPEC.name}.dlq")
    got = configured_spec(dlq, [entry(partitions=6, cleanup_policy="compact")])
    assert (got.partitions, got.cleanup_policy) == (6, CleanupPolicy.DELETE)


def test_first_match_on_the_name_without_tenant_prefix() -> None:
    entries = [
        TopicSettings(name="customers.directus.*", partitions=4),
        TopicSettings(name="customers.*", partitions=8),
        TopicSettings(name="system.*", partitions=3, cleanup_policy="compact"),
    ]
    acme = TopicSpec(name=f"acme.{SPEC.name}")
    assert configured_spec(acme, entries).partitions == 4
    other = TopicSpec(name="customers.crm.entity_changed")
    assert configured_spec(other, entries).partitions == 8
    saga = TopicSpec(name="system.saga.started")
    assert configured_spec(saga, entries).cleanup_policy is CleanupPolicy.COMPACT
    unmatched = TopicSpec(name="orders.shop.entity_changed")
    assert configured_spec(unmatched, entries) is unmatched
    assert base_topic("acme.a.b.c.dlq") == "a.b.c"
    assert base_topic("a.b.c") == "a.b.c"


async def test_embedded_bus_creates_topics_as_configured(tmp_path: Path) -> None:
    settings = BusSettings(
        path=tmp_path / "bus.sqlite3",
        topics=[
            TopicSettings(name="customers.*", partitions=5, retention="forever"),
            TopicSettings(name="orders.*", cleanup_policy="compact"),
        ],
    )
    bus = build_bus(settings, node_name="n")
    assert isinstance(bus, EmbeddedBus)
    async with bus:
        await bus.ensure_topic(SPEC)  # an explicit spec is overridden too
        await bus.publish("orders.shop.entity_changed", b"x", key="k")  # auto-created
        topics = await bus.topics()
    assert (topics[SPEC.name].partitions, topics[SPEC.name].retention_ms) == (5, None)
    assert topics["orders.shop.entity_changed"].cleanup_policy is CleanupPolicy.COMPACT


def test_kafka_bus_specs_follow_the_settings() -> None:
    bus = KafkaBus(
        "127.0.0.1:1",
        topic_settings=[
            TopicSettings(name="system.*", partitions=3, replication_factor=1),
            TopicSettings(name="customers.*", partitions=12, min_insync_replicas=1),
        ],
    )
    lineage = bus.spec_for("system.lineage.relationship_created")
    assert lineage is not None
    assert (lineage.partitions, lineage.cleanup_policy) == (3, CleanupPolicy.COMPACT)
    customers = bus.spec_for(SPEC.name)
    assert customers is not None
    assert (customers.partitions, customers.min_insync_replicas) == (12, 1)
    assert customers.retention_ms == 30 * DAY_MS  # the built-in retention stays
    dlq = bus.spec_for(f"{SPEC.name}.dlq")
    assert dlq is not None
    assert (dlq.partitions, dlq.min_insync_replicas) == (12, 1)
    unknown = bus.spec_for("customers.crm.entity_changed")
    assert unknown is not None
    assert unknown.partitions == 12
    built = build_bus(
        BusSettings(backend="kafka", topics=[TopicSettings(name="x.*", partitions=2)]),
        node_name="n",
    )
    assert isinstance(built, KafkaBus)
    assert built.topic_settings == (TopicSettings(name="x.*", partitions=2),)


def test_publisher_spec_for_applies_the_settings() -> None:
    publisher = EventPublisher(
        EmbeddedBus(),
        topic_settings=[TopicSettings(name="customers.*", partitions=7)],
        tenant_topics=True,
    )
    assert publisher.spec_for(f"acme.{SPEC.name}").partitions == 7
    assert publisher.spec_for(f"acme.{SPEC.name}").retention_ms == 30 * DAY_MS
    assert publisher.spec_for("products.thirdparty.entity_changed") == next(
        s for s in DEFAULT_TOPICS if s.name == "products.thirdparty.entity_changed"
    )
