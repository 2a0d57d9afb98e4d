"""The per-request DataLoaders on their own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from tests.unit.gateway.conftest import Shop
from tests.unit.gateway.fakes import MemoryAdapter, MemoryRegistry

from dictamesh.core.errors import QueryLimitExceeded, SourceResponseError
from dictamesh.core.models import Entity, Page, Query
from dictamesh.gateway import CONTEXT_KEY, GatewayContext, Loaders


async def test_concurrent_loads_share_one_batch(shop_fx: Shop) -> None:
    loaders = Loaders(shop_fx.registry)
    found = await asyncio.gather(
        *(loaders.entity("product").load(i) for i in ["p-1", "p-2", "p-1", "nope"])
    )
    assert [e.id if e else None for e in found] == ["p-1", "p-2", "p-1", None]
    assert shop_fx.products.batches == [["p-1", "p-2", "nope"]]


async def test_misaligned_batch_results_are_a_source_error(shop_fx: Shop) -> None:
    class Short(MemoryAdapter):
        async def get_entities(self, entity_ids: Sequence[str]) -> list[Entity | None]:
            return (await super().get_entities(entity_ids))[:-1]

    short = Short(shop_fx.products.schema, shop_fx.products.records.values())
    loaders = Loaders(MemoryRegistry([short]))
    with pytest.raises(SourceResponseError, match="returned 1 results for 2 ids"):
        await asyncio.gather(
            loaders.entity("product").load("p-1"), loaders.entity("product").load("p-2")
        )


async def test_related_loader_refuses_unbounded_fan_out(make_shop: type[Shop]) -> None:
    shop = make_shop(customers=2, invoices_per_customer=5)
    shop.invoices.page_size = 3
    loaders = Loaders(shop.registry, max_related_items=6)
    with pytest.raises(QueryLimitExceeded):
        await loaders.related("invoice", "customer_id").load_many(["c-1", "c-2"])
    loaders = Loaders(shop.registry, max_related_items=10)
    groups = await loaders.related("invoice", "customer_id").load_many(["c-1", "c-2"])
    assert [len(g) for g in groups] == [5, 5]


async def test_a_cursor_that_does_not_move_is_a_source_error(shop_fx: Shop) -> None:
    class Stuck(MemoryAdapter):
        async def query_entities(self, query: Query) -> Page:
            page = await super().query_entities(query.model_copy(update={"cursor": None}))
            return page.model_copy(update={"next_cursor": "same"})

    stuck = Stuck(shop_fx.invoices.schema, shop_fx.invoices.records.values())
    loaders = Loaders(MemoryRegistry([stuck]))
    with pytest.raises(SourceResponseError, match="same cursor twice"):
        await loaders.related("invoice", "customer_id").load("c-1")
    assert stuck.calls == {"query_entities": 2}


async def test_related_entities_prime_the_by_id_cache(shop_fx: Shop) -> None:
    loaders = Loaders(shop_fx.registry)
    [invoice, *_] = await loaders.related("invoice", "customer_id").load("c-1")
    assert await loaders.entity("invoice").load(invoice.id) == invoice
    assert shop_fx.invoices.calls == {"query_entities": 1}


async def test_a_dict_context_can_carry_the_gateway_context(shop_fx: Shop) -> None:
    result = await shop_fx.schema.execute(
        '{ product(id: "p-2") { sku } }',
        context_value={"request": None, CONTEXT_KEY: GatewayContext(shop_fx.registry)},
    )
    assert result.errors is None
    assert result.data == {"product": {"sku": "SKU-2"}}
