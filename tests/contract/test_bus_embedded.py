"""The bus contract against the embedded SQLite bus (on a file, and in memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dictamesh.events.bus import EventBus
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.testing.bus import InMemoryBus

from .bus_contract import BusContract


class TestEmbeddedBusContract(BusContract):
    deadline = 10.0
    quiet_period = 0.3

    @pytest.fixture
    async def bus(self, tmp_path: Path) -> AsyncIterator[EventBus]:
        async with EmbeddedBus(tmp_path / "bus.db", poll_interval=0.01) as bus:
            yield bus


class TestInMemoryBusContract(BusContract):
    deadline = 10.0
    quiet_period = 0.3

    @pytest.fixture
    async def bus(self) -> AsyncIterator[EventBus]:
        async with InMemoryBus() as bus:
            yield bus
