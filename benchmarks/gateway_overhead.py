"""Gateway CPU per query: the node's GraphQL schema vs bare graphql-core over the same data.

    python benchmarks/gateway_overhead.py                       # 2000 queries x 5 rounds
    python benchmarks/gateway_overhead.py --queries 500 --rounds 3

No network and no sources: the three reference data products (``customer``, ``invoice``,
``product``) are served by in-memory adapters holding the sample sources' seed data
(``dictamesh.sources.seed``) turned into entities by the reference adapters' own
``transform``, so the gateway sees exactly the entities a node would.

Three ways answer the same two queries — an entity query ``customer(id)`` and the
cross-domain ``customer → invoices → items → product``:

- **node**: the schema the node serves (``build_live_schema`` with the node's default
  limits, the text-literal rule, threaded parse and the document cache that ``GraphQLApp``
  installs, the tracing extension ``instrument_app`` adds), executed with a fresh
  ``GatewayContext`` (fresh DataLoaders) per query, the default governance active and an
  admin caller bound (PII readable in clear, as the bare schema answers it);
- **bare**: ``graphql.build_schema`` from SDL with plain dict resolvers, parse + validate
  + execute per query;
- **bare execute-only**: the same, with the document parsed and validated once up front.

Each is timed with ``time.process_time`` over ``--queries`` warm queries; the modes
alternate within each round so machine drift hits them alike, and the figures are the
median of the rounds with their range. The answers must be equal (same JSON data) or the
script fails. Two KPI lines compare the node with bare parse + validate + execute (goal
<= 1.0x) and with bare execute only (goal <= 3x).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import graphql

sys.path.insert(0, str(Path(__file__).parent))
from _kpi import Kpi, record

from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.api.graphql_http import GraphQLApp
from dictamesh.core.context import bind
from dictamesh.core.models import (
    SLA,
    AdapterMetrics,
    ChangeEvent,
    Entity,
    EntitySchema,
    FilterOp,
    HealthState,
    HealthStatus,
    Lineage,
    Page,
    Query,
)
from dictamesh.core.principal import Principal
from dictamesh.core.settings import AdapterConfig, GraphQLSettings
from dictamesh.gateway import GatewayContext
from dictamesh.gateway.limits import QueryLimits, install_limits
from dictamesh.gateway.observability import GraphQLTracing
from dictamesh.gateway.subscriptions import build_live_schema
from dictamesh.governance.enforce import Governance
from dictamesh.sources.seed import generate

ENTITY_QUERY = """
query ($id: ID!) {
  customer(id: $id) { firstName lastName email country status }
}"""
CROSS_DOMAIN_QUERY = """
query ($id: ID!) {
  customer(id: $id) {
    firstName lastName email
    invoices { invoiceNumber items { quantity product { sku name } } }
  }
}"""

BARE_SDL = """
type Query { customer(id: ID!): Customer }
type Customer {
  id: ID! firstName: String lastName: String email: String! country: String status: String
  invoices: [Invoice!]
}
type Invoice { id: ID! invoiceNumber: String! items: [InvoiceItem!]! }
type InvoiceItem { quantity: Int! product: Product }
type Product { id: ID! sku: String! name: String! }
"""


# --- the in-memory data products ----------------------------------------------------------


class MemoryProduct(DataProductAdapter):
    """A data product over a dict of entities: by id, and ``in``/``eq`` filters."""

    def __init__(self, name: str, schema: EntitySchema, entities: Iterable[Entity]) -> None:
        self.name = name
        self.schema = schema
        self.entity_type = schema.entity_type
        self.entities = {e.id: e for e in entities}
        self.source = next(iter(self.entities.values())).source

    async def get_entity(self, entity_id: str) -> Entity:
        return self.entities[entity_id]

    async def get_entities(self, entity_ids: Sequence[str]) -> list[Entity | None]:
        return [self.entities.get(i) for i in entity_ids]

    async def query_entities(self, query: Query) -> Page:
        rows: Iterable[Entity] = self.entities.values()
        if query.ids is not None:
            rows = [self.entities[i] for i in query.ids if i in self.entities]
        for f in query.filters:
            wanted = set(f.value) if f.op is FilterOp.IN else {f.value}
            rows = [e for e in rows if e.attributes.get(f.field) in wanted]
        return Page(items=list(rows)[: query.limit])

    def get_schema(self) -> EntitySchema:
        return self.schema

    def get_sla(self) -> SLA:
        return SLA(freshness_seconds=60, availability_target=0.99, latency_p95_ms=100)

    def get_lineage(self) -> Lineage:
        return Lineage(entity_type=self.entity_type, edges=[])

    async def stream_changes(self) -> AsyncIterator[ChangeEvent]:  # pragma: no cover
        return
        yield

    async def health_check(self) -> HealthStatus:
        return HealthStatus(status=HealthState.HEALTHY)

    def get_metrics(self) -> AdapterMetrics:
        return AdapterMetrics(adapter=self.name)


class MemoryMesh:
    """The registry surface the gateway uses, over :class:`MemoryProduct` data products."""

    def __init__(self, products: Iterable[MemoryProduct]) -> None:
        self.products = {p.entity_type: p for p in products}

    def for_type(self, entity_type: str) -> DataProductAdapter:
        return self.products[entity_type]

    def entity_types(self) -> list[str]:
        return sorted(self.products)

    def schemas(self) -> dict[str, EntitySchema]:
        return {t: p.get_schema() for t, p in self.products.items()}


def sample_mesh(seed: int) -> MemoryMesh:
    """The sample sources' data as the reference adapters transform it (no connection)."""
    data = generate(seed=seed)
    rows = {
        "customers_directus": data.customers,
        "products_rest": data.products,
        "invoices_ecommerce": data.invoices,
    }
    registry = AdapterRegistry()
    products = []
    for kind, raw in rows.items():
        config = AdapterConfig(
            name=kind, kind=kind, base_url="http://memory.invalid", poll_interval_seconds=None
        )
        adapter = registry.build(config)
        products.append(
            MemoryProduct(kind, adapter.get_schema(), [adapter.transform(r) for r in raw])
        )
    return MemoryMesh(products)


