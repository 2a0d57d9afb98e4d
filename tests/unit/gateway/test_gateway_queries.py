"""Query results across data products, and what they cost in adapter calls."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.gateway.conftest import Shop
from tests.unit.gateway.fakes import MemoryAdapter, MemoryRegistry

from dictamesh.core.models import (
    MAX_QUERY_LIMIT,
    EntitySchema,
    FieldFilter,
    FieldSpec,
    FieldType,
    FilterOp,
    RelationshipSpec,
    SortSpec,
)
from dictamesh.gateway import GatewayContext, build_schema

CROSS_DOMAIN = """
{ customers(limit: 10) { items {
    name
    invoices { invoiceNumber items { quantity product { sku name } } }
} } }
"""


def expected_cross_domain(shop: Shop, limit: int) -> dict[str, Any]:
    """The answer computed straight from the fake sources' records."""
    products = shop.products.records
    items = []
    for customer in list(shop.customers.records.values())[:limit]:
        invoices = [
            inv for inv in shop.invoices.records.values() if inv["customer_id"] == customer["id"]
        ]
        items.append(
            {
                "name": customer["name"],
                "invoices": [
                    {
                        "invoiceNumber": inv["invoice_number"],
                        "items": [
                            {
                                "quantity": it["quantity"],
                                "product": {
                                    "sku": products[it["product_id"]]["sku"],
                                    "name": products[it["product_id"]]["name"],
                                },
                            }
                            for it in inv["items"]
                        ],
                    }
                    for inv in invoices
                ],
            }
        )
    return {"customers": {"items": items}}


@pytest.mark.parametrize(
    ("customers", "invoices_per_customer", "items_per_invoice", "products"),
    [(3, 2, 3, 4), (10, 7, 5, 30), (1, 0, 0, 1), (25, 3, 12, 200)],
)
async def test_cross_domain_query_costs_one_call_per_data_product(
    make_shop: type[Shop],
    customers: int,
    invoices_per_customer: int,
    items_per_invoice: int,
    products: int,
) -> None:
    shop = make_shop(
        customers=customers,
        invoices_per_customer=invoices_per_customer,
        items_per_invoice=items_per_invoice,
        products=products,
    )
    result = await shop.execute(CROSS_DOMAIN)
    assert result.errors is None
    assert result.data == expected_cross_domain(shop, limit=10)
    # 1 customers query + 1 invoices query + 1 products batch, however many rows
    expected_products = {"get_entities": 1} if items_per_invoice else {}
    expected_invoices = {"query_entities": 1}
    assert shop.calls() == {
        "customer": {"query_entities": 1},
        "invoice": expected_invoices,
        "product": expected_products,
    }


async def test_the_batched_calls_carry_every_key_once(shop_fx: Shop) -> None:
    await shop_fx.execute(CROSS_DOMAIN)
    [invoice_query] = shop_fx.invoices.queries
    assert invoice_query.filters == [
        FieldFilter(field="customer_id", op=FilterOp.IN, value=["c-1", "c-2", "c-3"])
    ]
    assert invoice_query.limit == MAX_QUERY_LIMIT
    [batch] = shop_fx.products.batches
    assert sorted(batch) == ["p-1", "p-2", "p-3", "p-4"]  # deduplicated


async def test_entities_already_fetched_are_not_fetched_again(shop_fx: Shop) -> None:
    result = await shop_fx.execute(
        "{ customers { items { id invoices { customer { id name } } } } }"
    )
    assert result.errors is None
    for customer in result.data["customers"]["items"]:  # type: ignore[index]
        assert {inv["customer"]["id"] for inv in customer["invoices"]} == {customer["id"]}
    # invoice.customer is served from the customers the page query already returned
    assert shop_fx.calls() == {
        "customer": {"query_entities": 1},
        "invoice": {"query_entities": 1},
        "product": {},
    }


