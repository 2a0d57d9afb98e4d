"""Where consumer groups start (``initial_offsets``) on the embedded bus (a file, in
memory) and on a real Kafka broker (marker ``kafka``)."""

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

from .start_offsets_contract import StartOffsetsContract


class TestEmbeddedStartOffsets(StartOffsetsContract):
    deadline = 10.0
    quiet_period = 0.3

    @pytest.fixture
    async def bus(self, tmp_path: Path) -> AsyncIterator[EventBus]:
        async with EmbeddedBus(tmp_path / "bus.db", poll_interval=0.01) as bus:
            yield bus


class TestInMemoryStartOffsets(StartOffsetsContract):
    deadline = 10.0
    quiet_period = 0.3

    @pytest.fixture
    async def bus(self) -> AsyncIterator[EventBus]:
        async with InMemoryBus() as bus:
            yield bus


@pytest.mark.kafka
class TestKafkaStartOffsets(StartOffsetsContract):
    deadline = 30.0
    # longer than a fetch round trip (fetch_max_wait_ms is 500 ms): a stray message shows
    quiet_period = 1.0

    @pytest.fixture
    async def bus(self, kafka_bootstrap: str) -> AsyncIterator[EventBus]:
        bus = KafkaBus(kafka_bootstrap, client_id="dictamesh-contract", topic_specs=(), linger_ms=0)
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
