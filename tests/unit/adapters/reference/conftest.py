"""Reference adapters wired to the sample source apps in-process (httpx ASGITransport)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from dictamesh.adapters.base import AdapterBase
from dictamesh.adapters.reference.customers_directus import DirectusCustomersAdapter
from dictamesh.adapters.reference.invoices_ecommerce import EcommerceInvoicesAdapter
from dictamesh.adapters.reference.payments_gateway import PaymentsGatewayAdapter
from dictamesh.adapters.reference.products_rest import ThirdPartyProductsAdapter
from dictamesh.core.settings import AdapterConfig
from dictamesh.sources import directus, invoices, payments, products
from dictamesh.sources._store import RecordStore


class Counting(httpx.AsyncBaseTransport):
    """ASGITransport that remembers every request it carried."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


def _config(name: str) -> AdapterConfig:
    return AdapterConfig(
        name=name,
        kind=name,
        base_url="http://source",
        poll_interval_seconds=None,
        resilience={"max_attempts": 1, "timeout_seconds": 2},
    )


Wired = tuple[AdapterBase, Counting, RecordStore]


async def _wire(
    cls: type[AdapterBase], name: str, app: Any, headers: dict[str, str]
) -> AsyncIterator[Wired]:
    transport = Counting(app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://source", headers=headers) as client,
        cls(_config(name), client=client) as adapter,
    ):
        yield adapter, transport, app.state.store


@pytest.fixture
async def customers() -> AsyncIterator[Wired]:
    app = directus.create_app()
    async for wired in _wire(
        DirectusCustomersAdapter,
        "customers_directus",
        app,
        {"Authorization": f"Bearer {directus.DEFAULT_TOKEN}"},
    ):
        yield wired


@pytest.fixture
async def products_wired() -> AsyncIterator[Wired]:
    app = products.create_app(rate_limit=None)
    async for wired in _wire(
        ThirdPartyProductsAdapter, "products_rest", app, {"X-API-Key": products.DEFAULT_API_KEY}
    ):
        yield wired


@pytest.fixture
async def invoices_wired() -> AsyncIterator[Wired]:
    app = invoices.create_app()
    async for wired in _wire(
        EcommerceInvoicesAdapter,
        "invoices_ecommerce",
        app,
        {"Authorization": f"Bearer {invoices.DEFAULT_TOKEN}"},
    ):
        yield wired


@pytest.fixture
async def payments_wired() -> AsyncIterator[Wired]:
    app = payments.create_app()
    async for wired in _wire(
        PaymentsGatewayAdapter,
        "payments_gateway",
        app,
        {"Authorization": f"Bearer {payments.DEFAULT_TOKEN}"},
    ):
        yield wired


ListRequests = Callable[[Counting], list[httpx.Request]]