async def test_forward_relationship_batches_by_id(shop_fx: Shop) -> None:
    result = await shop_fx.execute("{ invoices { items { invoiceNumber customer { name } } } }")
    assert result.errors is None
    names = {i["invoiceNumber"]: i["customer"]["name"] for i in result.data["invoices"]["items"]}  # type: ignore[index]
    assert names["INV-002-1"] == "Customer 2"
    assert shop_fx.customers.calls == {"get_entities": 1}
    assert sorted(shop_fx.customers.batches[0]) == ["c-1", "c-2", "c-3"]


async def test_by_id_returns_null_without_error_when_missing(shop_fx: Shop) -> None:
    result = await shop_fx.execute(
        '{ a: customer(id: "c-1") { id name } b: customer(id: "c-404") { name }'
        '  c: customer(id: "c-2") { vip } }'
    )
    assert result.errors is None
    assert result.data == {"a": {"id": "c-1", "name": "Customer 1"}, "b": None, "c": {"vip": False}}
    assert shop_fx.customers.calls == {"get_entities": 1}  # three root fields, one batch
    assert shop_fx.customers.batches == [["c-1", "c-404", "c-2"]]


async def test_scalar_conversions(shop_fx: Shop) -> None:
    result = await shop_fx.execute(
        '{ customer(id: "c-2") { createdAt tags preferences }'
        '  invoice(id: "inv-1-1") { issuedOn total } }'
    )
    assert result.errors is None
    assert result.data == {
        "customer": {
            "createdAt": "2024-01-03T10:00:00+00:00",
            "tags": ["a", "t2"],
            "preferences": {"newsletter": True},
        },
        "invoice": {"issuedOn": "2024-03-01", "total": 99.5},
    }


async def test_filters_sort_and_total(shop_fx: Shop) -> None:
    result = await shop_fx.execute(
        '{ customers(filter: [{field: "country", value: "DE"}],'
        '            sort: [{field: "createdAt", descending: true}]) {'
        "  items { id country } total nextCursor } }"
    )
    assert result.errors is None
    assert result.data == {
        "customers": {
            "items": [{"id": "c-3", "country": "DE"}, {"id": "c-1", "country": "DE"}],
            "total": 2,
            "nextCursor": None,
        }
    }
    [query] = shop_fx.customers.queries
    assert query.filters == [FieldFilter(field="country", value="DE")]
    assert query.sort == [SortSpec(field="created_at", descending=True)]  # camelCase mapped
    assert query.limit == 50


async def test_filter_on_camel_case_field_with_in_operator(shop_fx: Shop) -> None:
    result = await shop_fx.execute(
        'query($ids: JSON!) { invoices(filter: [{field: "customerId", op: IN, value: $ids}]) {'
        "  items { id } } }",
        {"ids": ["c-2", "c-3"]},
    )
    assert result.errors is None
    ids = [i["id"] for i in result.data["invoices"]["items"]]  # type: ignore[index]
    assert ids == ["inv-2-1", "inv-2-2", "inv-3-1", "inv-3-2"]
    assert shop_fx.invoices.queries[0].filters == [
        FieldFilter(field="customer_id", op=FilterOp.IN, value=["c-2", "c-3"])
    ]


async def test_id_filter_selects_by_ids(shop_fx: Shop) -> None:
    result = await shop_fx.execute(
        '{ products(filter: [{field: "id", op: IN, value: ["p-2", "p-4"]}]) { items { sku } } }'
    )
    assert result.errors is None
    assert result.data == {"products": {"items": [{"sku": "SKU-2"}, {"sku": "SKU-4"}]}}
    assert shop_fx.products.queries[0].ids == ["p-2", "p-4"]
    assert shop_fx.products.queries[0].filters == []


async def test_cursor_pagination(shop_fx: Shop) -> None:
    query = "query($c: String) { products(limit: 3, cursor: $c) { items { id } nextCursor } }"
    first = await shop_fx.execute(query)
    page = first.data["products"]  # type: ignore[index]
    assert [p["id"] for p in page["items"]] == ["p-1", "p-2", "p-3"]
    assert page["nextCursor"]
    second = await shop_fx.execute(query, {"c": page["nextCursor"]})
    assert second.data == {"products": {"items": [{"id": "p-4"}], "nextCursor": None}}


