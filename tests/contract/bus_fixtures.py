"""The buses the bus contracts run on, as mixins giving the ``bus`` fixture and timings:
a contract class (``BusContract``, ``StartOffsetsContract``) plus one of these is a test
class. Kafka is a real broker (``DICTAMESH_TEST_KAFKA_BOOTSTRAP``): skipped on a developer
machine without one, a failure in CI."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dictamesh.core.errors import EventBusError
from dictamesh.events.bus import EventBus
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.kafka import KafkaBus
from dictamesh.testing.bus import InMemoryBus


class EmbeddedFileBus:
    deadline = 10.0
    quiet_period = 0.3

    @pytest.fixture
    async def bus(self, tmp_path: Path) -> AsyncIterator[EventBus]:
        async with EmbeddedBus(tmp_path / "bus.db", poll_interval=0.01) as bus:
            yield bus


class InMemoryTestBus:
    deadline = 10.0
    quiet_period = 0.3

    @pytest.fixture
    async def bus(self) -> AsyncIterator[EventBus]:
        async with InMemoryBus() as bus:
            yield bus


class KafkaBroker:
    deadline = 30.0
    # Long enough for a fetch round trip (fetch_max_wait_ms is 500 ms) to show a stray message.
    quiet_period = 1.0
    #: producer linger; 0: every publish is sent at once
    linger_ms: int | None = None

    @pytest.fixture
    async def bus(self, kafka_bootstrap: str) -> AsyncIterator[EventBus]:
        # topic_specs=(): don't create the mesh's default topics on the test broker.
        options = {} if self.linger_ms is None else {"linger_ms": self.linger_ms}
        bus = KafkaBus(kafka_bootstrap, client_id="dictamesh-contract", topic_specs=(), **options)
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
