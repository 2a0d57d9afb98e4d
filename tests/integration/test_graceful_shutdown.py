"""``dictamesh serve`` stops gracefully on SIGTERM: a real node process (port 0, the URL
read from what it prints) serving a slow request (the sample products source answers after
an injected latency).

* readiness turns false first: ``/ready`` answers 503 with a ``draining`` check while the
  listener still serves, for ``api.shutdown_delay_seconds``;
* then the listener closes; the request in flight completes 200; the process exits 0;
* a request still running past ``api.timeout_graceful_shutdown`` is cut and the process
  exits all the same, within the timeout (plus the node's own stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from dictamesh.sources.runner import SampleSources, reference_adapter_configs, run_sample_sources

pytestmark = pytest.mark.slow

URL_LINE = re.compile(r"on (http://\S+)")


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, sources: SampleSources, *, delay: float, timeout: int
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """A ``dictamesh serve --role api`` process over the products source; yields it and
    its URL. Killed (by its PID) if a test leaves it running."""
    (products,) = [
        c.model_dump(mode="json") | {"api_key": sources.products_api_key}
        for c in reference_adapter_configs(sources, poll_interval_seconds=60)
        if c.name == "products_rest"
    ]
    config = tmp_path / "mesh.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "node_name": "graceful",
                "state_dir": str(tmp_path),
                "bus": {"path": str(tmp_path / "bus.sqlite3")},
                "catalog": {"url": f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}"},
                "api": {"shutdown_delay_seconds": delay, "timeout_graceful_shutdown": timeout},
                "adapters": [products],
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICTAMESH_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dictamesh",
        "serve",
        "-c",
        str(config),
        "--port",
        "0",
        "--role",
        "api",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env | {"PYTHONUNBUFFERED": "1", "COLUMNS": "300"},
    )
    assert proc.stdout is not None
    try:
        printed = ""
        async with asyncio.timeout(60):
            while (found := URL_LINE.search(printed)) is None:
                line = await proc.stdout.readline()
                assert line, f"serve ended before listening:\n{printed}"
                printed += line.decode()
        yield proc, found.group(1)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def slow_source(sources: SampleSources, seconds: float) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{sources.products_url}/_admin/faults",
            json={"mode": "latency", "delay_seconds": seconds},
        )
        answer.raise_for_status()


async def in_flight(client: httpx.AsyncClient, url: str) -> asyncio.Task[httpx.Response]:
    """A request reading from the (slow) source, once the node is serving it."""
    task = asyncio.create_task(client.get(f"{url}/api/v1/entities/product", params={"limit": 1}))
    await asyncio.sleep(0.5)
    assert not task.done()
    return task


async def test_sigterm_drains_then_finishes_the_request_in_flight(tmp_path: Path) -> None:
    async with (
        run_sample_sources(products_rate_limit=None) as sources,
        serving(tmp_path, sources, delay=1.5, timeout=20) as (proc, url),
        httpx.AsyncClient(timeout=30) as client,
    ):
        assert (await client.get(f"{url}/ready")).status_code == 200
        await slow_source(sources, 3.0)
        request = await in_flight(client, url)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        draining: float | None = None
        closed: float | None = None
        async with httpx.AsyncClient(timeout=2) as probe:  # new connections each time
            while closed is None and time.monotonic() - signalled < 15:
                try:
                    ready = await probe.get(f"{url}/ready", headers={"Connection": "close"})
                except httpx.TransportError:
                    closed = time.monotonic()
                    break
                if ready.status_code == 503 and draining is None:
                    assert "draining" in ready.json()["reasons"]
                    draining = time.monotonic()
                await asyncio.sleep(0.05)
        response = await request
        code = await asyncio.wait_for(proc.wait(), 30)
        exited = time.monotonic()
        assert proc.stdout is not None
        printed = (await proc.stdout.read()).decode()
    phases = ["SIGTERM", "shutdown 1/3", "shutdown 2/3", "shutdown 3/3", "stopped"]
    at = [printed.find(p) for p in phases]
    assert -1 not in at, printed  # each phase logged...
    assert at == sorted(at), printed  # ...in order
    assert draining is not None
    assert closed is not None
    assert draining - signalled < 1.0  # readiness turned false at once...
    assert closed - draining >= 1.0  # ...while the listener kept serving for the delay
    assert response.status_code == 200
    assert response.json()["items"]
    assert code == 0
    assert exited - signalled < 20


async def test_a_request_past_the_timeout_is_cut_and_the_process_still_exits(
    tmp_path: Path,
) -> None:
    """A slow request and a live subscription (which would otherwise wait for changes
    forever) do not hold the process past the timeout."""
    async with (
        run_sample_sources(products_rate_limit=None) as sources,
        serving(tmp_path, sources, delay=0, timeout=1) as (proc, url),
        httpx.AsyncClient(timeout=30) as client,
        connect(
            "ws" + url.removeprefix("http") + "/graphql", subprotocols=["graphql-transport-ws"]
        ) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "connection_ack"}
        subscribe = {"query": "subscription { productChanged { entityId } }"}
        await ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": subscribe}))
        await slow_source(sources, 4.5)  # under the adapter's 5 s timeout
        request = await in_flight(client, url)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        outcome: Any
        try:
            outcome = (await request).status_code
        except httpx.TransportError as exc:
            outcome = exc
        cut = time.monotonic()
        with contextlib.suppress(ConnectionClosed):  # ended: "complete", then closed
            async with asyncio.timeout(10):
                async for _ in ws:
                    pass
        ws_closed = time.monotonic()
        code = await asyncio.wait_for(proc.wait(), 30)
        exited = time.monotonic()
    assert outcome != 200, "the request outlived the graceful timeout"
    assert cut - signalled < 3.5  # cut at the 1 s timeout, not when the source answered
    assert ws_closed - signalled < 3.5
    assert code == 0
    assert exited - signalled < 10
