"""Federation subgraphs: which subgraph owns which type, and the directives in their SDL."""

from __future__ import annotations

import pytest
from graphql import GraphQLNamedType, GraphQLObjectType, GraphQLSchema
from tests.unit.gateway.fakes import CUSTOMER, INVOICE, PRODUCT, MemoryRegistry
from tests.unit.gateway.test_gateway_schema import fields_of

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import EntitySchema, FieldSpec, FieldType, RelationshipSpec
from dictamesh.gateway import build_schema
from dictamesh.gateway.catalog import CatalogPart
from dictamesh.gateway.federation import (
    CATALOG_SUBGRAPH,
    build_subgraph,
    default_subgraph_port,
    subgraph_names,
    subgraph_sdl,
)

PRODUCTS = PRODUCT.model_copy(update={"domain": "products"})
SCHEMAS = {"customer": CUSTOMER, "invoice": INVOICE, "product": PRODUCTS}
LINK = '@link(url: "https://specs.apollo.dev/federation/v2.3"'


class _Registry(MemoryRegistry):
    """Serves schemas only (enough to build a schema)."""

    def __init__(self, schemas: dict[str, EntitySchema]) -> None:
        super().__init__([])
        self._schemas = schemas

    def schemas(self) -> dict[str, EntitySchema]:
        return dict(self._schemas)


def sdl_of(name: str, schemas: dict[str, EntitySchema] = SCHEMAS) -> str:
    return subgraph_sdl(build_subgraph(schemas, name))


def test_one_subgraph_per_domain_then_the_catalog() -> None:
    assert subgraph_names(SCHEMAS) == ["billing", "customers", "products", CATALOG_SUBGRAPH]
    assert default_subgraph_port(subgraph_names(SCHEMAS), "products", 8000) == 8003


def test_every_subgraph_links_federation_2_3_and_shares_entity_types() -> None:
    for name in subgraph_names(SCHEMAS):
        sdl = sdl_of(name)
        assert LINK in sdl
        assert "entityTypes: [String!]! @shareable" in sdl
        assert "_service: _Service!" in sdl
        assert "_entities(representations: [_Any!]!): [_Entity]!" in sdl


def test_a_domain_subgraph_owns_its_types_with_all_their_fields() -> None:
    sdl = sdl_of("customers")
    assert 'type Customer @key(fields: "id") {' in sdl
    assert set(fields_of(sdl, "type", "Customer")) == {
        "id",
        "name",
        "email",
        "country",
        "vip",
        "createdAt",
        "tags",
        "preferences",
    }  # `invoices` belongs to the billing subgraph
    query = fields_of(sdl, "type", "Query")
    assert {"customer", "customers"} <= set(query)
    assert "invoice" not in query
    assert "type Invoice" not in sdl


def test_the_referencing_subgraph_extends_and_stubs_foreign_entities() -> None:
    sdl = sdl_of("billing")
    assert 'type Invoice @key(fields: "id") {' in sdl
    # the inverse of Invoice.customer lives with the invoices: it extends Customer
    assert 'type Customer @key(fields: "id") {' in sdl
    assert fields_of(sdl, "type", "Customer") == {"id": "ID!", "invoices": "[Invoice!]"}
    # only referenced: the products subgraph resolves it
    assert 'type Product @key(fields: "id", resolvable: false) {' in sdl
    assert fields_of(sdl, "type", "Product") == {"id": "ID!"}
    assert fields_of(sdl, "type", "Invoice")["customer"] == "Customer"
    assert fields_of(sdl, "type", "InvoiceItem")["product"] == "Product"
    assert "type InvoiceItem {" in sdl  # a value type: no key
    assert "@requires" not in sdl and "@external" not in sdl  # keys are enough  # noqa: PT018


def test_the_catalog_subgraph_adds_catalog_to_every_entity() -> None:
    sdl = sdl_of(CATALOG_SUBGRAPH)
    for name in ("Customer", "Invoice", "Product"):
        assert f'type {name} @key(fields: "id") {{' in sdl
        assert fields_of(sdl, "type", name) == {"id": "ID!", "catalog": "CatalogEntry"}
    query = fields_of(sdl, "type", "Query")
    assert {"catalogEntry", "catalogEntries", "catalogSearch", "relationshipGraph", "lineage"} <= (
        set(query)
    )
    assert "customers" not in query
    assert "type InvoiceItem" not in sdl


