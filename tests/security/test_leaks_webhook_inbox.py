"""Item 10: a webhook answered 202 survives ``kill -9``.

Before: accepted webhooks lived only in the adapter's memory; a SIGKILL after the 202s
lost them (polling later found the final state, never the versions in between). Now the
re-fetched records are stored in the durable inbox before the 202 and replayed on start.

A real node runs as a subprocess (``dictamesh serve``) with polling off, so only webhooks
bring changes. Many products are changed and announced at once; the node is killed with
SIGKILL (by its PID) right after the last 202, restarted, and every announced version
must reach the catalog's event log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from dictamesh.adapters.webhook_inbox import SqliteWebhookInbox
from dictamesh.sources.runner import reference_adapter_configs, run_sample_sources

SRC = Path(__file__).resolve().parents[2] / "src"
PRODUCTS = 40  # every product of the sample source


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_node(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dictamesh", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


async def wait_healthy(http: httpx.AsyncClient, node: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        assert node.poll() is None, "node exited"
        try:
            if (await http.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("node did not come up")


def stop(node: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if node.poll() is None:
        os.kill(node.pid, sig)
        node.wait(timeout=30)


async def logged_versions(http: httpx.AsyncClient, product: str) -> set[int]:
    response = await http.get(f"/api/v1/entities/product/{product}/events")
    if response.status_code != 200:
        return set()
    return {int(e["entity_version"]) for e in response.json()["events"]}


async def test_acknowledged_webhooks_survive_sigkill(tmp_path: Path) -> None:
    async with run_sample_sources() as sources:
        port = free_port()
        adapters = [
            # a dump masks secrets (SecretStr): the node's file needs the real key
            {**a.model_dump(mode="json"), "api_key": a.api_key.get_secret_value()}
            for a in reference_adapter_configs(sources, poll_interval_seconds=None)
            if a.kind == "products_rest" and a.api_key is not None
        ]
        settings: dict[str, Any] = {
            "node_name": "inbox-test",
            "state_dir": str(tmp_path / "state"),
            "adapters": adapters,
            "bus": {"path": str(tmp_path / "state" / "bus.sqlite3")},
            "catalog": {"url": f"sqlite+aiosqlite:///{tmp_path / 'state' / 'catalog.sqlite3'}"},
            "api": {"host": "127.0.0.1", "port": port},
        }
        config = tmp_path / "node.yaml"
        config.write_text(yaml.safe_dump(settings))
        log = tmp_path / "node.log"
        store = sources.products_store
        products = [r["id"] for r in store.listing(None, include_deleted=False)][:PRODUCTS]
        assert len(products) == PRODUCTS

        node = start_node(config, log)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                await wait_healthy(http, node)
                announced: dict[str, int] = {}
                for _round in range(2):  # two versions of each: the first one is not final
                    for product in products:
                        announced[product] = store.update(product, {"stock": _round})["version"]

                    async def announce(product: str) -> httpx.Response:
                        return await http.post(
                            "/webhooks/products_rest",
                            json={"type": "product.updated", "data": {"id": product}},
                        )

                    answers = await asyncio.gather(*(announce(p) for p in products))
                    assert {r.status_code for r in answers} == {202}, answers[0].text
                    if _round == 0:
                        first = dict(announced)
                os.kill(node.pid, signal.SIGKILL)  # right after the last 202
                node.wait(timeout=30)

            pending = await SqliteWebhookInbox(tmp_path / "state" / "changes.sqlite3").pending(
                "products_rest"
            )
            node = start_node(config, log)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                await wait_healthy(http, node)
                missing: dict[str, set[int]] = {}
                deadline = asyncio.get_running_loop().time() + 60
                while asyncio.get_running_loop().time() < deadline:
                    missing = {}
                    for product in products:
                        wanted = {first[product], announced[product]}
                        lacking = wanted - await logged_versions(http, product)
                        if lacking:
                            missing[product] = lacking
                    if not missing:
                        break
                    await asyncio.sleep(0.2)
                assert not missing, (len(pending), missing, log.read_text()[-3000:])
        finally:
            stop(node)


async def test_the_inbox_is_written_before_the_answer_and_replayed_once(tmp_path: Path) -> None:
    """In process: accepted work is in the inbox when ``handle_webhook`` returns, leaves it
    once emitted, and a new adapter object (a restart) replays what was left, in order."""
    from dictamesh.core.models import EventType
    from dictamesh.testing.adapters import FakeAdapter, fake_config

    path = tmp_path / "changes.sqlite3"
    inbox = SqliteWebhookInbox(path)
    config = fake_config(poll_interval_seconds=None)  # webhooks only
    records = [{"id": "w-1", "name": "A"}]
    async with FakeAdapter(config, records=records) as adapter:
        adapter.webhook_inbox = inbox
        assert await adapter.handle_webhook({"id": "w-1"}) == 1
        adapter.put("w-1", name="B")
        assert await adapter.handle_webhook({"id": "w-1"}) == 1
        stored = await inbox.pending(config.name)
        assert [raws[0]["attributes"]["name"] for _, raws, _ in stored] == ["A", "B"]
        # "crash": this adapter never streams; a new one (same state) replays both versions
    async with FakeAdapter(config, records=[{"id": "w-1", "name": "C"}]) as restarted:
        restarted.webhook_inbox = SqliteWebhookInbox(path)
        stream = restarted.stream_changes()
        first = await asyncio.wait_for(anext(stream), 5)
        second = await asyncio.wait_for(anext(stream), 5)
        assert (first.event_type, first.after) == (EventType.CREATED, {"name": "A"})
        assert (second.event_type, second.after) == (EventType.UPDATED, {"name": "B"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(anext(stream), 0.3)  # asks past B: B is handled
        assert await inbox.pending(config.name) == []
        await stream.aclose()
