"""Live: a change at a sample source reaches a GraphQL subscriber over a real WebSocket,
through change capture, the embedded bus and the node's fan-out; and the same change
invalidates the GraphQL response cache."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from dictamesh._serving import serve_in_process
from dictamesh.demo import demo_settings
from dictamesh.governance.masking import REDACTED
from dictamesh.node import MeshNode
from dictamesh.sources.runner import SampleSources, run_sample_sources
from tests.timing import LoopStalls

pytestmark = pytest.mark.slow

POLL = 0.5  # the adapters' change-capture interval, seconds
CUSTOMER_ID = "1"
SUBSCRIPTION = """
subscription ($id: ID) {
  customerChanged(id: $id) {
    eventType entityId version changedFields
    entity { id email invoices { invoiceNumber } }
  }
}"""


@contextlib.asynccontextmanager
async def live_node(tmp_path: Path) -> AsyncIterator[tuple[SampleSources, MeshNode, str]]:
    async with run_sample_sources() as sources:
        settings = demo_settings(sources, tmp_path, poll=POLL)
        # No embedding model: its batches run in a worker thread holding the GIL, time the
        # loop-stall measure below cannot see, so it would only blur the latency bound.
        settings.search.embeddings.provider = "off"
        async with (
            MeshNode(settings) as node,
            serve_in_process(node.asgi_app(), "127.0.0.1", 0, shutdown_timeout=2) as url,
        ):
            yield sources, node, url


async def patch_customer(sources: SampleSources, **changes: Any) -> None:
    async with httpx.AsyncClient(
        base_url=sources.customers_url,
        headers={"Authorization": f"Bearer {sources.customers_token}"},
    ) as cms:
        response = await cms.patch(f"/items/customers/{CUSTOMER_ID}", json=changes)
        response.raise_for_status()


async def receive(ws: ClientConnection, timeout: float) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(message, dict)
    return message


async def test_a_patch_at_the_source_reaches_the_subscriber(tmp_path: Path) -> None:
    async with (
        live_node(tmp_path) as (sources, node, url),
        connect(
            "ws" + url.removeprefix("http") + "/graphql", subprotocols=["graphql-transport-ws"]
        ) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert await receive(ws, 5) == {"type": "connection_ack"}
        await ws.send(
            json.dumps(
                {
                    "id": "live",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {"id": CUSTOMER_ID}},
                }
            )
        )
        for _ in range(500):
            if node.changes.subscriber_count:
                break
            await asyncio.sleep(0.01)
        assert node.changes.subscriber_count == 1

        new_email = f"live.{uuid.uuid4().hex[:8]}@example.com"
        async with LoopStalls() as stalls:
            patched_at = time.monotonic()
            await patch_customer(sources, email=new_email)
            # Skip what the initial capture may still be delivering; wait for our change.
            while True:
                message = await receive(ws, POLL + 5)
                assert message["type"] == "next", message
                payload = message["payload"]
                assert "errors" not in payload, payload
                change = payload["data"]["customerChanged"]
                if change["eventType"] == "UPDATED" and "email" in change["changedFields"]:
                    break
            elapsed = time.monotonic() - patched_at

    assert change["entityId"] == CUSTOMER_ID
    assert change["version"] >= 2
    # The entity was resolved through the gateway (loaders, generated type), fresh:
    entity = change["entity"]
    assert entity["id"] == CUSTOMER_ID
    assert entity["invoices"], "the cross-domain field resolves in the payload too"
    # ...so governance decides each field as in any query (masked, or the new value).
    assert entity["email"] in (new_email, REDACTED)
    # One capture poll, plus the bus hop and the entity load, plus whatever time the machine
    # kept this process's event loop from running (a loaded CI box: seconds)
    assert elapsed < POLL + 1.5 + stalls.total, f"{elapsed:.2f} s ({stalls.total:.2f} s stalled)"


async def test_a_change_invalidates_the_response_cache(tmp_path: Path) -> None:
    query = f'{{ customer(id: "{CUSTOMER_ID}") {{ company country }} }}'
    async with live_node(tmp_path) as (sources, node, url), httpx.AsyncClient(base_url=url) as api:

        async def ask() -> httpx.Response:
            response = await api.get("/graphql", params={"query": query})
            response.raise_for_status()
            return response

        # Let the initial capture settle, so its events do not invalidate in between.
        previous = -1
        while node.changes.stats.published != previous:
            previous = node.changes.stats.published
            await asyncio.sleep(POLL)
        await ask()
        cached = await ask()
        assert cached.headers["x-dictamesh-cache"] == "HIT"

        company = f"Live {uuid.uuid4().hex[:6]} GmbH"
        await patch_customer(sources, company=company)
        deadline = time.monotonic() + POLL + 5
        while time.monotonic() < deadline:
            fresh = await ask()
            if fresh.json()["data"]["customer"]["company"] == company:
                break
            await asyncio.sleep(0.05)
        assert fresh.json()["data"]["customer"]["company"] == company
        assert fresh.headers["x-dictamesh-cache"] == "MISS"
