"""Where consumer groups start (``initial_offsets``) on the embedded bus (a file, in
memory) and on a real Kafka broker (marker ``kafka``)."""

from __future__ import annotations

import pytest

from .bus_fixtures import EmbeddedFileBus, InMemoryTestBus, KafkaBroker
from .start_offsets_contract import StartOffsetsContract


class TestEmbeddedStartOffsets(EmbeddedFileBus, StartOffsetsContract):
    pass


class TestInMemoryStartOffsets(InMemoryTestBus, StartOffsetsContract):
    pass


@pytest.mark.kafka
class TestKafkaStartOffsets(KafkaBroker, StartOffsetsContract):
    linger_ms = 0  # each start-offset case publishes a few records and waits for them
