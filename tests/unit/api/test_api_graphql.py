"""GraphQL over HTTP at /graphql: per-request loaders, call counts, coded errors."""

from __future__ import annotations

from tests.unit.api.conftest import Node
from tests.unit.gateway.fakes import MemoryRegistry

from dictamesh.core.errors import SourceUnavailable
from dictamesh.gateway import build_schema
from dictamesh.testing.graphql import GraphQLTestClient

CROSS_DOMAIN = """
query Shop($limit: Int) {
  customers(limit: $limit) { items {
    name invoices { invoiceNumber items { quantity product { sku name } } }
  } }
}
"""


async def test_cross_domain_query_over_http(node: Node) -> None:
    gql = GraphQLTestClient(node.app)
    result = await gql.query(CROSS_DOMAIN, {"limit": 10})
    assert result.status_code == 200
    assert result.errors == []
    items = result.data["customers"]["items"]  # type: ignore[index]
    assert [c["name"] for c in items] == ["Customer 1", "Customer 2", "Customer 3"]
    assert items[0]["invoices"][0]["items"][0] == {
        "quantity": 1,
        "product": {"sku": "SKU-3", "name": "Product 3"},
    }
    assert {a.entity_type: dict(a.calls) for a in node.adapters} == {
        "customer": {"query_entities": 1},
        "invoice": {"query_entities": 1},
        "product": {"get_entities": 1},
    }


async def test_each_request_gets_fresh_loaders(node: Node) -> None:
    gql = GraphQLTestClient(node.app)
    query = 'query { product(id: "p-1") { name } }'
    assert (await gql.query(query)).data == {"product": {"name": "Product 1"}}
    node.products.records["p-1"]["name"] = "Renamed"
    assert (await gql.query(query)).data == {"product": {"name": "Renamed"}}
    assert node.products.calls == {"get_entities": 2}


async def test_errors_over_http_are_coded_and_partial(node: Node) -> None:
    node.invoices.fail = SourceUnavailable("billing down")
    result = await GraphQLTestClient(node.app).query(
        '{ customer(id: "c-1") { name invoices { id } } invoices { total } }'
    )
    assert result.status_code == 200
    assert result.data == {"customer": {"name": "Customer 1", "invoices": None}, "invoices": None}
    assert result.error_codes == ["SOURCE_UNAVAILABLE", "SOURCE_UNAVAILABLE"]
    assert [e["path"] for e in result.errors_at("customer")] == [["customer", "invoices"]]


async def test_query_limit_over_http(node: Node) -> None:
    # Cheap enough for the complexity limit (docs/graphql.md), so the resolver's own check
    # answers; the whole cross-domain query at limit 1000 is QUERY_TOO_COMPLEX before that.
    result = await GraphQLTestClient(node.app).query(
        "query($limit: Int) { customers(limit: $limit) { items { name } } }", {"limit": 1000}
    )
    assert result.error_codes == ["QUERY_LIMIT_EXCEEDED"]
    assert node.customers.calls == {}


async def test_graphiql_is_served(node: Node) -> None:
    async with node.client() as http:
        response = await http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_a_given_schema_is_used() -> None:
    node = Node()
    schema = build_schema(MemoryRegistry([node.products]))
    node = Node(graphql_schema=schema)
    result = await GraphQLTestClient(node.app).query("{ entityTypes }")
    assert result.data == {"entityTypes": ["product"]}
