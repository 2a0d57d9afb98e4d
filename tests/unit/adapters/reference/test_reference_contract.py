"""The adapter contract suite against each reference adapter and its sample source."""

from __future__ import annotations

import pytest
from tests.unit.adapters.reference.conftest import Wired

from dictamesh.adapters.base import AdapterBase
from dictamesh.testing.contract import AdapterContractSuite


class TestDirectusCustomersContract(AdapterContractSuite):
    page_size = 7

    @pytest.fixture
    async def adapter(self, customers: Wired) -> AdapterBase:
        return customers[0]

    @pytest.fixture
    def known_id(self) -> str:
        return "1"


class TestThirdPartyProductsContract(AdapterContractSuite):
    page_size = 6

    @pytest.fixture
    async def adapter(self, products_wired: Wired) -> AdapterBase:
        return products_wired[0]

    @pytest.fixture
    def known_id(self) -> str:
        return "prd_1001"


class TestEcommerceInvoicesContract(AdapterContractSuite):
    page_size = 25

    @pytest.fixture
    async def adapter(self, invoices_wired: Wired) -> AdapterBase:
        return invoices_wired[0]

    @pytest.fixture
    def known_id(self) -> str:
        return "INV-2026-00001"
