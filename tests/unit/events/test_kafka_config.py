"""KafkaBus configuration and topic specs, without a broker."""

from __future__ import annotations

import pytest

from dictamesh.core.errors import ValidationError
from dictamesh.events.kafka import KafkaBus, topic_configs
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
