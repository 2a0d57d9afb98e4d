"""A change captured by one node reaches a GraphQL subscriber connected to another."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from dictamesh.adapters.base import change_event_id
from dictamesh.core.models import EventType
from dictamesh.sources.runner import SampleSources
from tests.cluster_support import run_cluster
from tests.integration.cluster.leaders import capture_leader

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]

CUSTOMER_ID = "7"
SUBSCRIPTION = """
subscription ($id: ID) {
  customerChanged(id: $id) { eventId eventType entityId version changedFields entity { id } }
}"""


async def _receive(ws: ClientConnection, timeout: float) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(message, dict)
    return message


async def test_subscriber_on_b_sees_a_change_captured_by_a(
    tmp_path: Path, sources: SampleSources, config_for: Callable[..., Path], run_id: str
) -> None:
    adapter = f"customers_directus_{run_id}"
    async with run_cluster(config_for(), tmp_path, 3, run_id=run_id) as cluster:
        leader = await capture_leader(cluster, adapter)
        b = next(n for n in cluster.nodes if n.name != leader.name)
        async with connect(
            "ws" + b.url.removeprefix("http") + "/graphql", subprotocols=["graphql-transport-ws"]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert await _receive(ws, 10) == {"type": "connection_ack"}
            await ws.send(
                json.dumps(
                    {
                        "id": "s",
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIPTION, "variables": {"id": CUSTOMER_ID}},
                    }
                )
            )
            # B's subscription is live once its server took the message; nothing tells a
            # client when, so the change is made again (a new version) until one arrives.
            seen: dict[str, Any] | None = None
            async with httpx.AsyncClient(
                base_url=sources.customers_url,
                headers={"Authorization": f"Bearer {sources.customers_token}"},
            ) as cms:
                for _ in range(4):
                    email = f"sub.{uuid.uuid4().hex[:8]}@example.com"
                    patched = time.monotonic()
                    answer = await cms.patch(
                        f"/items/customers/{CUSTOMER_ID}", json={"email": email}
                    )
                    answer.raise_for_status()
                    version = answer.json()["data"]["version"]
                    # other meshes on this Kafka change customers too: ours has our adapter's id
                    expected = change_event_id(
                        adapter, "customer", CUSTOMER_ID, version, EventType.UPDATED
                    )
                    seen = await _event(ws, str(expected), deadline=patched + 10)
                    if seen is not None:
                        break
            assert seen is not None, "no change reached the subscriber on node B"
            elapsed = time.monotonic() - patched
        assert seen["entityId"] == CUSTOMER_ID
        assert "email" in seen["changedFields"]
        # still the same capture leader: A captured it, B only delivered it
        assert (await capture_leader(cluster, adapter)).name == leader.name
        print(f"\nchange captured by {leader.name} reached the subscriber on {b.name}"
              f" {elapsed:.2f} s after the write at the source")  # fmt: skip


async def _event(ws: ClientConnection, event_id: str, *, deadline: float) -> Any:
    """The subscription's change with ``event_id``, or None by ``deadline``."""
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await _receive(ws, left)
        except TimeoutError:
            return None
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        change = message["payload"]["data"]["customerChanged"]
        if change["eventId"] == event_id:
            return change
    return None
