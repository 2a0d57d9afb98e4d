"""GraphQL subscriptions over a real WebSocket (graphql-transport-ws), with auth in
connection_init. The app runs on uvicorn on a free local port."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.unit.api.conftest import Node
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dictamesh._serving import serve_in_process
from dictamesh.auth import hash_api_key
from dictamesh.core.models import ChangeEvent, Entity, EventType
from dictamesh.core.settings import AuthSettings
from dictamesh.events.fanout import ChangeFeed

ACME_KEY = "dmk_acme_test_key_0123456789"
GLOBEX_KEY = "dmk_globex_test_key_0123456789"
KEYS = [
    {"sha256": hash_api_key(ACME_KEY), "subject": "etl", "roles": ["reader"], "tenant": "acme"},
    {"sha256": hash_api_key(GLOBEX_KEY), "subject": "bi", "roles": ["reader"], "tenant": "globex"},
]
SUBSCRIBE = {
    "id": "1",
    "type": "subscribe",
    "payload": {"query": "subscription { customerChanged { entityId version entity { name } } }"},
}


def required_auth() -> AuthSettings:
    return AuthSettings(mode="required", api_keys=KEYS)


@contextlib.asynccontextmanager
async def served(node: Node) -> AsyncIterator[str]:
    async with serve_in_process(
        node.app, "127.0.0.1", 0, what="test API", shutdown_timeout=2
    ) as url:
        yield "ws" + url.removeprefix("http") + "/graphql"


@contextlib.asynccontextmanager
async def session(
    url: str, payload: dict[str, Any] | None = None, **options: Any
) -> AsyncIterator[ClientConnection]:
    options.setdefault("subprotocols", ["graphql-transport-ws"])
    async with connect(url, open_timeout=5, **options) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        yield ws


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), 3))
    assert isinstance(message, dict)
    return message


async def closed_with(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        await receive(ws)
    return closed.value.rcvd.code if closed.value.rcvd else None


def change(node: Node, entity_id: str, tenant: str | None = None) -> ChangeEvent:
    record = node.customers.records[entity_id]
    entity = Entity(
        type="customer",
        id=entity_id,
        version=7,
        attributes={k: v for k, v in record.items() if k != "id"},
        source=node.customers.source,
        tenant_id=tenant,
    )
    return ChangeEvent.for_change(EventType.UPDATED, entity, before={"name": "old"})


async def subscribed(feed: ChangeFeed, count: int = 1) -> None:
    for _ in range(300):
        if feed.subscriber_count >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the subscription never reached the feed")


async def test_a_subscription_receives_changes_until_completed() -> None:
    feed = ChangeFeed()
    node = Node(changes=feed)
    async with served(node) as url, session(url) as ws:
        assert await receive(ws) == {"type": "connection_ack"}
        await ws.send(json.dumps(SUBSCRIBE))
        await subscribed(feed)
        feed.publish(change(node, "c-2"))
        message = await receive(ws)
        assert message == {
            "id": "1",
            "type": "next",
            "payload": {
                "data": {
                    "customerChanged": {
                        "entityId": "c-2",
                        "version": 7,
                        "entity": {"name": "Customer 2"},
                    }
                }
            },
        }
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        for _ in range(300):
            if feed.subscriber_count == 0:
                break
            await asyncio.sleep(0.01)
        assert feed.subscriber_count == 0


async def test_connection_init_without_credentials_is_refused_when_auth_is_required() -> None:
    node = Node(changes=ChangeFeed(), auth=required_auth())
    async with served(node) as url:
        async with session(url) as ws:
            assert await closed_with(ws) == 4403
        async with session(url, {"X-API-Key": "dmk_wrong"}) as ws:
            assert await closed_with(ws) == 4403
        # Subscribing without an acknowledged connection is refused too (protocol: 4401).
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps(SUBSCRIBE))
            assert await closed_with(ws) == 4401


async def test_the_subscriber_sees_only_its_tenants_events() -> None:
    feed = ChangeFeed()
    node = Node(changes=feed, auth=required_auth())
    async with served(node) as url, session(url, {"x-api-key": ACME_KEY}) as ws:
        assert await receive(ws) == {"type": "connection_ack"}
        await ws.send(json.dumps(SUBSCRIBE))
        await subscribed(feed)
        feed.publish(change(node, "c-1"))  # no tenant
        feed.publish(change(node, "c-2", tenant="globex"))
        feed.publish(change(node, "c-3", tenant="acme"))
        message = await receive(ws)
        assert message["payload"]["data"]["customerChanged"]["entityId"] == "c-3"


async def test_credentials_in_the_handshake_headers_work_too_but_not_twice() -> None:
    feed = ChangeFeed()
    node = Node(changes=feed, auth=required_auth())
    headers = {"X-API-Key": GLOBEX_KEY}
    async with served(node) as url:
        async with session(url, additional_headers=headers) as ws:
            assert await receive(ws) == {"type": "connection_ack"}
            await ws.send(json.dumps(SUBSCRIBE))
            await subscribed(feed)
            feed.publish(change(node, "c-3", tenant="acme"))
            feed.publish(change(node, "c-1", tenant="globex"))
            message = await receive(ws)
            assert message["payload"]["data"]["customerChanged"]["entityId"] == "c-1"
        async with session(url, {"X-API-Key": ACME_KEY}, additional_headers=headers) as ws:
            assert await closed_with(ws) == 4403


async def test_only_graphql_transport_ws_is_spoken() -> None:
    node = Node(changes=ChangeFeed())
    async with served(node) as url, connect(url, subprotocols=["graphql-ws"]) as ws:
        assert ws.subprotocol is None  # the legacy protocol is not offered
        assert await closed_with(ws) == 4406


async def test_each_operation_on_a_connection_gets_fresh_loaders() -> None:
    node = Node(changes=ChangeFeed())
    query = {"query": '{ product(id: "p-1") { name } }'}
    async with served(node) as url, session(url) as ws:
        assert await receive(ws) == {"type": "connection_ack"}
        names = []
        for op in ("a", "b"):
            await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": query}))
            message = await receive(ws)
            names.append(message["payload"]["data"]["product"]["name"])
            assert await receive(ws) == {"id": op, "type": "complete"}
            node.products.records["p-1"]["name"] = "Renamed"
    assert names == ["Product 1", "Renamed"]
