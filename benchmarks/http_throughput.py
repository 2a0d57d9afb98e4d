"""Entity and cross-domain GraphQL queries on a whole node vs a bare Starlette route.

    python benchmarks/http_throughput.py                  # 8 s per phase, 32 at once
    python benchmarks/http_throughput.py --seconds 15 --concurrency 64

One uvicorn server in this process serves both the node (``MeshNode.asgi_app()``: the
embedded demo mesh over the sample sources, adapter cache on, every default middleware:
auth, governance, tracing, metrics, limits) and, beside it under ``/bare``, a bare Starlette
route returning the *same JSON* the node answered (captured first, re-encoded per request).
The sample sources run in a child process, the load generator (``benchmarks/_load.py``) in
another, so the three do not share an interpreter.

Phases, each after a warm-up:
1. closed loop, ``--concurrency`` at once: requests/second of the node's
   ``customer(id)`` vs the bare route → the throughput ratio (goal >= 0.8x);
2. open loop at half the bare route's capacity: p95 of ``customer(id)`` (goal ≤ 25 ms) and
   of the cross-domain query ``customer → invoices → items → product`` (goal ≤ 100 ms),
   latency counted from each request's scheduled start; the bare route at the same rate is
   the floor.

Measured once the node's initial sync of the sources is in the catalog (the steady
state). The node runs one process, so these are per-core figures for the server (the load
generator and the sources use the machine's other core).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from _kpi import Kpi, record
from _node import initial_sync_done
from graphql_cross_domain import QUERY as CROSS
from graphql_cross_domain import customers_with_invoices, sample_sources
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dictamesh._serving import serve_in_process
from dictamesh.demo import demo_settings
from dictamesh.node import MeshNode

HOST = "127.0.0.1"
ENTITY = "query ($id: ID!) { customer(id: $id) { id firstName lastName email } }"
QUERIES = {"entity": ENTITY, "cross": CROSS}


def bare_app(answers: dict[tuple[str, str], Any]) -> Starlette:
    async def answer(request: Request) -> JSONResponse:
        return JSONResponse(answers[(request.path_params["kind"], request.path_params["id"])])

    return Starlette(routes=[Route("/bare/{kind}/{id}", answer)])


def side_by_side(node_app: Any, bare: Any) -> Any:
    """``/bare/…`` to the bare app (none of the node's middleware), the rest to the node."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        target = bare if scope.get("path", "").startswith("/bare/") else node_app
        await target(scope, receive, send)

    return app


async def load(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("_load.py")),
            f.name,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await child.communicate()
    finally:
        os.unlink(f.name)
    if child.returncode != 0:
        raise RuntimeError("the load generator failed")
    result: dict[str, Any] = json.loads(out)
    if result["errors"]:  # an overloaded run says so; its latencies count only answers
        print(f"  ! {result['errors']} requests failed, first: {result['first_error']}")
    if not result["requests"]:
        raise RuntimeError(f"no request was answered: {result}")
    return result


def node_spec(url: str, kind: str, ids: list[str], **load_args: Any) -> dict[str, Any]:
    bodies = [json.dumps({"query": QUERIES[kind], "variables": {"id": i}}) for i in ids]
    return {"url": url, "paths": ["/graphql"], "bodies": bodies, **load_args}


def bare_spec(url: str, kind: str, ids: list[str], **load_args: Any) -> dict[str, Any]:
    return {"url": url, "paths": [f"/bare/{kind}/{i}" for i in ids], **load_args}


def line(name: str, r: dict[str, Any]) -> None:
    print(
        f"  {name:<44} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms"
        f"  p95 {r['p95_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
        f"  ({r['requests']} answered, {r['errors']} failed)"
    )


async def main(args: argparse.Namespace) -> None:
    async with sample_sources(in_process=False) as sources:
        with tempfile.TemporaryDirectory() as tmp:
            settings = demo_settings(sources, Path(tmp), poll=3600.0)
            # the load generator is the only client: no per-client rate limit in the way
            graphql = settings.graphql.model_copy(update={"rate_limit_per_second": 0})
            settings = settings.model_copy(update={"graphql": graphql})
            async with MeshNode(settings) as node:
                await initial_sync_done(node)
                ids = await customers_with_invoices(node.registry, args.customers)
                node_app = node.asgi_app()
                answers: dict[tuple[str, str], Any] = {}
                transport = httpx.ASGITransport(app=node_app)
                async with httpx.AsyncClient(transport=transport, base_url="http://n") as c:
                    for kind, query in QUERIES.items():
                        for i in ids:
                            body = {"query": query, "variables": {"id": i}}
                            answer = (await c.post("/graphql", json=body)).json()
                            if "errors" in answer:
                                raise RuntimeError(f"the node answered {answer}")
                            answers[(kind, i)] = answer
                app = side_by_side(node_app, bare_app(answers))
                async with serve_in_process(app, HOST, 0, what="benchmark") as url:
                    await phases(url, ids, args)


async def phases(url: str, ids: list[str], args: argparse.Namespace) -> None:
    closed = {"mode": "closed", "concurrency": args.concurrency, "seconds": args.seconds}
    print(f"closed loop, {args.concurrency} at once, {args.seconds:.0f} s each:")
    bare = await load(bare_spec(url, "entity", ids, **closed))
    line("bare Starlette route (same JSON)", bare)
    node = await load(node_spec(url, "entity", ids, **closed))
    line("node: customer(id)", node)
    ratio = node["rps"] / bare["rps"]
    record(
        Kpi(
            figure="entity query throughput vs a bare Starlette route",
            value=ratio,
            unit="x",
            goal=">= 0.8",
            baseline=f"bare {bare['rps']:.0f} req/s, node {node['rps']:.0f} req/s",
            ratio=ratio,
        )
    )

    rate = bare["rps"] / 2
    opened = {"mode": "open", "rate": rate, "seconds": args.seconds}
    print(f"open loop at {rate:.0f} req/s (half the bare route's capacity):")
    floor = await load(bare_spec(url, "entity", ids, **opened))
    line("bare Starlette route", floor)
    for kind, figure, goal in (
        ("entity", "entity query p95 at half the bare capacity", 25),
        ("cross", "cross-domain query p95 at half the bare capacity, cache on", 100),
    ):
        result = await load(node_spec(url, kind, ids, **opened))
        line(f"node: {'customer(id)' if kind == 'entity' else 'cross-domain'}", result)
        record(
            Kpi(
                figure=figure,
                value=result["p95_ms"],
                unit="ms",
                goal=f"<= {goal}",
                baseline=f"bare route p95 {floor['p95_ms']:.1f} ms at {rate:.0f} req/s"
                + (f"; {result['errors']} requests FAILED" if result["errors"] else ""),
                ratio=result["p95_ms"] / floor["p95_ms"],
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--customers", type=int, default=40)
    asyncio.run(main(parser.parse_args()))
