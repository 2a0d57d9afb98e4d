"""``dictamesh serve --workers 2`` on the embedded default (SQLite catalog, embedded bus,
file leases): a real process, port 0, the URL read from what it prints.

* both workers answer on the one port (``dictamesh_worker_info`` on ``/metrics``);
* one capture leader per adapter among the workers;
* a change at a source is published once and ingested once (the embedded bus does not
  share a consumer group across processes: only worker 0 ingests);
* a worker killed with SIGKILL is started again;
* SIGTERM drains every worker once (each phase printed once) and the process exits 0.
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
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from dictamesh.catalog.service import CatalogService
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.sources.runner import reference_adapter_configs, run_sample_sources

pytestmark = pytest.mark.slow

URL_LINE = re.compile(r"on (http://\S+)")
WORKER = re.compile(r'^dictamesh_worker_info\{pid="(\d+)",worker="(\d+)"\} 1\.0$', re.M)
LEADER = re.compile(r'^dictamesh_capture_leader\{adapter="(\w+)"\} (\d)\.0$', re.M)


async def _scrape_workers(url: str) -> dict[str, dict[str, int]]:
    """Each worker's capture-leader gauges, scraping new connections until both answered."""
    seen: dict[str, dict[str, int]] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(200):
            text = (await client.get(f"{url}/metrics", headers={"Connection": "close"})).text
            (worker,) = [w for _, w in WORKER.findall(text)]
            seen[worker] = {name: int(v) for name, v in LEADER.findall(text)}
            if len(seen) == 2 and all(len(g) == 4 for g in seen.values()):
                break
            await asyncio.sleep(0.02)
    return seen


async def test_two_workers_serve_one_port_capture_once_and_stop_cleanly(tmp_path: Path) -> None:
    async with run_sample_sources() as sources:
        adapters = [
            c.model_dump(mode="json") | {"api_key": c.api_key.get_secret_value()}
            for c in reference_adapter_configs(sources, poll_interval_seconds=0.5)
            if c.api_key is not None
        ]
        config = tmp_path / "mesh.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "node_name": "workers",
                    "state_dir": str(tmp_path),
                    "bus": {"path": str(tmp_path / "bus.sqlite3")},
                    "catalog": {"url": f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}"},
                    "capture": {"retry_seconds": 0.2},
                    "adapters": adapters,
                }
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("DICTAMESH_")}
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "dictamesh", "serve", "-c", str(config)),
            *("--port", "0", "--workers", "2"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env | {"PYTHONUNBUFFERED": "1", "COLUMNS": "300"},
        )
        assert proc.stdout is not None
        try:
            printed = ""
            async with asyncio.timeout(120):
                while "workers: 2" not in printed:
                    line = await proc.stdout.readline()
                    assert line, f"serve ended before listening:\n{printed}"
                    printed += line.decode()
            found = URL_LINE.search(printed)
            assert found is not None, printed
            url = found.group(1)

            workers = await _scrape_workers(url)
            assert set(workers) == {"0", "1"}, workers  # both answer on the one port
            for adapter in ("customers_directus", "products_rest"):
                leading = [w for w, gauges in workers.items() if gauges.get(adapter) == 1]
                assert len(leading) == 1, (adapter, workers)  # one capture leader

            # one change at the source: published once, in the catalog once
            company = f"Workers {uuid.uuid4().hex[:10]} GmbH"  # not personal data: not masked
            async with httpx.AsyncClient(
                base_url=sources.customers_url,
                headers={"Authorization": f"Bearer {sources.customers_token}"},
            ) as cms:
                (
                    await cms.patch("/items/customers/1", json={"company": company})
                ).raise_for_status()
            async with httpx.AsyncClient(timeout=10) as client:
                deadline = time.monotonic() + 60
                while True:
                    answer = await client.get(f"{url}/api/v1/entities/customer/1/events")
                    if company in answer.text:
                        break
                    assert time.monotonic() < deadline, answer.text
                    await asyncio.sleep(0.3)
            await asyncio.sleep(3)  # several polls and ingest batches later

            # a worker that dies while serving is started again
            pids = await _worker_pids(url)
            os.kill(pids["1"], signal.SIGKILL)
            deadline = time.monotonic() + 60
            while (again := await _worker_pids(url)).get("1") in (None, pids["1"]):
                assert time.monotonic() < deadline, again
                await asyncio.sleep(0.2)
            assert again["0"] == pids["0"]

            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 60)
            stopped_after = time.monotonic() - signalled
            printed += (await proc.stdout.read()).decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    assert code == 0, printed
    assert stopped_after < 30, printed  # api.timeout_graceful_shutdown: 30
    assert "worker 1 (pid" in printed, printed
    assert "restarting" in printed, printed
    phases = ["SIGTERM", "shutdown 1/3", "shutdown 2/3", "shutdown 3/3", "stopped"]
    for phase in phases:  # each printed once, not once per worker
        assert printed.count(phase) == 1, printed
    at = [printed.find(p) for p in phases]
    assert at == sorted(at), printed

    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    await bus.connect()
    try:
        published = 0
        for topic, parts in (await bus.end_offsets(await _customer_topics(bus))).items():
            for partition, end in parts.items():
                for message in await bus.read(topic, partition, 0, max_records=end + 1):
                    published += company in message.value.decode()
    finally:
        await bus.aclose()
    assert published == 1  # one capture leader published it

    catalog = await CatalogService.open(
        f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}", migrate=False
    )
    try:
        log = await catalog.get_event_log(entity_type="customer", entity_id="1", limit=100)
    finally:
        await catalog.aclose()
    ingested = [e for e in log if company in json.dumps(e.payload)]
    assert len(ingested) == 1, ingested


async def _worker_pids(url: str) -> dict[str, int]:
    """The pid answering as each worker, from scrapes over new connections."""
    pids: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(100):
            with contextlib.suppress(httpx.TransportError):  # the killed worker's connection
                text = (await client.get(f"{url}/metrics", headers={"Connection": "close"})).text
                for pid, worker in WORKER.findall(text):
                    pids[worker] = int(pid)
            if len(pids) == 2:
                break
    return pids


async def _customer_topics(bus: EmbeddedBus) -> list[str]:
    return [t for t in await bus.topic_names() if "customer" in t]
