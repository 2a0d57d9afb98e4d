from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.unit.api.catalog_fake import FakeCatalog
from tests.unit.gateway.fakes import MemoryAdapter, MemoryRegistry, shop

from dictamesh.api import ApiContext, create_app


class Node:
    """A test node: three data products, a catalog, and the app over them."""

    def __init__(self, **overrides: Any) -> None:
        self.customers, self.invoices, self.products = shop()
        self.registry = MemoryRegistry([self.customers, self.invoices, self.products])
        self.catalog = FakeCatalog.from_adapters(self.adapters)
        self.ctx = ApiContext(
            registry=self.registry, catalog=self.catalog, version="9.9.9", **overrides
        )
        self.app = create_app(self.ctx)

    @property
    def adapters(self) -> list[MemoryAdapter]:
        return [self.customers, self.invoices, self.products]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )


@pytest.fixture
def node() -> Node:
    return Node()


@pytest.fixture
async def client(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async with node.client() as http:
        yield http