def test_nested_types_used_by_two_domains_are_shareable() -> None:
    address = EntitySchema(
        entity_type="address",
        domain="shared",
        fields=[FieldSpec(name="city", type=FieldType.STRING)],
    )
    shop = EntitySchema(
        entity_type="shop",
        domain="retail",
        fields=[FieldSpec(name="title", type=FieldType.STRING)],
        nested={"addresses": address},
    )
    person = CUSTOMER.model_copy(update={"nested": {"addresses": address}})
    schemas = {"customer": person, "shop": shop}
    assert "type Address @shareable {" in sdl_of("customers", schemas)
    assert "type Address @shareable {" in sdl_of("retail", schemas)
    assert "type InvoiceItem {" in sdl_of("billing")  # used by one domain only


def test_relationships_to_types_outside_the_mesh_are_left_out() -> None:
    sdl = sdl_of("billing", {"invoice": INVOICE})
    assert "product" not in fields_of(sdl, "type", "InvoiceItem")
    assert "type Customer" not in sdl


def test_bad_subgraph_names_and_domains_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown subgraph 'shipping'"):
        build_subgraph(SCHEMAS, "shipping")
    clash = {"product": PRODUCT}  # its domain is called "catalog"
    with pytest.raises(ConfigurationError, match="clashes with the catalog subgraph"):
        subgraph_names(clash)
    named_like_a_root_field = EntitySchema(
        entity_type="lineage", domain="x", fields=[FieldSpec(name="a", type=FieldType.STRING)]
    )
    with pytest.raises(ConfigurationError, match="root field lineage is defined twice"):
        build_subgraph({"lineage": named_like_a_root_field}, CATALOG_SUBGRAPH)
    with pytest.raises(ConfigurationError, match="root field lineage is defined twice"):
        build_schema(_Registry({"lineage": named_like_a_root_field}), parts=[CatalogPart(None)])
    named_like_a_catalog_type = named_like_a_root_field.model_copy(
        update={"entity_type": "catalog_entry"}
    )
    with pytest.raises(ConfigurationError, match=r"CatalogEntry .* is already taken"):
        build_subgraph({"catalog_entry": named_like_a_catalog_type}, "x")
    with pytest.raises(ConfigurationError, match=r"CatalogEntry .* is already taken"):
        build_schema(
            _Registry({"catalog_entry": named_like_a_catalog_type}), parts=[CatalogPart(None)]
        )


def _object_types(schema: GraphQLSchema) -> dict[str, GraphQLObjectType]:
    def ours(t: GraphQLNamedType) -> bool:
        return isinstance(t, GraphQLObjectType) and not t.name.startswith("_")

    return {name: t for name, t in schema.type_map.items() if ours(t)}  # type: ignore[misc]


def test_the_subgraphs_compose_to_the_one_node_schema() -> None:
    """Same generator: every field of every subgraph is in the one-node schema, same type,
    and together the subgraphs cover all of it."""

    one_node = build_schema(_Registry(SCHEMAS), parts=[CatalogPart(None)])._schema
    merged: dict[str, dict[str, str]] = {}
    for name in subgraph_names(SCHEMAS):
        for type_name, obj in _object_types(build_subgraph(SCHEMAS, name)._schema).items():
            for field_name, field in obj.fields.items():
                if not field_name.startswith("_"):  # _service, _entities
                    merged.setdefault(type_name, {})[field_name] = str(field.type)
    expected = {
        type_name: {f: str(field.type) for f, field in obj.fields.items()}
        for type_name, obj in _object_types(one_node).items()
    }
    assert merged == expected


def test_a_relationship_targeting_a_nested_type_of_another_domain_is_skipped() -> None:
    note = EntitySchema(
        entity_type="ticket",
        domain="support",
        fields=[FieldSpec(name="item_id", type=FieldType.STRING)],
        relationships=[
            RelationshipSpec(name="item", target_type="invoice_item", via_field="item_id")
        ],
    )
    sdl = sdl_of("support", {**SCHEMAS, "ticket": note})
    assert "item" not in fields_of(sdl, "type", "Ticket")


def test_an_entity_field_named_catalog_wins_over_the_catalog_part() -> None:
    own = CUSTOMER.model_copy(
        update={"fields": [*CUSTOMER.fields, FieldSpec(name="catalog", type=FieldType.STRING)]}
    )
    schemas = {**SCHEMAS, "customer": own}
    one_node = build_schema(_Registry(schemas), parts=[CatalogPart(None)]).as_str()
    assert fields_of(one_node, "type", "Customer")["catalog"] == "String"
    assert fields_of(one_node, "type", "Invoice")["catalog"] == "CatalogEntry"
    catalog = sdl_of(CATALOG_SUBGRAPH, schemas)
    assert fields_of(catalog, "type", "Customer") == {"id": "ID!"}
    assert fields_of(sdl_of("customers", schemas), "type", "Customer")["catalog"] == "String"
