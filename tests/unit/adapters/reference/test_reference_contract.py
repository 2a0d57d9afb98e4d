"""The adapter contract suites (reads, and writes for the writable ones) against each
reference adapter and its sample source."""

from __future__ import annotations

import pytest
from tests.unit.adapters.reference.conftest import Wired

from dictamesh.adapters.base import AdapterBase
from dictamesh.adapters.contract import WriteResult
from dictamesh.testing.contract import (
    AdapterContractSuite,
    EffectCount,
    RequestCount,
    WriteCall,
    WriteContractSuite,
)


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


class TestPaymentsGatewayContract(AdapterContractSuite):
    page_size = 5

    @pytest.fixture
    async def adapter(self, payments_wired: Wired) -> AdapterBase:
        return payments_wired[0]

    @pytest.fixture
    def known_id(self) -> str:
        return "ch_1"


# --- writes ---------------------------------------------------------------------------------


def _effects(wired: Wired, kind: str) -> EffectCount:
    async def count() -> int:
        response = await wired[0].client.get("/_admin/effects")
        counts: dict[str, int] = response.json()["counts"]
        return counts.get(kind, 0)

    return count


def _requests(wired: Wired) -> RequestCount:
    return lambda: sum(1 for r in wired[1].requests if not r.url.path.startswith("/_admin"))


class TestThirdPartyProductsWrites(WriteContractSuite):
    @pytest.fixture
    async def adapter(self, products_wired: Wired) -> AdapterBase:
        return products_wired[0]

    @pytest.fixture
    def write_call(self, adapter: AdapterBase) -> WriteCall:
        async def reserve(key: str) -> WriteResult:
            payload = {"product_id": "prd_1001", "quantity": 1}
            return await adapter.run_command("reserve", payload, idempotency_key=key)

        return reserve

    @pytest.fixture
    def effect_count(self, products_wired: Wired) -> EffectCount:
        return _effects(products_wired, "reserve")

    @pytest.fixture
    def request_count(self, products_wired: Wired) -> RequestCount:
        return _requests(products_wired)


class TestEcommerceInvoicesWrites(WriteContractSuite):
    @pytest.fixture
    async def adapter(self, invoices_wired: Wired) -> AdapterBase:
        return invoices_wired[0]

    @pytest.fixture
    def write_call(self, adapter: AdapterBase) -> WriteCall:
        async def create(key: str) -> WriteResult:
            invoice = {
                "customer_id": "3",
                "currency": "EUR",
                "items": [{"product_id": "prd_1001", "quantity": 1, "unit_price": 9.5}],
            }
            return await adapter.create_entity(invoice, idempotency_key=key)

        return create

    @pytest.fixture
    def effect_count(self, invoices_wired: Wired) -> EffectCount:
        return _effects(invoices_wired, "create_invoice")

    @pytest.fixture
    def request_count(self, invoices_wired: Wired) -> RequestCount:
        return _requests(invoices_wired)


class TestPaymentsGatewayWrites(WriteContractSuite):
    @pytest.fixture
    async def adapter(self, payments_wired: Wired) -> AdapterBase:
        return payments_wired[0]

    @pytest.fixture
    def write_call(self, adapter: AdapterBase) -> WriteCall:
        async def charge(key: str) -> WriteResult:
            payload = {
                "amount_cents": 950,
                "currency": "EUR",
                "customer_id": "3",
                "invoice_id": "INV-2026-00003",
            }
            return await adapter.run_command("charge", payload, idempotency_key=key)

        return charge

    @pytest.fixture
    def effect_count(self, payments_wired: Wired) -> EffectCount:
        return _effects(payments_wired, "charge")

    @pytest.fixture
    def request_count(self, payments_wired: Wired) -> RequestCount:
        return _requests(payments_wired)
