"""Item 2: request bodies are capped on every route, large GraphQL documents are parsed off
the event loop, and WebSocket messages get the same cap."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from dictamesh.api import ApiContext, create_app
from dictamesh.catalog import CatalogService
from dictamesh.core.settings import ApiSettings, GraphQLSettings
from dictamesh.events.fanout import ChangeFeed
from tests.unit.api.conftest import Node
from tests.unit.api.test_graphql_ws import closed_with, receive, served, session
from tests.unit.gateway.fakes import MemoryRegistry

CAP = 4096


def capped_node(cap: int = CAP, **overrides: object) -> Node:
    return Node(api=ApiSettings(max_body_bytes=cap), **overrides)


def query_with_literal(size: int) -> str:
    return '{ customer(id: "' + "x" * size + '") { id } }'


async def test_the_default_cap_is_one_mebibyte() -> None:
    assert ApiSettings().max_body_bytes == 1 << 20
    node = Node()
    body = json.dumps({"query": query_with_literal(1 << 20)})
    async with node.client() as http:
        response = await http.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "PAYLOAD_TOO_LARGE", "limit": 1 << 20}


async def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read() -> None:
    node = capped_node()
    reads = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal reads
        reads += 1
        yield b"{" + b" " * (CAP * 2) + b"}"

    async with node.client() as http:
        response = await http.post(
            "/graphql",
            content=body(),
            headers={"content-type": "application/json", "content-length": str(CAP * 2 + 2)},
        )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert reads <= 1  # the client may start sending; nothing is parsed or resolved
    assert sum(node.customers.calls.values()) == 0


@pytest.mark.parametrize(
    ("path", "envelope"),
    [
        ("/graphql", lambda b: b["errors"][0]["extensions"]["code"]),
        ("/api/v1/governance/erasure", lambda b: b["error"]["code"]),
        ("/webhooks/customers_directus", lambda b: b["error"]["code"]),
    ],
)
async def test_a_chunked_body_is_counted_and_refused_in_the_routes_envelope(
    path: str, envelope: object
) -> None:
    node = capped_node()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 64 KiB in 1 KiB chunks, no Content-Length
            yield b" " * 1024

    async with node.client() as http:
        response = await http.post(
            path, content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert callable(envelope)
    assert envelope(response.json()) in ("PAYLOAD_TOO_LARGE", 413)


async def test_the_schema_registry_gets_its_confluent_envelope() -> None:
    async with await CatalogService.open("sqlite+aiosqlite:///:memory:") as catalog:
        app = create_app(
            ApiContext(
                registry=MemoryRegistry([]), catalog=catalog, api=ApiSettings(max_body_bytes=CAP)
            )
        )

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"schema": "'
            for _ in range(64):
                yield b" " * 1024
            yield b'"}'

        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            response = await http.post(
                "/schema-registry/subjects/s/versions",
                content=chunks(),
                headers={"content-type": "application/vnd.schemaregistry.v1+json"},
            )
        assert response.status_code == 413
        assert response.json()["error_code"] == 413
        assert await catalog.list_subjects() == []


async def test_bodies_under_the_cap_still_work() -> None:
    node = capped_node()
    async with node.client() as http:
        response = await http.post("/graphql", json={"query": '{ customer(id: "c-1") { id } }'})
    assert response.status_code == 200
    assert response.json() == {"data": {"customer": {"id": "c-1"}}}


async def _max_loop_lag(work: asyncio.Task[httpx.Response]) -> float:
    worst = 0.0
    while not work.done():
        started = time.perf_counter()
        await asyncio.sleep(0.005)
        worst = max(worst, time.perf_counter() - started - 0.005)
    return worst


async def test_a_large_document_is_parsed_off_the_event_loop() -> None:
    # 900 KB in one string literal: about a second of parsing, under the 1 MiB cap.
    node = Node()
    query = query_with_literal(900_000)
    async with node.client() as http:
        work = asyncio.create_task(http.post("/graphql", json={"query": query}))
        lag = await _max_loop_lag(work)
        response = work.result()
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"customer": None}  # parsed whole, then refused as a bad id
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert lag < 0.1, f"the event loop stalled for {lag:.3f} s"


async def test_a_large_bad_document_is_a_request_error_from_the_thread() -> None:
    node = Node()
    query = "{ a" + " b" * 50_000 + " }"  # over the 2,000 token limit, and large
    async with node.client() as http:
        response = await http.post("/graphql", json={"query": query})
    assert response.status_code == 200
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "TOO_MANY_TOKENS"
    # the threshold is a setting
    assert GraphQLSettings().parse_in_thread_bytes == 16_384


async def test_a_websocket_message_over_the_cap_closes_the_connection() -> None:
    node = capped_node(changes=ChangeFeed())
    async with served(node) as url, session(url) as ws:
        assert await receive(ws) == {"type": "connection_ack"}
        await ws.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": query_with_literal(CAP)}}
            )
        )
        assert await closed_with(ws) == 1009
