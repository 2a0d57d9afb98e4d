"""The bus contract against a real Apache Kafka broker (marker ``kafka``).

The broker comes from ``DICTAMESH_TEST_KAFKA_BOOTSTRAP`` (default 127.0.0.1:9092): skipped
on a developer machine without one, a failure in CI. Every contract test uses fresh topic
and group names, so it runs against a long-lived broker.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from dictamesh.core.errors import EventBusError
from dictamesh.events.bus import EventBus
from dictamesh.events.kafka import KafkaBus

from .bus_contract import BusContract

pytestmark = pytest.mark.kafka


class TestKafkaBusContract(BusContract):
    deadline = 30.0
    # Long enough for a fetch round trip (fetch_max_wait_ms is 500 ms) to show a stray message.
    quiet_period = 1.0

    @pytest.fixture
    async def bus(self, kafka_bootstrap: str) -> AsyncIterator[EventBus]:
        # topic_specs=(): don't create the mesh's default topics on the test broker.
        bus = KafkaBus(kafka_bootstrap, client_id="dictamesh-contract", topic_specs=())
        try:
            await bus.connect()
        except EventBusError as exc:
            await bus.aclose()
            message = f"Kafka broker not reachable at {kafka_bootstrap}: {exc.message}"
            if os.environ.get("CI"):
                pytest.fail(message + " — CI must run the kafka marker against a real broker")
            pytest.skip(message + ": run scripts/services.sh up")
        try:
            yield bus
        finally:
            await bus.aclose()
