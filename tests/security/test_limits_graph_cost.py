"""Items 5 and 11: relationship graphs are charged depth x limit in the GraphQL cost model,
and a federated ``_entities`` call is charged per representation."""

from __future__ import annotations

from typing import Any

from graphql import parse, validate

from dictamesh.gateway.catalog import CatalogPart
from dictamesh.gateway.federation import CATALOG_SUBGRAPH, build_subgraph
from dictamesh.gateway.limits import QueryLimits, limits_extension, limits_rule
from dictamesh.gateway.subscriptions import build_live_schema
from tests.unit.api.conftest import Node

GRAPH = "nodes { type id depth } edges { relationshipType subject { type id } object { type id } }"


def cost_of(errors: list[dict[str, Any]]) -> int:
    [error] = errors
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    actual = error["extensions"]["actual"]
    assert isinstance(actual, int)
    return actual


async def test_aliased_deep_graphs_are_refused_before_the_catalog_is_called() -> None:
    node = Node()
    query = (
        "{ "
        + " ".join(
            f'g{i}: relationshipGraph(type: "customer", id: "c-1", depth: 10) {{ {GRAPH} }}'
            for i in range(3)
        )
        + " }"
    )
    async with node.client() as http:
        response = await http.post("/graphql", json={"query": query})
    body = response.json()
    assert "data" not in body
    assert cost_of(body["errors"]) > 3 * 10 * 100  # three walks of 10 hops x 100 nodes
    assert node.catalog.calls == []


def test_a_graph_costs_its_depth_times_its_limit() -> None:
    node = Node()

    def cost(depth: int, limit: int) -> int:
        query = (
            '{ relationshipGraph(type: "customer", id: "c-1", depth: DEPTH, limit: LIMIT)'
            " { GRAPH } }"
        )
        query = query.replace("DEPTH", str(depth)).replace("LIMIT", str(limit))
        query = query.replace("GRAPH", GRAPH)
        errors = validate(
            _one_node_schema(node), parse(query), [limits_rule(QueryLimits(max_complexity=1))]
        )
        return cost_of([e.formatted for e in errors])

    one, two = cost(2, 50), cost(4, 50)
    assert two - one == 2 * 50  # two more hops of 50 nodes each


def _one_node_schema(node: Node) -> Any:
    parts = [CatalogPart(node.catalog)]
    return build_live_schema(node.registry, None, parts=parts, max_depth=None)._schema


async def test_federated_entities_are_charged_per_representation() -> None:
    node = Node()
    schema = build_subgraph(
        {t: s for t, s in node.registry.schemas().items() if s.domain != CATALOG_SUBGRAPH},
        CATALOG_SUBGRAPH,
        catalog=node.catalog,
        extensions=[limits_extension(QueryLimits(max_complexity=1))],
    )
    selection = f"... on Customer {{ catalog {{ graph(depth: 1, limit: 10) {{ {GRAPH} }} }} }}"

    async def cost(representations: int, *, variable: bool) -> int:
        reps = [{"__typename": "Customer", "id": f"c-{i}"} for i in range(representations)]
        if variable:
            query = f"query Q($r: [_Any!]!) {{ _entities(representations: $r) {{ {selection} }} }}"
            result = await schema.execute(query, variable_values={"r": reps})
        else:
            literal = ", ".join(
                f'{{__typename: "Customer", id: "c-{i}"}}' for i in range(representations)
            )
            query = f"{{ _entities(representations: [{literal}]) {{ {selection} }} }}"
            result = await schema.execute(query)
        return cost_of([e.formatted for e in result.errors or []])

    # _entities itself costs 1; what it selects is paid once per representation
    each = await cost(1, variable=False) - 1
    assert each > 10 * 2  # the graph's 10 nodes x 1 hop, and its lists
    assert await cost(44, variable=False) == 1 + 44 * each
    assert await cost(44, variable=True) == 1 + 44 * each
    assert await cost(3, variable=True) == 1 + 3 * each
