"""``dictamesh serve --subgraph invoices``: a real node process serving one subgraph."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from dictamesh.sources.runner import run_sample_sources

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


async def test_serve_subgraph_serves_only_that_domain(tmp_path: Path) -> None:
    async with run_sample_sources(host=HOST) as sources:
        config = tmp_path / "mesh.yaml"
        config.write_text(
            f"state_dir: {tmp_path}\n"
            f"bus: {{path: {tmp_path / 'bus.sqlite3'}}}\n"
            f"catalog: {{url: 'sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}'}}\n"
            "adapters:\n"
            f"  - {{name: customers_directus, kind: customers_directus,"
            f" base_url: '{sources.customers_url}', api_key: {sources.customers_token}}}\n"
            f"  - {{name: products_rest, kind: products_rest,"
            f" base_url: '{sources.products_url}', api_key: {sources.products_api_key}}}\n"
            f"  - {{name: invoices_ecommerce, kind: invoices_ecommerce,"
            f" base_url: '{sources.invoices_url}', api_key: {sources.invoices_token}}}\n"
        )
        port = _free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dictamesh",
            "serve",
            "-c",
            str(config),
            "--subgraph",
            "invoices",
            "--port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("DICTAMESH_")},
        )
        url = f"http://{HOST}:{port}/graphql"
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        response = await client.post(url, json={"query": "{ _service { sdl } }"})
                        break
                    except httpx.TransportError:
                        if proc.returncode is not None or time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(0.1)
                sdl = response.json()["data"]["_service"]["sdl"]
                assert 'type Invoice @key(fields: "id")' in sdl
                assert 'type Customer @key(fields: "id")' in sdl
                assert "CustomerPage" not in sdl  # customers are another subgraph's
                query = "{ invoices(limit: 2) { items { invoiceNumber customer { id } } } }"
                response = await client.post(url, json={"query": query})
                items = response.json()["data"]["invoices"]["items"]
                assert len(items) == 2
                assert all(item["customer"]["id"] for item in items)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), 20)
        assert proc.stdout is not None
        printed = (await proc.stdout.read()).decode()
        assert "federation subgraph 'invoices' at /graphql" in " ".join(printed.split())
