"""CreateInvoiceSaga throughput and latency vs the same source calls made by a bare script.

    python benchmarks/saga_throughput.py                       # SQLite catalog, 300 sagas
    python benchmarks/saga_throughput.py --backend postgres    # catalog on PostgreSQL
    python benchmarks/saga_throughput.py --backend production  # PostgreSQL, Kafka and Redis
                                                               # (scripts/services.sh env)
    python benchmarks/saga_throughput.py --sagas 500 --concurrency 16

The sample sources run in a process of their own (as real sources would), unthrottled. Both
modes make, per order, the same source calls at the same concurrency: read the product,
reserve it, create the invoice, charge the customer. *bare* is a plain script with httpx and
no durability at all; *saga* starts each order as a CreateInvoiceSaga on a mesh node (saga
row, step log before and after each step, leases, events, governance, audit) and waits for
it to complete, once the node's initial sync of the sources is in the catalog (steady
state). Rounds alternate the modes so machine drift hits both alike. It prints
sagas/s and p50/p95 end to end per mode, and the saga/bare throughput ratio (target >= 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from _node import initial_sync_done
from pydantic import SecretStr

from dictamesh.demo import ProductionUrls, demo_settings
from dictamesh.node import MeshNode
from dictamesh.saga.store import SagaStatus
from dictamesh.sources.runner import SourceEndpoints

PRODUCTS = ["prd_1001", "prd_1002", "prd_1003"]

_SOURCES = """
import asyncio, json, sys
from dictamesh.sources.runner import run_sample_sources
async def main():
    async with run_sample_sources(products_rate_limit=None) as s:
        print(json.dumps(s.endpoints().__dict__), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def sources_process() -> AsyncIterator[SourceEndpoints]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SOURCES, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        yield SourceEndpoints(**json.loads(await proc.stdout.readline()))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 10)


def order(i: int) -> dict[str, Any]:
    return {
        "customer_id": "1",
        "currency": "EUR",
        "items": [{"product_id": PRODUCTS[i % len(PRODUCTS)], "quantity": 1}],
    }


async def restock(endpoints: SourceEndpoints) -> None:
    async with httpx.AsyncClient(base_url=endpoints.products_url) as client:
        for product in PRODUCTS:
            answer = await client.patch(
                f"/v1/products/{product}",
                json={"stock": 10_000_000},
                headers={"X-API-Key": endpoints.products_api_key},
            )
            answer.raise_for_status()


class Bare:
    """The same calls, straight to the sources, remembering nothing."""

    def __init__(self, endpoints: SourceEndpoints) -> None:
        self.e = endpoints
        self.client = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64))

    async def run(self, i: int) -> None:
        e, c, key = self.e, self.client, uuid.uuid4().hex
        products = {"X-API-Key": e.products_api_key}
        line = order(i)["items"][0]
        product = (await c.get(f"{e.products_url}/v1/products/{line['product_id']}",
                               headers=products)).json()  # fmt: skip
        reserved = await c.post(
            f"{e.products_url}/v1/reservations",
            json={"product_id": line["product_id"], "quantity": 1},
            headers={**products, "Idempotency-Key": f"{key}-r"},
        )
        reserved.raise_for_status()
        invoice = await c.post(
            f"{e.invoices_url}/api/invoices",
            json={"invoice": {"customer_id": "1", "currency": "EUR", "line_items": [
                {"product_id": line["product_id"], "quantity": 1,
                 "unit_price_cents": product["price_cents"]}]}},
            headers={"Authorization": f"Bearer {e.invoices_token}", "Idempotency-Key": f"{key}-i"},
        )  # fmt: skip
        invoice.raise_for_status()
        charged = await c.post(
            f"{e.payments_url}/v1/charges",
            json={"amount_cents": product["price_cents"], "currency": "EUR", "customer_id": "1",
                  "invoice_id": invoice.json()["invoice"]["id"]},
            headers={"Authorization": f"Bearer {e.payments_token}", "Idempotency-Key": f"{key}-c"},
        )  # fmt: skip
        charged.raise_for_status()


async def timed(
    run: Callable[[int], Awaitable[None]], count: int, concurrency: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    todo = iter(range(count))

    async def worker() -> None:
        for i in todo:
            started = time.perf_counter()
            await run(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


async def main(args: argparse.Namespace) -> None:
    async with sources_process() as endpoints:
        await restock(endpoints)
        with tempfile.TemporaryDirectory() as tmp:
            urls = ProductionUrls.from_env() if args.backend != "sqlite" else None
            backend = "production" if args.backend == "production" else "embedded"
            settings = demo_settings(endpoints, Path(tmp), backend, poll=60.0, urls=urls)
            if args.backend == "postgres" and urls is not None:  # the bus and cache embedded
                owner = SecretStr(urls.migration_url) if urls.migration_url else None
                catalog = {"url": SecretStr(urls.catalog_url), "migration_url": owner}
                settings = settings.model_copy(
                    update={"catalog": settings.catalog.model_copy(update=catalog)}
                )
            async with MeshNode(settings) as node:
                assert node.sagas is not None
                await initial_sync_done(node)
                engine = node.sagas.engine

                async def saga(i: int) -> None:
                    record, _ = await engine.start("create_invoice", order(i))
                    done = await engine.wait(record.id, timeout=60, known=record)
                    if done.status is not SagaStatus.COMPLETED:
                        raise RuntimeError(f"saga {record.id} ended {done.status}: {done.error}")

                bare = Bare(endpoints)
                await timed(bare.run, 20, 4)  # warm both paths up
                await timed(saga, 20, 4)
                results: dict[str, tuple[float, list[float]]] = {
                    "bare": (0.0, []),
                    "saga": (0.0, []),
                }
                per_round = args.sagas // args.rounds
                for _ in range(args.rounds):
                    for name, run in (("bare", bare.run), ("saga", saga)):
                        took, lat = await timed(run, per_round, args.concurrency)
                        total, all_lat = results[name]
                        results[name] = (total + took, all_lat + lat)
                await bare.client.aclose()
    print(f"backend={args.backend} sagas={per_round * args.rounds} per mode, "
          f"concurrency={args.concurrency}, rounds={args.rounds}")  # fmt: skip
    rates = {}
    for name, (took, lat) in results.items():
        rates[name] = len(lat) / took
        print(f"  {name:5s} {rates[name]:7.1f} orders/s   p50 {pct(lat, 50):6.1f} ms"
              f"   p95 {pct(lat, 95):6.1f} ms")  # fmt: skip
    print(f"  saga/bare throughput ratio: {rates['saga'] / rates['bare']:.2f} (target >= 0.5)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgres", "production"], default="sqlite")
    parser.add_argument("--sagas", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    os.environ.setdefault("DICTAMESH_OBSERVABILITY__LOG_LEVEL", "WARNING")
    asyncio.run(main(parser.parse_args()))