# --- the two servers ----------------------------------------------------------------------


def node_schema(mesh: MemoryMesh) -> Any:
    """The node's one-node schema, with what ``create_app`` and ``instrument_app`` add."""
    settings = GraphQLSettings()
    schema = build_live_schema(mesh, None, max_depth=None)
    install_limits(schema, QueryLimits.from_settings(settings))
    GraphQLApp(schema, mesh, settings=settings, graphql_ide=False)  # text rule, parse, cache
    schema.extensions = (GraphQLTracing, *schema.extensions)  # as instrument_app does
    return schema


def bare_schema(mesh: MemoryMesh) -> graphql.GraphQLSchema:
    """SDL + dict resolvers over the same attributes (camelCase keys, indexes by id)."""
    customers = {e.id: e.attributes for e in mesh.products["customer"].entities.values()}
    products = {e.id: e.attributes for e in mesh.products["product"].entities.values()}
    invoices_of: dict[str, list[Mapping[str, Any]]] = {}
    for invoice in mesh.products["invoice"].entities.values():
        invoices_of.setdefault(str(invoice.attributes["customer_id"]), []).append(
            invoice.attributes
        )

    schema = graphql.build_schema(BARE_SDL)

    def resolver(type_name: str, field: str, fn: Callable[..., Any]) -> None:
        found = schema.get_type(type_name)
        assert isinstance(found, graphql.GraphQLObjectType)
        found.fields[field].resolve = fn

    def attribute(name: str) -> Callable[..., Any]:
        return lambda obj, _info: obj.get(name)

    resolver("Query", "customer", lambda _root, _info, id: customers.get(id))
    resolver("Customer", "invoices", lambda c, _info: invoices_of.get(c["id"], []))
    resolver("InvoiceItem", "product", lambda item, _info: products.get(item["product_id"]))
    resolver("Customer", "firstName", attribute("first_name"))
    resolver("Customer", "lastName", attribute("last_name"))
    resolver("Invoice", "invoiceNumber", attribute("invoice_number"))
    return schema


# --- the measurement ----------------------------------------------------------------------


class Case:
    """One query against the three servers, for a set of customer ids."""

    def __init__(self, name: str, query: str, node: Any, bare: graphql.GraphQLSchema) -> None:
        self.name = name
        self.query = query
        self.node = node
        self.bare = bare
        self.document = graphql.parse(query)
        errors = graphql.validate(bare, self.document)
        assert not errors, errors

    async def run_node(self, mesh: MemoryMesh, customer: str) -> Any:
        result = await self.node.execute(
            self.query, variable_values={"id": customer}, context_value=GatewayContext(mesh)
        )
        if result.errors:
            raise RuntimeError(f"node: {result.errors}")
        return result.data

    def run_bare(self, customer: str) -> Any:
        document = graphql.parse(self.query)
        errors = graphql.validate(self.bare, document)
        if errors:
            raise RuntimeError(f"bare: {errors}")
        return self.execute_bare(document, customer)

    def execute_bare(self, document: graphql.DocumentNode, customer: str) -> Any:
        result = graphql.execute(self.bare, document, variable_values={"id": customer})
        assert not isinstance(result, Awaitable)
        if result.errors:
            raise RuntimeError(f"bare: {result.errors}")
        return result.data

    def run_execute_only(self, customer: str) -> Any:
        return self.execute_bare(self.document, customer)


