"""Per-core and whole-machine HTTP throughput: ``dictamesh serve --workers N`` vs a bare
Starlette route under ``uvicorn --workers N``.

    python benchmarks/http_workers.py                       # 1 and every core, 8 s phases
    python benchmarks/http_workers.py --workers 1,2 --rounds 2 --seconds 10

Real processes, as deployed: the node is ``dictamesh serve -c mesh.yaml --workers W`` (the
embedded demo mesh over the sample sources, adapter cache on, every default middleware,
the per-client rate limit off: the load generator is one client); the baseline is the bare
route of ``http_throughput.py`` (the same JSON the node answered, re-encoded per request)
served by ``uvicorn --workers W`` — **the bare route gets the same number of processes**,
so each ratio compares like with like. The sample sources run in a child process, the load
generator (``benchmarks/_load.py``) in another.

For each W: closed loop (``--concurrency`` at once) → node and bare requests/second and
their ratio; then an open loop at half the bare route's capacity (at that W) → the node's
``customer(id)`` p95 and the bare route's. W = 1 gives the per-core figures, W = N the
whole machine's; the scaling is rate(N) / rate(1). Both servers run at once and the rounds
alternate node and bare (the machine is shared: both see the same load). Each node run
also prints how the requests spread over its workers (their ``/metrics``), and its p95 at
half its *own* capacity (the load it can carry).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from enum import Enum
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import yaml
from _kpi import Kpi, record
from graphql_cross_domain import customers_with_invoices, sample_sources
from http_throughput import ENTITY, bare_spec, line, load, node_spec
from pydantic import SecretStr

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.catalog.service import CatalogService
from dictamesh.core.settings import usable_cores
from dictamesh.demo import demo_settings

HOST = "127.0.0.1"
URL_LINE = re.compile(r"on (http://\S+)")
WORKER = re.compile(r'^dictamesh_worker_info\{pid="(\d+)",worker="(\d+)"\} 1\.0$', re.M)
GRAPHQL_DONE = re.compile(
    r'^http_requests_total\{method="POST",route="/graphql",status="200"\} ([0-9.e+]+)$', re.M
)


def _plain(value: Any) -> Any:
    """Settings as YAML can hold them (secrets in clear: a throwaway config)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def _read_until(proc: asyncio.subprocess.Process, pattern: str, printed: str) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(180):
        while pattern not in printed:
            chunk = await proc.stdout.readline()
            if not chunk:
                raise RuntimeError(f"the server ended before {pattern!r}:\n{printed}")
            printed += chunk.decode()
    return printed


async def _drain_output(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.readline():  # uvicorn logs every request: keep the pipe empty
        pass


@contextlib.asynccontextmanager
async def _process(*argv: str, ready: str, env: dict[str, str]) -> AsyncIterator[str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env | {"PYTHONUNBUFFERED": "1", "COLUMNS": "300"},
    )
    drain: asyncio.Task[None] | None = None
    try:
        printed = await _read_until(proc, ready, "")
        drain = asyncio.create_task(_drain_output(proc))
        yield printed
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if drain is not None:
            drain.cancel()


@contextlib.asynccontextmanager
async def node_server(config: Path, workers: int) -> AsyncIterator[str]:
    argv = [sys.executable, "-m", "dictamesh", "serve", "-c", str(config), "--port", "0"]
    ready = f"workers: {workers}" if workers > 1 else "HTTP:"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICTAMESH_")}
    async with _process(*argv, "--workers", str(workers), ready=ready, env=env) as printed:
        found = URL_LINE.search(printed)
        assert found is not None, printed
        yield found.group(1)


@contextlib.asynccontextmanager
async def bare_server(answers: Path, workers: int) -> AsyncIterator[str]:
    port = _free_port()
    argv = [sys.executable, "-m", "uvicorn", "_bare_app:app", "--host", HOST, "--port", str(port)]
    argv += ["--workers", str(workers), "--no-access-log", "--app-dir", str(Path(__file__).parent)]
    env = dict(os.environ) | {"BARE_ANSWERS": str(answers)}
    ready = "Application startup complete"
    async with _process(*argv, ready=ready, env=env):
        url = f"http://{HOST}:{port}"
        async with httpx.AsyncClient() as client:  # every worker up (each logs its startup)
            for _ in range(100):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{url}/bare/entity/none")).status_code == 404:
                        break
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0 * workers)
        yield url


async def _settled(catalog_url: str, quiet_seconds: float = 3.0) -> None:
    """Until the node's initial capture is in the catalog (the steady state)."""
    catalog = await CatalogService.open(catalog_url, migrate=False)
    try:
        seen, quiet_since = -1, time.perf_counter()
        while time.perf_counter() - quiet_since < quiet_seconds:
            count = await catalog.count_entities()
            if count != seen:
                seen, quiet_since = count, time.perf_counter()
            await asyncio.sleep(0.5)
    finally:
        await catalog.aclose()


async def _spread(url: str, workers: int) -> dict[str, float]:
    """Each worker's answered GraphQL requests so far, from its own ``/metrics``."""
    seen: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(50 * workers):
            text = (await client.get(f"{url}/metrics", headers={"Connection": "close"})).text
            found = WORKER.search(text)
            done = GRAPHQL_DONE.search(text)
            seen[found.group(2) if found else "0"] = float(done.group(1)) if done else 0.0
            if len(seen) == workers:
                break
    return seen


