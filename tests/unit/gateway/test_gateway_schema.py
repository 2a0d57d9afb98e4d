"""The schema is generated from the adapters' EntitySchemas: types, fields, nullability."""

from __future__ import annotations

import re
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension
from tests.unit.gateway.conftest import Shop
from tests.unit.gateway.fakes import (
    CUSTOMER,
    INVOICE,
    PRODUCT,
    MemoryAdapter,
    MemoryRegistry,
    shop,
)

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import (
    Cardinality,
    EntitySchema,
    FieldSpec,
    FieldType,
    FilterOp,
    RelationshipSpec,
)
from dictamesh.gateway import FilterOperator, GatewayContext, SchemaBuilder, build_schema, type_name
from dictamesh.gateway.schema_builder import _resolve_id


def fields_of(sdl: str, kind: str, name: str) -> dict[str, str]:
    """``{field: "rest of its line"}`` for one type block of an SDL document."""
    match = re.search(rf"^{kind} {name} (?:@[^{{]*)?\{{\n(.*?)^\}}", sdl, re.M | re.S)
    assert match, f"{kind} {name} not in schema"
    fields = {}
    for line in match.group(1).splitlines():
        line = line.strip()
        if not line or line.startswith('"'):
            continue
        name = re.match(r"\w+", line)
        assert name
        fields[name.group(0)] = line[name.end() :].removeprefix(":").strip()
    return fields


@pytest.fixture
def sdl(shop_fx: Shop) -> str:
    return shop_fx.schema.as_str()


def test_type_names_are_pascal_case() -> None:
    assert type_name("customer") == "Customer"
    assert type_name("invoice_item") == "InvoiceItem"
    assert type_name("line2_total") == "Line2Total"


def test_every_entity_type_and_nested_object_becomes_a_type(sdl: str) -> None:
    for name in [
        "Customer",
        "Invoice",
        "InvoiceItem",
        "Product",
        "CustomerPage",
        "InvoicePage",
        "ProductPage",
        "Query",
    ]:
        assert re.search(rf"^type {name} \{{", sdl, re.M), name
    assert "type InvoiceItemPage" not in sdl  # nested objects are no root collections
    assert "input FilterInput" in sdl
    assert "input SortInput" in sdl
    assert "enum FilterOp" in sdl


def test_scalar_fields_follow_field_specs(sdl: str) -> None:
    assert fields_of(sdl, "type", "Customer") == {
        "id": "ID!",
        "name": "String!",  # required
        "email": "String",
        "country": "String",
        "vip": "Boolean",
        "createdAt": "DateTime",  # snake_case -> camelCase
        "tags": "[String!]",  # many
        "preferences": "JSON",
        "invoices": "[Invoice!]",  # inverse of invoice.customer
    }
    assert fields_of(sdl, "type", "Product") == {
        "id": "ID!",
        "sku": "String!",
        "name": "String!",
        "price": "Float",
        "stock": "Int",
    }


def test_relationships_and_nested_lists(sdl: str) -> None:
    assert fields_of(sdl, "type", "Invoice") == {
        "id": "ID!",
        "invoiceNumber": "String!",
        "customerId": "String!",
        "total": "Float",
        "issuedOn": "Date",
        "items": "[InvoiceItem!]!",  # nested, from the invoice's own attribute
        "customer": "Customer",  # forward relationship, nullable: another source
    }
    # nested objects have no entity id of their own
    assert fields_of(sdl, "type", "InvoiceItem") == {
        "productId": "String!",
        "quantity": "Int!",
        "unitPrice": "Float",
        "product": "Product",
    }


def test_root_fields(sdl: str) -> None:
    query = fields_of(sdl, "type", "Query")
    assert query["customer"] == "(id: ID!): Customer"
    assert query["customers"] == (
        "(filter: [FilterInput!] = null, sort: [SortInput!] = null, limit: Int = 50,"
        " cursor: String = null): CustomerPage"
    )
    assert set(query) == {
        "customer",
        "customers",
        "invoice",
        "invoices",
        "product",
        "products",
        "entityTypes",
    }
    assert query["entityTypes"] == "[String!]!"
    assert fields_of(sdl, "type", "CustomerPage") == {
        "items": "[Customer!]!",
        "nextCursor": "String",
        "total": "Int",
    }
    assert fields_of(sdl, "input", "FilterInput") == {
        "field": "String!",
        "value": "JSON!",
        "op": "FilterOp! = EQ",
    }
    assert fields_of(sdl, "input", "SortInput") == {
        "field": "String!",
        "descending": "Boolean! = false",
    }


def test_filter_op_enum_mirrors_the_core_operators() -> None:
    assert {op.name: op.value for op in FilterOperator} == {op.name: op.value for op in FilterOp}


def test_personal_data_is_marked_in_descriptions(sdl: str) -> None:
    assert '"""Classification: pii_email"""\n  email: String' in sdl


