"""Federation at run time: ``_entities`` batching, references, and the catalog subgraph."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from strawberry.types import ExecutionResult
from tests.unit.gateway.fakes import PRODUCT, MemoryRegistry, shop

from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import SourceUnavailable
from dictamesh.gateway import GatewayContext, build_schema
from dictamesh.gateway.catalog import CatalogPart
from dictamesh.gateway.federation import CATALOG_SUBGRAPH, build_subgraph

ENTITIES = """
query ($reps: [_Any!]!) { _entities(representations: $reps) { __typename %s } }
"""


class Mesh:
    def __init__(self) -> None:
        self.customers, self.invoices, self.products = shop(customers=3, products=4)
        self.products.schema = PRODUCT.model_copy(update={"domain": "products"})
        self.registry = MemoryRegistry([self.customers, self.invoices, self.products])

    def calls(self) -> dict[str, dict[str, int]]:
        return {a.entity_type: dict(a.calls) for a in self.registry.adapters()}

    async def run(
        self,
        subgraph: str,
        query: str,
        variables: Mapping[str, Any] | None = None,
        catalog: Any = None,
    ) -> ExecutionResult:
        schema = build_subgraph(self.registry.schemas(), subgraph, catalog=catalog)
        return await schema.execute(
            query,
            variable_values=dict(variables or {}),
            context_value=GatewayContext(self.registry),
        )


def reps(typename: str, *ids: str) -> list[dict[str, str]]:
    return [{"__typename": typename, "id": i} for i in ids]


@pytest.fixture
def mesh() -> Mesh:
    return Mesh()


async def test_entities_of_the_owner_load_in_one_batch(mesh: Mesh) -> None:
    result = await mesh.run(
        "customers",
        ENTITIES % "... on Customer { id name }",
        {"reps": reps("Customer", "c-2", "c-1", "nope", "c-2", "bad id!")},
    )
    assert result.errors is None
    assert result.data == {
        "_entities": [
            {"__typename": "Customer", "id": "c-2", "name": "Customer 2"},
            {"__typename": "Customer", "id": "c-1", "name": "Customer 1"},
            None,  # unknown id
            {"__typename": "Customer", "id": "c-2", "name": "Customer 2"},
            None,  # malformed id: nothing to look up
        ]
    }
    assert mesh.calls()["customer"] == {"get_entities": 1}
    assert mesh.customers.batches == [["c-2", "c-1", "nope"]]


async def test_extending_subgraph_resolves_its_fields_from_the_key_alone(mesh: Mesh) -> None:
    result = await mesh.run(
        "billing",
        ENTITIES % "... on Customer { id invoices { invoiceNumber } }",
        {"reps": reps("Customer", "c-1", "c-3")},
    )
    assert result.errors is None
    assert result.data is not None
    numbers = [[i["invoiceNumber"] for i in e["invoices"]] for e in result.data["_entities"]]
    assert numbers == [["INV-001-1", "INV-001-2"], ["INV-003-1", "INV-003-2"]]
    # one `customer_id IN (...)` query for both customers; customers are never read here
    assert mesh.calls() == {"customer": {}, "invoice": {"query_entities": 1}, "product": {}}


async def test_references_to_other_domains_are_stubs_without_source_calls(mesh: Mesh) -> None:
    result = await mesh.run(
        "billing",
        '{ invoice(id: "inv-1-1") { customer { __typename id }'
        " items { product { __typename id } } } }",
    )
    assert result.errors is None
    assert result.data is not None
    invoice = result.data["invoice"]
    assert invoice["customer"] == {"__typename": "Customer", "id": "c-1"}
    products = [item["product"] for item in invoice["items"]]
    assert products == [
        {"__typename": "Product", "id": row["product_id"]}
        for row in mesh.invoices.records["inv-1-1"]["items"]
    ]
    assert mesh.calls() == {"customer": {}, "invoice": {"get_entities": 1}, "product": {}}


async def test_a_failing_source_nulls_only_its_entities(mesh: Mesh) -> None:
    mesh.products.fail = SourceUnavailable("pim down", adapter="products_rest")
    result = await mesh.run(
        "products", ENTITIES % "... on Product { sku }", {"reps": reps("Product", "p-1")}
    )
    assert result.data == {"_entities": [None]}
    assert result.errors is not None
    assert result.errors[0].extensions is not None
    assert result.errors[0].extensions["code"] == "SOURCE_UNAVAILABLE"


@pytest.fixture
async def catalog(mesh: Mesh, sqlite_catalog_url: str) -> AsyncIterator[CatalogService]:
    async with await CatalogService.open(sqlite_catalog_url, migrate=False) as service:
        customer = await mesh.customers.get_entity("c-1")
        await service.register_entity(customer)
        for invoice_id in ("inv-1-1", "inv-1-2"):
            invoice = await mesh.invoices.get_entity(invoice_id)
            await service.register_entity(invoice)
            await service.record_relationship(invoice.ref, "billed_to", customer.ref)
        mesh.customers.calls.clear()
        mesh.invoices.calls.clear()
        yield service


async def test_catalog_subgraph_adds_catalog_to_entities(
    mesh: Mesh, catalog: CatalogService
) -> None:
    result = await mesh.run(
        CATALOG_SUBGRAPH,
        ENTITIES
        % "... on Customer { id catalog { domain sourceSystem graph { nodes { type id } } } }",
        {"reps": reps("Customer", "c-1", "c-2")},
        catalog=catalog,
    )
    assert result.errors is None
    assert result.data is not None
    known, unknown = result.data["_entities"]
    assert known["catalog"]["domain"] == "customers"
    assert known["catalog"]["sourceSystem"] == "directus"
    assert {(n["type"], n["id"]) for n in known["catalog"]["graph"]["nodes"]} == {
        ("customer", "c-1"),
        ("invoice", "inv-1-1"),
        ("invoice", "inv-1-2"),
    }
    assert unknown == {"__typename": "Customer", "id": "c-2", "catalog": None}
    assert mesh.calls() == {"customer": {}, "invoice": {}, "product": {}}  # catalog only


async def test_catalog_root_fields(mesh: Mesh, catalog: CatalogService) -> None:
    result = await mesh.run(
        CATALOG_SUBGRAPH,
        """{
          catalogEntry(type: "invoice", id: "inv-1-1") { entityId domain }
          missing: catalogEntry(type: "invoice", id: "inv-9") { entityId }
          catalogEntries(type: "invoice", limit: 1) { items { entityId } nextCursor }
          catalogSearch(text: "c-1") { entityType entityId score }
          relationshipGraph(type: "customer", id: "c-1", depth: 1, direction: IN) {
            root { type id } edges { subject { id } relationshipType object { id } } truncated
          }
          lineage(type: "customer") { entityType upstream { transformation } }
        }""",
        catalog=catalog,
    )
    assert result.errors is None, result.errors
    data = result.data
    assert data is not None
    assert data["catalogEntry"] == {"entityId": "inv-1-1", "domain": "billing"}
    assert data["missing"] is None
    assert data["catalogEntries"]["items"] == [{"entityId": "inv-1-1"}]
    assert data["catalogEntries"]["nextCursor"]
    assert data["catalogSearch"][0] == {"entityType": "customer", "entityId": "c-1", "score": 1.0}
    graph = data["relationshipGraph"]
    assert graph["root"] == {"type": "customer", "id": "c-1"}
    assert sorted(e["subject"]["id"] for e in graph["edges"]) == ["inv-1-1", "inv-1-2"]
    assert graph["truncated"] is False
    assert data["lineage"]["entityType"] == "customer"


async def test_catalog_errors_are_graphql_errors(mesh: Mesh, catalog: CatalogService) -> None:
    result = await mesh.run(
        CATALOG_SUBGRAPH,
        '{ bad: catalogEntry(type: "customer", id: "no spaces") { entityId }'
        '  deep: relationshipGraph(type: "customer", id: "c-1", depth: 99) { truncated } }',
        catalog=catalog,
    )
    assert result.data == {"bad": None, "deep": None}
    codes = sorted(e.extensions["code"] for e in result.errors or [] if e.extensions)
    assert codes == ["BAD_USER_INPUT", "VALIDATION_ERROR"]


async def test_one_node_schema_serves_the_catalog_fields_too(
    mesh: Mesh, catalog: CatalogService
) -> None:
    schema = build_schema(mesh.registry, parts=[CatalogPart(catalog)])
    result = await schema.execute(
        '{ customer(id: "c-1") { name catalog { entityId lineage { entityId } } }'
        '  invoice(id: "inv-2-1") { catalog { entityId } } }',
        context_value=GatewayContext(mesh.registry),
    )
    assert result.errors is None
    assert result.data == {
        "customer": {
            "name": "Customer 1",
            "catalog": {"entityId": "c-1", "lineage": {"entityId": "c-1"}},
        },
        "invoice": {"catalog": None},  # not registered in the catalog
    }


async def test_a_failing_catalog_nulls_only_the_catalog_field(
    mesh: Mesh, catalog: CatalogService
) -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            return getattr(catalog, name)

        async def get_entity_location(self, entity_type: str, entity_id: str) -> Any:
            raise SourceUnavailable("catalog down")

    schema = build_schema(mesh.registry, parts=[CatalogPart(Broken())])
    result = await schema.execute(
        '{ customer(id: "c-1") { name catalog { entityId } } }',
        context_value=GatewayContext(mesh.registry),
    )
    assert result.data == {"customer": {"name": "Customer 1", "catalog": None}}
    assert result.errors is not None
    assert result.errors[0].path == ["customer", "catalog"]