async def _ids(settings: Any, count: int) -> list[str]:
    registry = AdapterRegistry()
    for config in settings.adapters:
        if config.kind == "invoices_ecommerce":
            registry.register(registry.build(config))
    for adapter in registry.adapters():
        await adapter.connect()
    try:
        return await customers_with_invoices(registry, count)
    finally:
        for adapter in registry.adapters():
            await adapter.aclose()


async def measure(
    config: Path, catalog_url: str, answers: Path, workers: int, ids: list[str], args: Any
) -> dict[str, Any]:
    closed = {"mode": "closed", "concurrency": args.concurrency, "seconds": args.seconds}
    node_rps: list[float] = []
    bare_rps: list[float] = []
    print(f"{workers} worker(s), closed loop, {args.concurrency} at once, {args.seconds:.0f} s:")
    async with node_server(config, workers) as node_url, bare_server(answers, workers) as bare_url:
        await _settled(catalog_url)
        for _ in range(args.rounds):  # alternating: both see the same machine
            result = await load(node_spec(node_url, "entity", ids, **closed))
            line(f"node, {workers} worker(s): customer(id)", result)
            node_rps.append(result["rps"])
            result = await load(bare_spec(bare_url, "entity", ids, **closed))
            line(f"bare route, {workers} worker(s)", result)
            bare_rps.append(result["rps"])
        spread = await _spread(node_url, workers)
        print(f"  requests per node worker: {dict(sorted(spread.items()))}")
        # medians: one round on a shared machine can be far off
        node_best, bare_best = median(node_rps), median(bare_rps)
        rate = bare_best / 2
        opened = {"mode": "open", "rate": rate, "seconds": args.seconds}
        print(f"{workers} worker(s), open loop at {rate:.0f} req/s (half the bare capacity):")
        floor = await load(bare_spec(bare_url, "entity", ids, **opened))
        line(f"bare route, {workers} worker(s)", floor)
        node_open = await load(node_spec(node_url, "entity", ids, **opened))
        line(f"node, {workers} worker(s): customer(id)", node_open)
        own = {"mode": "open", "rate": node_best / 2, "seconds": args.seconds}
        node_half = await load(node_spec(node_url, "entity", ids, **own))
        line(f"node at half its own capacity ({node_best / 2:.0f} req/s)", node_half)
    return {
        "workers": workers,
        "node_rps": node_rps,
        "bare_rps": bare_rps,
        "ratio": node_best / bare_best,
        "rate": rate,
        "node_p95": node_open["p95_ms"],
        "bare_p95": floor["p95_ms"],
        "node_half_p95": node_half["p95_ms"],
        "errors": node_open["errors"],
    }


async def main(args: argparse.Namespace) -> None:
    counts = [int(w) for w in args.workers.split(",")] if args.workers else [1, usable_cores()]
    async with sample_sources(in_process=False) as sources:
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp)
            settings = demo_settings(sources, state, poll=3600.0)
            raw = _plain(settings.model_dump(exclude_unset=True))
            raw.pop("node_name", None)  # per worker: <host>-<pid>
            raw.setdefault("graphql", {})["rate_limit_per_second"] = 0
            config = state / "mesh.yaml"
            config.write_text(yaml.safe_dump(raw))
            catalog_url = settings.catalog.url.get_secret_value()
            ids = await _ids(settings, args.customers)
            # the bare route answers what the node answered
            answers_file = state / "answers.json"
            async with node_server(config, 1) as url, httpx.AsyncClient(timeout=30) as client:
                answers = {}
                for i in ids:
                    body = {"query": ENTITY, "variables": {"id": i}}
                    answer = (await client.post(f"{url}/graphql", json=body)).json()
                    if "errors" in answer:
                        raise RuntimeError(f"the node answered {answer}")
                    answers[f"entity/{i}"] = answer
            answers_file.write_text(json.dumps(answers))
            results = [
                await measure(config, catalog_url, answers_file, w, ids, args) for w in counts
            ]
    print()
    print(
        "| workers | node req/s | bare req/s (same workers) | node / bare (medians) |"
        " open loop rate | node p95 | bare p95 | node p95 at half its capacity |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        node = "-".join(f"{v:.0f}" for v in (min(r["node_rps"]), max(r["node_rps"])))
        bare = "-".join(f"{v:.0f}" for v in (min(r["bare_rps"]), max(r["bare_rps"])))
        print(
            f"| {r['workers']} | {node} | {bare} | {r['ratio']:.2f}x | {r['rate']:.0f} req/s"
            f" | {r['node_p95']:.1f} ms | {r['bare_p95']:.1f} ms | {r['node_half_p95']:.1f} ms |"
        )
    one, many = results[0], results[-1]
    if many is not one:
        print(
            f"scaling {one['workers']} → {many['workers']} workers: node"
            f" {median(many['node_rps']) / median(one['node_rps']):.2f}x, bare"
            f" {median(many['bare_rps']) / median(one['bare_rps']):.2f}x (medians)"
        )
    for r, where in ((one, "per core"), (many, "whole machine")):
        if where == "whole machine" and many is one:
            break
        record(
            Kpi(
                figure=f"entity query throughput vs bare route, {where}"
                f" ({r['workers']} workers each)",
                value=r["ratio"],
                unit="x",
                goal=">= 0.8",
                baseline=f"bare {median(r['bare_rps']):.0f} req/s,"
                f" node {median(r['node_rps']):.0f} req/s (medians)",
                ratio=r["ratio"],
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="", help="comma-separated; default: 1,<cores>")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--customers", type=int, default=40)
    asyncio.run(main(parser.parse_args()))
