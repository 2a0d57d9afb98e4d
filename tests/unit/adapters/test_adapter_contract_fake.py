"""The adapter contract suite, run against FakeAdapter (and so against AdapterBase)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.unit.adapters.conftest import RECORDS

from dictamesh.testing.adapters import FakeAdapter
from dictamesh.testing.contract import AdapterContractSuite


class TestFakeAdapterContract(AdapterContractSuite):
    @pytest.fixture
    async def adapter(self) -> AsyncIterator[FakeAdapter]:
        async with FakeAdapter(records=RECORDS) as adapter:
            yield adapter

    @pytest.fixture
    def known_id(self) -> str:
        return "w-3"
