from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from strawberry.types import ExecutionResult
from tests.unit.gateway.fakes import MemoryAdapter, MemoryRegistry, shop

from dictamesh.gateway import GatewayContext, GatewaySchema, build_schema


class Shop:
    """Three data products, their registry, the generated schema, and a way to query it."""

    def __init__(self, **sizes: int) -> None:
        self.customers, self.invoices, self.products = shop(**sizes)
        self.registry = MemoryRegistry([self.customers, self.invoices, self.products])
        self.schema: GatewaySchema = build_schema(self.registry)

    @property
    def adapters(self) -> list[MemoryAdapter]:
        return [self.customers, self.invoices, self.products]

    def calls(self) -> dict[str, dict[str, int]]:
        return {a.entity_type: dict(a.calls) for a in self.adapters}

    async def execute(
        self, query: str, variables: Mapping[str, Any] | None = None
    ) -> ExecutionResult:
        return await self.schema.execute(
            query,
            variable_values=dict(variables) if variables else None,
            context_value=GatewayContext(self.registry),
        )


@pytest.fixture
def make_shop() -> type[Shop]:
    return Shop


@pytest.fixture
def shop_fx() -> Shop:
    return Shop()
