"""A real Apollo gateway (``@apollo/gateway`` 2.14.4, IntrospectAndCompose) in front of the
subgraphs answers exactly what the one-node gateway answers.

Three sample sources run in-process; each subgraph (customers, invoices, products, catalog)
is served on its own port; the Node.js gateway composes them from their ``_service { sdl }``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from dictamesh._serving import serve_in_process
from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.api.graphql_http import GraphQLApp
from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import SourceUnavailable
from dictamesh.core.models import FieldFilter, FilterOp, Query
from dictamesh.core.settings import AdapterConfig
from dictamesh.gateway import GatewayContext, build_schema
from dictamesh.gateway.catalog import CatalogPart
from dictamesh.gateway.federation import (
    build_subgraph,
    mesh_subgraphs,
    subgraph_names,
    supergraph_config,
)
from dictamesh.sources.runner import SampleSources, reference_adapter_configs, run_sample_sources
from tests.unit.gateway.fakes import PRODUCT, MemoryRegistry, shop

pytestmark = [pytest.mark.federation, pytest.mark.slow]

HOST = "127.0.0.1"
READY = "DICTAMESH_GATEWAY_READY "
FAILED = "DICTAMESH_GATEWAY_ERROR "

CUSTOMER_QUERY = """
query ($id: ID!) {
  customer(id: $id) {
    firstName lastName email
    catalog { domain sourceSystem graph(depth: 1) { nodes { type id depth } } }
    invoices { invoiceNumber total items { quantity product { sku name price } } }
  }
}"""

LIST_QUERY = """
{
  entityTypes
  customers(limit: 5) { total items {
    id email invoices { invoiceNumber customer { email } }
  } }
  catalogEntry(type: "customer", id: "1") { entityId domain apiBasePath }
}"""


class GatewayFailed(Exception):
    pass


@contextlib.asynccontextmanager
async def apollo_gateway(command: Sequence[str], args: Sequence[str]) -> AsyncIterator[str]:
    """Run gateway.mjs until the block ends; yields its URL (raises GatewayFailed)."""
    proc = await asyncio.create_subprocess_exec(
        *command,
        "--port",
        "0",
        "--host",
        HOST,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "APOLLO_TELEMETRY_DISABLED": "true"},
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    stderr = asyncio.create_task(proc.stderr.read())
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 25)).decode()
        if not line.startswith(READY):
            await asyncio.wait_for(proc.wait(), 10)
            raise GatewayFailed(f"exit {proc.returncode}: {(await stderr).decode()}")
        yield line[len(READY) :].strip()
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)
        if not stderr.done():
            stderr.cancel()


@contextlib.asynccontextmanager
async def served_subgraphs(
    registry: Any, catalog: Any, names: Sequence[str]
) -> AsyncIterator[dict[str, str]]:
    """Each subgraph on its own port; yields name → /graphql URL."""
    schemas = registry.schemas()
    async with contextlib.AsyncExitStack() as stack:
        urls = {}
        for name in names:
            app = GraphQLApp(build_subgraph(schemas, name, catalog=catalog), registry)
            base = await stack.enter_async_context(
                serve_in_process(app, HOST, 0, what=f"subgraph {name}")
            )
            urls[name] = f"{base}/graphql"
        yield urls


@contextlib.asynccontextmanager
async def reference_registry(sources: SampleSources) -> AsyncIterator[AdapterRegistry]:
    registry = AdapterRegistry()
    for config in reference_adapter_configs(sources, poll_interval_seconds=None):
        registry.register(registry.build(config))
    try:
        for adapter in registry.adapters():
            await adapter.connect()
        yield registry
    finally:
        for adapter in registry.adapters():
            await adapter.aclose()


async def seed_catalog(catalog: CatalogService, registry: AdapterRegistry, customer: str) -> None:
    """Register one customer and its invoices with their relationship (ingest would)."""
    owner = await registry.for_type("customer").get_entity(customer)
    await catalog.register_entity(owner)
    page = await registry.for_type("invoice").query_entities(
        Query(filters=[FieldFilter(field="customer_id", op=FilterOp.EQ, value=customer)])
    )
    for invoice in page.items:
        await catalog.register_entity(invoice)
        await catalog.record_relationship(invoice.ref, "billed_to", owner.ref)


async def one_node(registry: Any, catalog: Any, query: str, variables: Mapping[str, Any]) -> Any:
    schema = build_schema(registry, parts=[CatalogPart(catalog)])
    result = await schema.execute(
        query, variable_values=dict(variables), context_value=GatewayContext(registry)
    )
    assert result.errors is None, result.errors
    return result.data


async def post(url: str, query: str, variables: Mapping[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(url, json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


async def test_supergraph_answers_exactly_like_the_one_node_gateway(
    node_gateway: list[str], tmp_path: Path
) -> None:
    async with (
        run_sample_sources(host=HOST) as sources,
        reference_registry(sources) as registry,
        await CatalogService.open(f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}") as catalog,
    ):
        await seed_catalog(catalog, registry, "1")
        names = subgraph_names(registry.schemas())
        assert names == ["customers", "invoices", "payments", "products", "catalog"]
        async with served_subgraphs(registry, catalog, names) as urls:
            # the router reads its subgraph list from `dictamesh supergraph --format json`
            config = tmp_path / "supergraph.json"
            config.write_text(supergraph_config(mesh_subgraphs(registry.schemas(), urls), "json"))
            async with apollo_gateway(node_gateway, ["--config", str(config)]) as gateway_url:
                answers = []
                for query, variables in ((CUSTOMER_QUERY, {"id": "1"}), (LIST_QUERY, {})):
                    expected = await one_node(registry, catalog, query, variables)
                    answers.append(await post(gateway_url, query, variables))
                    assert answers[-1] == expected
            customer = answers[0]["customer"]  # every domain and the catalog took part
            items = [i for inv in customer["invoices"] for i in inv["items"]]
            assert items
            assert all(i["product"]["sku"] for i in items)
            assert customer["catalog"]["domain"] == "customers"
            assert len(customer["catalog"]["graph"]["nodes"]) == 1 + len(customer["invoices"])
            listed = answers[1]["customers"]["items"]
            assert any(c["invoices"] for c in listed)
            assert all(i["customer"]["email"] == c["email"] for c in listed for i in c["invoices"])

            sdl = (await post(urls["invoices"], "{ _service { sdl } }"))["_service"]["sdl"]
    assert '@link(url: "https://specs.apollo.dev/federation/v2.3"' in sdl
    assert 'type Invoice @key(fields: "id")' in sdl
    assert 'type Customer @key(fields: "id")' in sdl  # extended here with `invoices`
    assert 'type Product @key(fields: "id", resolvable: false)' in sdl
    assert "entityTypes: [String!]! @shareable" in sdl


async def test_a_failing_source_fails_the_same_fields_through_the_router(
    node_gateway: list[str],
) -> None:
    customers, invoices, products = shop()
    products.schema = PRODUCT.model_copy(update={"domain": "products"})
    products.fail = SourceUnavailable("pim down", adapter="products_rest")
    registry = MemoryRegistry([customers, invoices, products])
    query = (
        '{ invoice(id: "inv-1-1") { invoiceNumber customer { name }'
        " items { quantity product { sku } } } }"
    )
    one = await build_schema(registry).execute(query, context_value=GatewayContext(registry))
    assert one.errors is not None
    async with (
        served_subgraphs(registry, None, subgraph_names(registry.schemas())) as urls,
        apollo_gateway(node_gateway, [f"{n}={u}" for n, u in urls.items()]) as gateway_url,
        httpx.AsyncClient(timeout=20) as client,
    ):
        body = (await client.post(gateway_url, json={"query": query})).json()
    assert body["data"] == one.data
    assert body["data"]["invoice"]["customer"] == {"name": "Customer 1"}
    assert sorted((tuple(e["path"]), e["extensions"]["code"]) for e in body["errors"]) == sorted(
        (tuple(e.path or ()), (e.extensions or {})["code"]) for e in one.errors
    )
    assert all(e["extensions"]["serviceName"] == "products" for e in body["errors"])
    assert all("stacktrace" not in e["extensions"] for e in body["errors"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


async def test_composition_fails_clearly_when_a_subgraph_is_down(
    node_gateway: list[str],
) -> None:
    registry = AdapterRegistry()
    for kind in ("customers_directus", "products_rest", "invoices_ecommerce"):
        registry.register(
            registry.build(AdapterConfig(name=kind, kind=kind, base_url="http://127.0.0.1:9"))
        )
    async with served_subgraphs(registry, None, ["customers", "invoices", "catalog"]) as urls:
        down = f"http://{HOST}:{_free_port()}/graphql"
        args = [f"{name}={url}" for name, url in urls.items()] + [f"products={down}"]
        with pytest.raises(GatewayFailed) as failed:
            async with apollo_gateway(node_gateway, args):
                pass
    message = str(failed.value)
    assert FAILED.strip() in message
    assert "products" in message
    assert down in message


def test_dictamesh_supergraph_output_composes_with_apollo_composition(
    node_compose: list[str], tmp_path: Path
) -> None:
    """`dictamesh supergraph --format json` | compose.mjs: a supergraph, and not one hint."""
    config = tmp_path / "mesh.yaml"
    config.write_text(
        "adapters:\n"
        + "".join(
            f"  - {{name: {kind}, kind: {kind}, base_url: 'http://127.0.0.1:9'}}\n"
            for kind in ("customers_directus", "products_rest", "invoices_ecommerce")
        )
    )
    printed = subprocess.run(
        [sys.executable, "-m", "dictamesh", "supergraph", "-c", str(config), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert [s["name"] for s in json.loads(printed)["subgraphs"]] == [
        "customers",
        "invoices",
        "products",
        "catalog",
    ]
    proc = subprocess.run(
        node_compose, input=printed, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no composition error, and no hint either
    for name in ("CUSTOMERS", "INVOICES", "PRODUCTS", "CATALOG"):
        assert f"{name} @join__graph" in proc.stdout