async def test_entity_types(shop_fx: Shop) -> None:
    result = await shop_fx.execute("{ entityTypes }")
    assert result.data == {"entityTypes": ["customer", "invoice", "product"]}


async def test_inverse_loader_follows_next_cursor(make_shop: type[Shop]) -> None:
    shop = make_shop(customers=4, invoices_per_customer=3)
    shop.invoices.page_size = 5  # the source caps pages below the loader's limit
    result = await shop.execute("{ customers { items { id invoices { id } } } }")
    assert result.errors is None
    for customer in result.data["customers"]["items"]:  # type: ignore[index]
        assert len(customer["invoices"]) == 3
    assert shop.invoices.calls == {"query_entities": 3}  # 12 invoices, pages of 5
    assert [q.cursor for q in shop.invoices.queries] == [None, "5", "10"]


async def test_integer_via_fields_are_filtered_with_integers() -> None:
    team = EntitySchema(
        entity_type="team", domain="org", fields=[FieldSpec(name="title", type=FieldType.STRING)]
    )
    member = EntitySchema(
        entity_type="member",
        domain="org",
        fields=[FieldSpec(name="team_id", type=FieldType.INTEGER)],
        relationships=[
            RelationshipSpec(
                name="team", target_type="team", via_field="team_id", inverse="members"
            )
        ],
    )
    teams = MemoryAdapter(team, [{"id": "7", "title": "core"}, {"id": "8", "title": "ops"}])
    members = MemoryAdapter(
        member,
        [{"id": "m-1", "team_id": 7}, {"id": "m-2", "team_id": 8}, {"id": "m-3", "team_id": 7}],
    )
    registry = MemoryRegistry([teams, members])
    result = await build_schema(registry).execute(
        "{ teams { items { title members { id team { title } } } } }",
        context_value=GatewayContext(registry),
    )
    assert result.errors is None
    assert result.data == {
        "teams": {
            "items": [
                {
                    "title": "core",
                    "members": [
                        {"id": "m-1", "team": {"title": "core"}},
                        {"id": "m-3", "team": {"title": "core"}},
                    ],
                },
                {"title": "ops", "members": [{"id": "m-2", "team": {"title": "ops"}}]},
            ]
        }
    }
    assert members.queries[0].filters[0].value == [7, 8]
    assert teams.calls == {"query_entities": 1}  # member.team came from the primed cache


async def test_loaders_are_per_request(shop_fx: Shop) -> None:
    query = '{ product(id: "p-1") { name } }'
    await shop_fx.execute(query)
    shop_fx.products.records["p-1"]["name"] = "Renamed"
    result = await shop_fx.execute(query)
    assert result.data == {"product": {"name": "Renamed"}}
    assert shop_fx.products.calls == {"get_entities": 2}


async def test_many_relationship_through_nested_list() -> None:
    invoice = EntitySchema(
        entity_type="invoice",
        domain="billing",
        fields=[FieldSpec(name="invoice_number", type=FieldType.STRING)],
        relationships=[
            RelationshipSpec(
                name="products",
                target_type="product",
                via_field="items.product_id",
                cardinality="many",
            )
        ],
    )
    shop = Shop(customers=2)
    invoices = MemoryAdapter(invoice, shop.invoices.records.values())
    registry = MemoryRegistry([invoices, shop.products, shop.customers])
    result = await build_schema(registry).execute(
        "{ invoices { items { invoiceNumber products { sku } } } }",
        context_value=GatewayContext(registry),
    )
    assert result.errors is None
    first = result.data["invoices"]["items"][0]  # type: ignore[index]
    assert first == {
        "invoiceNumber": "INV-001-1",
        "products": [{"sku": "SKU-3"}, {"sku": "SKU-4"}, {"sku": "SKU-1"}],
    }
    assert shop.products.calls == {"get_entities": 1}