async def test_a_new_adapter_appears_without_code(shop_fx: Shop) -> None:
    shipment = EntitySchema(
        entity_type="shipment",
        domain="logistics",
        fields=[
            FieldSpec(name="carrier", type=FieldType.STRING, required=True),
            FieldSpec(name="invoice_id", type=FieldType.STRING),
            FieldSpec(name="parcel_codes", type=FieldType.STRING, many=True, required=True),
        ],
        relationships=[
            RelationshipSpec(
                name="invoice", target_type="invoice", via_field="invoice_id", inverse="shipments"
            )
        ],
    )
    adapter = MemoryAdapter(
        shipment,
        [{"id": "s-1", "carrier": "DHL", "invoice_id": "inv-1-1", "parcel_codes": ["A", "B"]}],
    )
    registry = MemoryRegistry([*shop_fx.adapters, adapter])
    schema = build_schema(registry)
    sdl = schema.as_str()
    assert fields_of(sdl, "type", "Shipment") == {
        "id": "ID!",
        "carrier": "String!",
        "invoiceId": "String",
        "parcelCodes": "[String!]!",
        "invoice": "Invoice",
    }
    assert fields_of(sdl, "type", "Invoice")["shipments"] == "[Shipment!]"
    result = await schema.execute(
        '{ invoice(id: "inv-1-1") { invoiceNumber shipments { carrier parcelCodes } } }',
        context_value=GatewayContext(registry),
    )
    assert result.errors is None
    shipments = [{"carrier": "DHL", "parcelCodes": ["A", "B"]}]
    assert result.data == {"invoice": {"invoiceNumber": "INV-001-1", "shipments": shipments}}


def test_plural_names_can_be_overridden() -> None:
    category = EntitySchema(
        entity_type="category",
        domain="catalog",
        fields=[FieldSpec(name="title", type=FieldType.STRING)],
    )
    sdl = SchemaBuilder({"category": category}, plurals={"category": "categories"}).build().as_str()
    query = fields_of(sdl, "type", "Query")
    assert "categories" in query
    assert "categorys" not in query


def test_relationships_to_types_not_served_are_left_out() -> None:
    sdl = SchemaBuilder({"invoice": INVOICE, "customer": CUSTOMER}).build().as_str()
    assert "product" not in fields_of(sdl, "type", "InvoiceItem")
    assert fields_of(sdl, "type", "Customer")["invoices"] == "[Invoice!]"
    sdl = SchemaBuilder({"invoice": INVOICE, "product": PRODUCT}).build().as_str()
    assert "customer" not in fields_of(sdl, "type", "Invoice")


def test_many_cardinality_and_keyword_names() -> None:
    schema = EntitySchema(
        entity_type="order",
        domain="shop",
        fields=[
            FieldSpec(name="from", type=FieldType.STRING),
            FieldSpec(name="product_ids", type=FieldType.STRING, many=True),
        ],
        relationships=[
            RelationshipSpec(
                name="products",
                target_type="product",
                via_field="product_ids",
                cardinality=Cardinality.MANY,
            )
        ],
    )
    sdl = SchemaBuilder({"order": schema, "product": PRODUCT}).build().as_str()
    assert fields_of(sdl, "type", "Order") == {
        "id": "ID!",
        "from": "String",
        "productIds": "[String!]",
        "products": "[Product!]",
    }


def test_a_relationship_named_like_a_field_is_refused() -> None:
    schema = EntitySchema(
        entity_type="order",
        domain="shop",
        fields=[FieldSpec(name="product", type=FieldType.STRING)],
        relationships=[
            RelationshipSpec(name="product", target_type="product", via_field="product")
        ],
    )
    with pytest.raises(ConfigurationError, match=r"Order\.product is defined twice"):
        SchemaBuilder({"order": schema, "product": PRODUCT}).build()


def test_type_name_clashes_are_refused() -> None:
    clash = EntitySchema(
        entity_type="customer_page", domain="x", fields=[FieldSpec(name="a", type=FieldType.STRING)]
    )
    with pytest.raises(ConfigurationError, match="CustomerPage"):
        SchemaBuilder({"customer": CUSTOMER, "customer_page": clash}).build()
    with pytest.raises(ConfigurationError, match="clashes"):
        SchemaBuilder({"customer": CUSTOMER}, plurals={"customer": "entity_types"}).build()


def test_each_build_makes_its_own_types(shop_fx: Shop) -> None:
    one = build_schema(shop_fx.registry)
    two = build_schema(MemoryRegistry([shop_fx.products]))
    assert "type Customer" in one.as_str()
    assert "type Customer" not in two.as_str()


async def test_generated_fields_are_resolved_by_graphql_core_directly() -> None:
    seen: list[str] = []

    class FieldSpy(SchemaExtension):  # a per-field hook: Strawberry makes it middleware
        def resolve(self, _next: Any, root: Any, info: Any, **kwargs: Any) -> Any:
            seen.append(info.field_name)
            return _next(root, info, **kwargs)

    registry = MemoryRegistry(list(shop()))
    schema = build_schema(registry, extensions=[FieldSpy])
    customer = schema._schema.type_map["Customer"]
    assert customer.fields["id"].resolve is _resolve_id  # no Strawberry wrapper
    query = '{ customer(id: "c-1") { id name invoices { invoiceNumber } } }'
    result = await schema.execute(query, context_value=GatewayContext(registry))
    assert result.errors is None
    assert result.data is not None
    assert result.data["customer"]["id"] == "c-1"
    assert result.data["customer"]["name"] == "Customer 1"
    assert {"customer", "id", "name", "invoices", "invoiceNumber"} <= set(seen)
