"""The bus contract against the embedded SQLite bus (on a file, and in memory)."""

from __future__ import annotations

from .bus_contract import BusContract
from .bus_fixtures import EmbeddedFileBus, InMemoryTestBus


class TestEmbeddedBusContract(EmbeddedFileBus, BusContract):
    pass


class TestInMemoryBusContract(InMemoryTestBus, BusContract):
    pass
