"""The cross-domain GraphQL query, DataLoader gateway vs naive per-item resolvers.

    python benchmarks/graphql_cross_domain.py                    # 400 requests, 16 at once
    python benchmarks/graphql_cross_domain.py --requests 1000 --concurrency 32
    python benchmarks/graphql_cross_domain.py --adapter-cache    # adapters keep their L1 cache

Runs the three sample sources (``dictamesh.sources``, in a child process so they do not
share the gateway's CPU; ``--in-process`` keeps them in this one), the three reference
adapters against them, and the one-node GraphQL app (``GraphQLApp`` over
``build_schema``, on uvicorn on a free local port), then sends::

    query ($id: ID!) { customer(id: $id) { firstName lastName email
      invoices { invoiceNumber items { quantity product { sku name } } } } }

for customers that have invoices, ``--concurrency`` at a time over HTTP, twice in the same
run: through the gateway as it is (per-request DataLoaders: one source call per entity
type and level) and through the *same schema* with naive resolvers — every relationship
loaded on its own (a DataLoader per call, batch size 1, no per-request cache), which is
what a hand-written resolver per field does. It prints requests/second, p50/p95 latency,
the source calls each made (adapter metrics; the sources' own request counters agree) and
per request, and the ratios, and records the KPI "source calls per cross-domain request
(3 levels)" (goal: <= 3, one batched call per relationship level whatever the fan-out).

By default the adapters get no entity cache, so every load is a source call (the cost a
DataLoader saves); ``--adapter-cache`` gives them their usual in-memory cache.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
from _kpi import Kpi, record
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from dictamesh._serving import serve_in_process
from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.api.graphql_http import GraphQLApp
from dictamesh.cache.tiered import TieredCache
from dictamesh.core.models import MAX_QUERY_LIMIT, Entity, FieldType, Query
from dictamesh.core.settings import GraphQLSettings
from dictamesh.gateway import GatewayContext, build_schema
from dictamesh.gateway.loaders import Loaders
from dictamesh.sources.runner import (
    SourceEndpoints,
    reference_adapter_configs,
    run_sample_sources,
)

QUERY = """
query ($id: ID!) {
  customer(id: $id) {
    firstName lastName email
    invoices { invoiceNumber items { quantity product { sku name } } }
  }
}"""
HOST = "127.0.0.1"


# --- the naive resolvers --------------------------------------------------------------------


class UnbatchedLoaders(Loaders):
    """Every ``load`` is its own source call: a fresh loader per call, batches of one, no
    cache — the resolvers then behave like naive per-item ones."""

    def entity(self, entity_type: str) -> DataLoader[str, Entity | None]:
        return DataLoader(partial(self._load_entities, entity_type), max_batch_size=1, cache=False)

    def related(
        self, entity_type: str, via_field: str, key_type: FieldType | None = None
    ) -> DataLoader[str, list[Entity]]:
        load = partial(self._load_related, entity_type, via_field, key_type)
        return DataLoader(load, max_batch_size=1, cache=False)

    def prime(self, entities: Iterable[Entity]) -> None:
        pass


class NaiveGraphQLApp(GraphQLApp):
    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GatewayContext:
        context = await super().get_context(request, response)
        context.loaders = UnbatchedLoaders(context.registry)
        return context


# --- sources ----------------------------------------------------------------------------------


async def _serve_sources_until_stdin_closes() -> None:
    async with run_sample_sources(host=HOST, products_rate_limit=None) as s:
        print(json.dumps(dataclasses.asdict(s.endpoints())), flush=True)
        await asyncio.to_thread(sys.stdin.read)


@contextlib.asynccontextmanager
async def sample_sources(in_process: bool) -> AsyncIterator[SourceEndpoints]:
    if in_process:
        async with run_sample_sources(host=HOST, products_rate_limit=None) as s:
            yield s.endpoints()
        return
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve-sources",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 30)
        if not line:
            raise RuntimeError("the sample sources did not start")
        yield SourceEndpoints(**json.loads(line))
    finally:
        child.stdin.close()  # the child stops when its stdin closes
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.kill()
            await child.wait()


async def source_requests(client: httpx.AsyncClient, sources: SourceEndpoints) -> int:
    """Requests the three sources served so far, their admin routes not counted."""
    total = 0
    for url in (sources.customers_url, sources.products_url, sources.invoices_url):
        stats = (await client.get(f"{url}/_admin/stats")).json()["requests"]
        total += sum(n for path, n in stats.items() if not path.startswith("/_admin"))
    return total


# --- the measurement --------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    adapter_calls: int
    source_requests: int
    #: CPU seconds of this process over the run (set by callers that measure it)
    cpu_seconds: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def adapter_calls(registry: AdapterRegistry) -> int:
    return sum(a.get_metrics().calls for a in registry.adapters())


async def ask(client: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": QUERY, "variables": {"id": customer_id}}
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors") or not body["data"]["customer"]:
        raise RuntimeError(f"customer {customer_id}: HTTP {response.status_code} {body}")
    return dict(body["data"])


async def measure(
    name: str,
    app: GraphQLApp,
    registry: AdapterRegistry,
    sources: SourceEndpoints,
    customers: list[str],
    requests: int,
    concurrency: int,
) -> tuple[Result, dict[str, Any]]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with (
        serve_in_process(app, HOST, 0, what=name) as url,
        httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client,
        httpx.AsyncClient(timeout=10) as admin,
    ):
        sample = await ask(client, customers[0])
        await asyncio.gather(*(ask(client, c) for c in customers[:concurrency]))  # warm-up
        calls_before = adapter_calls(registry)
        served_before = await source_requests(admin, sources)
        latencies: list[float] = []
        next_index = iter(range(requests))

        async def worker() -> None:
            for i in next_index:
                started = time.perf_counter()
                await ask(client, customers[i % len(customers)])
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        calls = adapter_calls(registry) - calls_before
        served = await source_requests(admin, sources) - served_before
    return Result(name, requests, elapsed, latencies, calls, served), sample


async def customers_with_invoices(registry: AdapterRegistry, count: int) -> list[str]:
    invoices = registry.for_type("invoice")
    found: dict[str, None] = {}
    query = Query(limit=MAX_QUERY_LIMIT)
    while True:
        page = await invoices.query_entities(query)
        for invoice in page.items:
            found.setdefault(str(invoice.attributes["customer_id"]))
        if not page.next_cursor:
            break
        query = query.model_copy(update={"cursor": page.next_cursor})
    return sorted(found, key=int)[:count]


async def main(args: argparse.Namespace) -> None:
    async with sample_sources(args.in_process) as sources:
        registry = AdapterRegistry()
        for config in reference_adapter_configs(sources, poll_interval_seconds=None):
            deps: dict[str, Any] = {} if args.adapter_cache else {"cache": TieredCache([])}
            adapter = registry.register(registry.build(config, **deps))
            await adapter.connect()
        try:
            customers = await customers_with_invoices(registry, args.customers)
            schema = build_schema(registry)
            # The benchmark is the client: no rate limit, no timeout in the way.
            settings = GraphQLSettings(rate_limit_per_second=0, timeout_seconds=0)
            results = []
            samples = []
            for name, app_class in (
                ("DictaMesh (DataLoader)", GraphQLApp),
                ("naive per-item resolvers", NaiveGraphQLApp),
            ):
                app = app_class(schema, registry, settings=settings, graphql_ide=False)
                result, sample = await measure(
                    name, app, registry, sources, customers, args.requests, args.concurrency
                )
                results.append(result)
                samples.append(sample)
            if samples[0] != samples[1]:
                raise RuntimeError("the two resolvers answered differently")
        finally:
            for adapter in registry.adapters():
                await adapter.aclose()
    report(results, args, len(customers))


def report(results: list[Result], args: argparse.Namespace, customers: int) -> None:
    cache = "on" if args.adapter_cache else "off"
    print(
        f"cross-domain query customer -> invoices -> items -> product; {args.requests} requests,"
        f" concurrency {args.concurrency}, {customers} customers, adapter cache {cache}"
    )
    print(
        f"{'':26} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'source calls':>13}"
        f" {'per request':>12} {'HTTP at sources':>16}"
    )
    for r in results:
        print(
            f"{r.name:26} {r.rps:8.1f} {r.percentile(0.5):8.1f} {r.percentile(0.95):8.1f}"
            f" {r.adapter_calls:13d} {r.adapter_calls / r.requests:12.2f} {r.source_requests:16d}"
        )
    fast, naive = results
    print(
        f"{'ratio (DataLoader/naive)':26} {fast.rps / naive.rps:7.2f}x"
        f" {fast.percentile(0.5) / naive.percentile(0.5):8.2f} "
        f"{fast.percentile(0.95) / naive.percentile(0.95):8.2f}"
        f" {fast.adapter_calls / max(1, naive.adapter_calls):13.2f}"
    )
    print(
        f"mean latency ms: {', '.join(f'{statistics.fmean(r.latencies_ms):.1f}' for r in results)}"
    )
    print(
        f"source calls per request: {fast.adapter_calls / fast.requests:.2f} (DataLoader),"
        f" {naive.adapter_calls / naive.requests:.2f} (naive); HTTP requests at the sources"
        f" per request: {fast.source_requests / fast.requests:.2f}"
    )
    figure = "source calls per cross-domain request (3 levels)"
    if args.adapter_cache:  # repeated customers are answered from the cache
        figure += ", adapter cache on"
    record(
        Kpi(
            figure=figure,
            value=fast.source_requests / fast.requests,
            unit="calls",
            goal="<= 3",
            baseline=f"naive per-item resolvers {naive.source_requests / naive.requests:.2f}"
            " per request, same run",
            ratio=fast.source_requests / naive.source_requests if naive.source_requests else None,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--customers", type=int, default=50, help="most customers asked")
    parser.add_argument("--adapter-cache", action="store_true")
    parser.add_argument("--in-process", action="store_true", help="sources in this process")
    parser.add_argument("--serve-sources", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sources:
        asyncio.run(_serve_sources_until_stdin_closes())
    else:
        asyncio.run(main(args))
