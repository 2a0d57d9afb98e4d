"""Hardening: a caller's bad input is a typed 4xx in its API's envelope, never a 500, never
a source failure that opens a circuit breaker for every other caller.

Each test replays one finding of the attack run against the demo node (embedded backend,
the real sample sources behind the reference adapters).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from dictamesh.adapters.base import AdapterBase
from dictamesh.core.inputs import bad_text_reason
from dictamesh.core.webhook_signature import signature_headers
from dictamesh.demo import DemoMesh, run_demo_mesh
from dictamesh.resilience.breaker import BreakerState

BIG = str(2**63)  # one past SQLite's INTEGER
FILTERED = "query($f: [FilterInput!]) { customers(filter: $f) { items { id } } }"
JSON_HEADERS = {"content-type": "application/json"}


# One demo node for the module: starting one takes seconds, and no test may leave it
# damaged anyway (that is the point: each checks the breaker is still closed).
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DemoMesh]:
    async with run_demo_mesh(tmp_path_factory.mktemp("demo"), poll=60) as demo:
        yield demo


@pytest_asyncio.fixture(loop_scope="module")
async def http(mesh: DemoMesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mesh.api_url, timeout=30) as client:
        yield client


def customers_adapter(mesh: DemoMesh) -> AdapterBase:
    adapter = mesh.node.registry.for_type("customer")
    assert isinstance(adapter, AdapterBase)
    return adapter


def raw_graphql(query: str, variables_json: str = "{}") -> str:
    """A /graphql body with variables written verbatim (``json`` cannot write a lone
    surrogate escape the way an attacker does)."""
    return '{"query": ' + json.dumps(query) + ', "variables": ' + variables_json + "}"


def filter_on_country(value: str) -> str:
    return '{"f": [{"field": "country", "op": "EQ", "value": ' + value + "}]}"


def graphql_code(response: httpx.Response) -> str:
    body = response.json()
    assert "errors" in body, body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def rest_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def assert_no_internals(response: httpx.Response) -> None:
    for leak in ("Traceback", "UnicodeEncodeError", "codec", "RecursionError", "OverflowError"):
        assert leak not in response.text, response.text


BAD_FILTER_VALUES = [
    r'"\ud800"',  # a lone high surrogate
    r'"ok\udfffok"',  # a lone low surrogate
    r'"a\u0000b"',  # NUL
]


@pytest.mark.parametrize("value", BAD_FILTER_VALUES)
async def test_bad_text_in_a_filter_is_400_before_any_source_call(
    mesh: DemoMesh, http: httpx.AsyncClient, value: str
) -> None:
    adapter = customers_adapter(mesh)
    before = adapter.policy.stats().attempts
    body = raw_graphql(FILTERED, filter_on_country(value))
    response = await http.post("/graphql", content=body, headers=JSON_HEADERS)
    assert response.status_code == 400, response.text
    assert graphql_code(response) == "BAD_USER_INPUT"
    assert_no_internals(response)
    assert adapter.policy.stats().attempts == before
    assert adapter.policy.breaker.state is BreakerState.CLOSED


async def test_twenty_bad_requests_leave_the_breaker_closed_for_everyone(
    mesh: DemoMesh, http: httpx.AsyncClient
) -> None:
    adapter = customers_adapter(mesh)
    for i in range(20):
        value = BAD_FILTER_VALUES[i % len(BAD_FILTER_VALUES)]
        body = raw_graphql(FILTERED, filter_on_country(value))
        response = await http.post("/graphql", content=body, headers=JSON_HEADERS)
        assert response.status_code == 400, response.text
    assert adapter.policy.breaker.state is BreakerState.CLOSED
    assert adapter.policy.breaker.stats().failures_in_window == 0
    normal = await http.post("/graphql", json={"query": "{ customers { items { id } } }"})
    assert normal.status_code == 200
    body = normal.json()
    assert "errors" not in body, body
    assert body["data"]["customers"]["items"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($t: String!) { catalogSearch(text: $t, limit: 5) { __typename } }", r'"\ud800"'),
        ('query($t: ID!) { catalogEntry(type: "customer", id: $t) { __typename } }', r'"\udc00"'),
        ("query($t: ID!) { customer(id: $t) { id } }", r'"x\u0000"'),
    ],
)
async def test_bad_text_in_catalog_variables_is_bad_user_input(
    http: httpx.AsyncClient, query: str, variables: str
) -> None:
    body = raw_graphql(query, '{"t": ' + variables + "}")
    response = await http.post("/graphql", content=body, headers=JSON_HEADERS)
    assert response.status_code == 400, response.text
    assert graphql_code(response) == "BAD_USER_INPUT"
    assert_no_internals(response)


@pytest.mark.parametrize("literal", [r"\u0000", r"\u{0}", "a\\u0000b"])
async def test_nul_in_a_graphql_string_literal_is_bad_user_input(
    mesh: DemoMesh, http: httpx.AsyncClient, literal: str
) -> None:
    adapter = customers_adapter(mesh)
    before = adapter.policy.stats().attempts
    query = '{ customers(filter: [{field: "country", op: EQ, value: "%s"}]) { items { id } } }'
    response = await http.post("/graphql", json={"query": query % literal})
    assert graphql_code(response) == "BAD_USER_INPUT"
    assert "data" not in response.json() or response.json()["data"] is None
    assert adapter.policy.stats().attempts == before


async def test_bad_text_in_a_get_graphql_query_is_400(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": "{ entityTypes }\x00"})
    assert response.status_code == 400, response.text
    assert graphql_code(response) == "BAD_USER_INPUT"


async def test_deeply_nested_graphql_body_is_a_graphql_400(http: httpx.AsyncClient) -> None:
    body = b'{"query": "{ entityTypes }", "variables": {"x": ' + b"[" * 100_000
    response = await http.post("/graphql", content=body, headers=JSON_HEADERS)
    assert response.status_code == 400, response.text
    assert graphql_code(response) == "BAD_REQUEST"
    assert_no_internals(response)


async def test_moderately_nested_graphql_variables_are_refused_too(
    http: httpx.AsyncClient,
) -> None:
    # Within the parser's reach (no RecursionError) but past the nesting limit.
    nested = "[" * 500 + "]" * 500
    body = raw_graphql("{ entityTypes }", '{"x": ' + nested + "}")
    response = await http.post("/graphql", content=body, headers=JSON_HEADERS)
    assert response.status_code == 400, response.text
    assert graphql_code(response) == "BAD_REQUEST"


async def test_a_subscription_over_plain_http_is_a_typed_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", json={"query": "subscription { customerChanged { entityId } }"}
    )
    assert response.status_code == 400, response.text
    assert graphql_code(response) == "BAD_REQUEST"
    assert "WebSocket" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/entities/customer/1/events?since_ms={BIG}",
        f"/api/v1/schemas/customer?version={BIG}",
        f"/api/v1/entities/customer/1/graph?limit={BIG}",
        f"/api/v1/entities/customer?limit={BIG}",
        f"/api/v1/search?q=ada&limit={BIG}",
    ],
)
async def test_huge_integers_on_rest_are_400(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 400, response.text
    assert rest_code(response) == "VALIDATION_ERROR"
    assert_no_internals(response)


@pytest.mark.parametrize(
    "path",
    [
        f"/schema-registry/schemas/ids/{BIG}",
        f"/schema-registry/schemas/ids/{BIG}/versions",
        f"/schema-registry/subjects/customer-value/versions/{BIG}",
    ],
)
async def test_huge_integers_on_the_registry_are_confluent_4xx(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert isinstance(body["error_code"], int)
    assert body["error_code"] != 500
    assert isinstance(body["message"], str)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/search?q=a%00b",
        "/api/v1/entities/customer?cursor=%00",
        "/api/v1/lineage/cust%00omer",
        "/api/v1/search?q=%ED%A0%80",  # an encoded surrogate: not UTF-8
        "/api/v1/search?q=%FF",
    ],
)
async def test_bad_text_in_rest_paths_and_query_strings_is_400(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)
    assert response.status_code == 400, response.text
    assert rest_code(response) == "VALIDATION_ERROR"


async def test_bad_text_in_a_registry_path_is_a_confluent_400(http: httpx.AsyncClient) -> None:
    response = await http.get("/schema-registry/subjects/a%00b/versions")
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == 400


def webhook_url(mesh: DemoMesh) -> str:
    return f"/webhooks/{customers_adapter(mesh).name}"


def signed(mesh: DemoMesh, body: bytes | str) -> dict[str, str]:
    """Headers of a correctly signed webhook (the demo sets a secret per adapter), so the
    body itself is what gets checked."""
    secret = customers_adapter(mesh).config.webhook_secret
    assert secret is not None
    raw = body.encode() if isinstance(body, str) else body
    return {**JSON_HEADERS, **signature_headers(secret.get_secret_value().encode(), raw)}


async def test_a_deeply_nested_webhook_body_is_400(mesh: DemoMesh, http: httpx.AsyncClient) -> None:
    body = b"[" * 50_000 + b"]" * 50_000
    response = await http.post(webhook_url(mesh), content=body, headers=signed(mesh, body))
    assert response.status_code == 400, response.text
    assert rest_code(response) == "VALIDATION_ERROR"
    assert_no_internals(response)


@pytest.mark.parametrize("key", [r'"\ud800"', r'"1\u0000"'])
async def test_bad_text_in_webhook_ids_is_400(
    mesh: DemoMesh, http: httpx.AsyncClient, key: str
) -> None:
    adapter = customers_adapter(mesh)
    before = adapter.policy.stats().attempts
    body = '{"collection": "customers", "event": "items.update", "keys": [' + key + "]}"
    response = await http.post(webhook_url(mesh), content=body, headers=signed(mesh, body))
    assert response.status_code == 400, response.text
    assert rest_code(response) == "VALIDATION_ERROR"
    assert_no_internals(response)
    assert adapter.policy.stats().attempts == before


REGISTRY_HEADERS = {"content-type": "application/vnd.schemaregistry.v1+json"}


@pytest.mark.parametrize(
    "body",
    [
        '{"schema": "{\\"type\\": \\"record\\", \\"name\\": \\"A\\ud800\\", \\"fields\\": []}"}',
        '{"schema": "\\"string\\"", "x": "\\udfff"}',
        '{"schema": "{\\"type\\": \\"record\\", \\"name\\": \\"A\\u0000\\", \\"fields\\": []}"}',
        '{"schema": ' + "[" * 50_000,
    ],
)
async def test_bad_registry_bodies_are_confluent_4xx(http: httpx.AsyncClient, body: str) -> None:
    response = await http.post(
        "/schema-registry/subjects/attack-value/versions", content=body, headers=REGISTRY_HEADERS
    )
    assert 400 <= response.status_code < 500, response.text
    payload: dict[str, Any] = response.json()
    assert payload["error_code"] in (400, 42201)
    assert_no_internals(response)
    listed = await http.get("/schema-registry/subjects")
    assert "attack-value" not in listed.json()


async def test_bad_text_in_websocket_variables_is_a_subscribe_error(mesh: DemoMesh) -> None:
    url = "ws" + mesh.api_url.removeprefix("http") + "/graphql"
    subscribe = (
        '{"id": "1", "type": "subscribe", "payload": {"query": '
        + json.dumps("subscription($t: String!) { entityChanged(type: $t) { entityId } }")
        + r', "variables": {"t": "customer\ud800"}}}'
    )
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        await ws.send(subscribe)
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert answer["type"] == "error", answer
    assert answer["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # refused before any resolver: the bad text is not echoed back to the client either
    assert bad_text_reason(answer["payload"][0]["message"]) is None


async def test_nested_variables_in_a_get_query_are_a_graphql_400(http: httpx.AsyncClient) -> None:
    nested = '{"x": ' + "[" * 300 + "]" * 300 + "}"
    response = await http.get("/graphql", params={"query": "{ entityTypes }", "variables": nested})
    assert response.status_code == 400, response.text
    assert graphql_code(response) == "BAD_REQUEST"
    escaped = '{"x": "\\ud800"}'  # clean URL text, a lone surrogate once JSON is decoded
    response = await http.get("/graphql", params={"query": "{ entityTypes }", "variables": escaped})
    assert response.status_code == 400, response.text
    assert graphql_code(response) == "BAD_USER_INPUT"
