"""The router on Kafka: the embedded scenario (fan-out to two topics, a transform, a
dead-lettered event, a drop, order per key, resume after a stop) against a real broker,
with the idempotent producer the Kafka bus always uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.router.scenario import Names, run, settings_with

from dictamesh.events.kafka import KafkaBus
from dictamesh.node import build_bus

pytestmark = pytest.mark.kafka


async def test_router_on_kafka(
    tmp_path: Path, kafka_bus: KafkaBus, kafka_bootstrap: str, uid: str
) -> None:
    names = Names(f"rt{uid}")
    settings = settings_with(
        {
            "node_name": f"router-{uid}",
            "state_dir": str(tmp_path),
            "bus": {"backend": "kafka", "kafka_bootstrap": kafka_bootstrap},
        },
        names,
    )
    node_bus = build_bus(settings)  # what the router node writes with
    assert isinstance(node_bus, KafkaBus)
    assert node_bus.producer_config["enable_idempotence"] is True
    assert node_bus.producer_config["acks"] == "all"
    await run(settings, names, bus=kafka_bus)