async def cpu_ms(run: Callable[[str], Any], customers: Sequence[str], n: int) -> float:
    """CPU milliseconds per query over ``n`` queries (``run`` may be async)."""
    start = time.process_time()
    for i in range(n):
        answer = run(customers[i % len(customers)])
        if asyncio.iscoroutine(answer):
            await answer
    return (time.process_time() - start) * 1000 / n


async def measure(
    case: Case, mesh: MemoryMesh, customers: Sequence[str], args: argparse.Namespace
) -> dict[str, list[float]]:
    modes: dict[str, Callable[[str], Any]] = {
        "node": lambda c: case.run_node(mesh, c),
        "bare": case.run_bare,
        "execute-only": case.run_execute_only,
    }
    for customer in customers:  # same answers, or the comparison means nothing
        node = await case.run_node(mesh, customer)
        if not (node == case.run_bare(customer) == case.run_execute_only(customer)):
            raise SystemExit(f"{case.name}: answers differ for customer {customer}")
    for run in modes.values():  # warm: caches, code paths
        await cpu_ms(run, customers, max(50, args.queries // 10))
    figures: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(args.rounds):
        for mode, run in modes.items():
            figures[mode].append(await cpu_ms(run, customers, args.queries))
    return figures


def _span(values: list[float]) -> str:
    return f"{statistics.median(values):6.3f} ({min(values):.3f}-{max(values):.3f})"


async def main(args: argparse.Namespace) -> None:
    mesh = sample_mesh(args.seed)
    node, bare = node_schema(mesh), bare_schema(mesh)
    invoices = mesh.products["invoice"].entities.values()
    invoiced = {str(e.attributes["customer_id"]) for e in invoices}
    customers = sorted(invoiced)[: args.customers]
    cases = [
        Case("entity customer(id)", ENTITY_QUERY, node, bare),
        Case("cross-domain customer→invoices→items→product", CROSS_DOMAIN_QUERY, node, bare),
    ]
    print(
        f"CPU ms per query (median of {args.rounds} rounds, range), {args.queries} warm"
        f" queries per round over {len(customers)} customers"
    )
    print(f"{'query':48} {'node':>22} {'bare p+v+e':>22} {'bare execute':>22}")
    ratios: list[tuple[float, float, float, float]] = []
    admin = Principal(subject="benchmark", roles=frozenset({"admin"}))
    with Governance().use(), bind(admin):
        for case in cases:
            figures = await measure(case, mesh, customers, args)
            node_ms = statistics.median(figures["node"])
            bare_ms = statistics.median(figures["bare"])
            exec_ms = statistics.median(figures["execute-only"])
            ratios.append((node_ms / bare_ms, bare_ms, node_ms / exec_ms, exec_ms))
            print(
                f"{case.name:48} {_span(figures['node']):>22} {_span(figures['bare']):>22}"
                f" {_span(figures['execute-only']):>22}"
            )
            print(
                f"{'':48} node/bare {node_ms / bare_ms:.2f}x,"
                f" node/execute-only {node_ms / exec_ms:.2f}x"
            )
    # The goal holds for every query: the KPI is the worse of the two.
    vs_bare = max(ratios, key=lambda r: r[0])
    vs_exec = max(ratios, key=lambda r: r[2])
    record(
        Kpi(
            figure="gateway CPU per query vs bare graphql-core parse+validate+execute",
            value=vs_bare[0],
            unit="x",
            goal="<= 1.0",
            baseline=f"bare {vs_bare[1]:.2f} ms",
            ratio=vs_bare[0],
        )
    )
    record(
        Kpi(
            figure="gateway CPU per query vs bare graphql-core execute only",
            value=vs_exec[2],
            unit="x",
            goal="<= 3.0",
            baseline=f"bare {vs_exec[3]:.2f} ms",
            ratio=vs_exec[2],
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    cli: Any = parser.parse_args()
    asyncio.run(main(cli))
