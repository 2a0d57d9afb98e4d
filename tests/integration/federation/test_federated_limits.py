"""One node and a composed supergraph accept and refuse the same queries (issue 16, item 11).

Behind a router, the catalog subgraph sees ``_entities(representations: [...])`` instead of
the list field the client wrote. It used to charge that call ``default_list_size`` (5)
items whatever it received, so the same query cost 205 on one node but 1,021 at the catalog
subgraph for one representation, and a 50-customer query refused on one node passed behind
the router (44 representations charged as 5). Here both sides run the same
:class:`QueryLimits`, set below and above what one node charges, and a real
``@apollo/gateway`` composes the subgraphs: each query must get the same verdict on both.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse, validate

from dictamesh._serving import serve_in_process
from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.api.graphql_http import GraphQLApp
from dictamesh.catalog.service import CatalogService
from dictamesh.gateway import GatewayContext, build_schema
from dictamesh.gateway.catalog import CatalogPart
from dictamesh.gateway.federation import (
    build_subgraph,
    mesh_subgraphs,
    subgraph_names,
    supergraph_config,
)
from dictamesh.gateway.limits import QueryLimits, limits_extension, limits_rule
from dictamesh.sources.runner import run_sample_sources
from tests.integration.federation.test_apollo_gateway import (
    HOST,
    apollo_gateway,
    reference_registry,
    seed_catalog,
)

pytestmark = [pytest.mark.federation, pytest.mark.slow]

GRAPH = "nodes { type id depth } edges { relationshipType subject { type id } object { type id } }"
EDGES = "edges { relationshipType subject { type id } object { type id } }"
QUERIES = {
    "one customer's graph": (
        '{ customer(id: "1") { catalog { graph(depth: 1) { ' + GRAPH + " } } } }"
    ),
    "fifty customers' graphs": (
        "{ customers(limit: 50) { items { id catalog { graph(depth: 1, limit: 10) { "
        + EDGES
        + " } } } } }"
    ),
}
TOO_COMPLEX = "QUERY_TOO_COMPLEX"


def one_node_cost(registry: AdapterRegistry, catalog: CatalogService, query: str) -> int:
    """What one node charges ``query`` (the ``actual`` of its refusal at a limit of 1)."""
    schema = build_schema(registry, parts=[CatalogPart(catalog)])
    [error] = validate(schema._schema, parse(query), [limits_rule(QueryLimits(max_complexity=1))])
    extensions = error.formatted["extensions"]
    assert extensions["code"] == TOO_COMPLEX
    return int(extensions["actual"])


async def one_node_refuses(
    registry: AdapterRegistry, catalog: CatalogService, query: str, limits: QueryLimits
) -> bool:
    schema = build_schema(
        registry, parts=[CatalogPart(catalog)], extensions=[limits_extension(limits)]
    )
    result = await schema.execute(query, context_value=GatewayContext(registry))
    codes = [(e.extensions or {}).get("code") for e in result.errors or []]
    assert set(codes) <= {TOO_COMPLEX}, result.errors  # refused for its cost, or answered
    return TOO_COMPLEX in codes


@contextlib.asynccontextmanager
async def limited_subgraphs(
    registry: AdapterRegistry, catalog: CatalogService, names: Sequence[str], limits: QueryLimits
) -> AsyncIterator[dict[str, str]]:
    """Each subgraph on its own port with ``limits``, as ``dictamesh serve --subgraph``."""
    async with contextlib.AsyncExitStack() as stack:
        urls = {}
        for name in names:
            schema = build_subgraph(
                registry.schemas(), name, catalog=catalog, extensions=[limits_extension(limits)]
            )
            base = await stack.enter_async_context(
                serve_in_process(GraphQLApp(schema, registry), HOST, 0, what=f"subgraph {name}")
            )
            urls[name] = f"{base}/graphql"
        yield urls


async def router_refuses(gateway_url: str, query: str) -> bool:
    async with httpx.AsyncClient(timeout=30) as client:
        body: dict[str, Any] = (await client.post(gateway_url, json={"query": query})).json()
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
    assert set(codes) <= {TOO_COMPLEX}, body["errors"]
    return TOO_COMPLEX in codes


async def test_one_node_and_the_supergraph_give_the_same_verdicts(
    node_gateway: list[str], tmp_path: Path
) -> None:
    async with (
        run_sample_sources(host=HOST) as sources,
        reference_registry(sources) as registry,
        await CatalogService.open(f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}") as catalog,
    ):
        for customer in ("1", "2", "3"):
            await seed_catalog(catalog, registry, customer)
        costs = {name: one_node_cost(registry, catalog, q) for name, q in QUERIES.items()}
        names = subgraph_names(registry.schemas())
        verdicts: list[tuple[str, int, bool, bool]] = []
        # one limit under and one over each query's one-node cost: far enough from it that
        # only a wrong charge (not the router's own __typename/id selections) flips a verdict
        for name, query in QUERIES.items():
            for limit in (costs[name] // 2, costs[name] * 2):
                limits = QueryLimits(max_complexity=limit)
                async with limited_subgraphs(registry, catalog, names, limits) as urls:
                    config = tmp_path / f"supergraph-{limit}.json"
                    config.write_text(
                        supergraph_config(mesh_subgraphs(registry.schemas(), urls), "json")
                    )
                    async with apollo_gateway(node_gateway, ["--config", str(config)]) as url:
                        verdicts.append(
                            (
                                name,
                                limit,
                                await one_node_refuses(registry, catalog, query, limits),
                                await router_refuses(url, query),
                            )
                        )
    for name, limit, alone, routed in verdicts:
        assert alone == routed, f"{name}, max_complexity {limit}: {alone} alone, {routed} routed"
    # the limits are on both sides of every cost: each query was refused once and accepted once
    assert [alone for *_, alone, _ in verdicts] == [True, False, True, False]
