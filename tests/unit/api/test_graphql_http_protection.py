"""/graphql protection over HTTP: query limits, persisted queries, rate limits, timeouts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from starlette.types import ASGIApp, Receive, Scope, Send
from tests.unit.api.catalog_fake import FakeCatalog
from tests.unit.api.conftest import Node
from tests.unit.gateway.fakes import CUSTOMER, MemoryAdapter, MemoryRegistry

from dictamesh.api import ApiContext, create_app
from dictamesh.cache.memory import MemoryCache
from dictamesh.core.models import Page, Query
from dictamesh.core.settings import GraphQLSettings
from dictamesh.gateway import build_schema
from dictamesh.gateway.apq import CachePersistedQueryStore, PersistedQueries, query_hash

GQL = "application/graphql-response+json"
JSON = "application/json"
DEEP = '{ customer(id: "c-1") { invoices { customer { invoices { customer { name } } } } } }'
QUERY = '{ customer(id: "c-1") { name } }'
HASH = query_hash(QUERY)
NO_RATE = {"rate_limit_per_second": 0.0}


def settings(**values: Any) -> GraphQLSettings:
    return GraphQLSettings(**{**NO_RATE, **values})


def persisted(sha256: str = HASH) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256}}


async def call(
    app: ASGIApp,
    body: Any = None,
    *,
    accept: str = JSON,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """POST ``body`` as JSON, or GET with ``params`` when there is no body."""
    transport = httpx.ASGITransport(app=app)
    sent = {"accept": accept, **(headers or {})}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        if body is None:
            return await http.get("/graphql", headers=sent, params=params)
        return await http.post("/graphql", json=body, headers=sent)


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


def calls(node: Node) -> dict[str, dict[str, int]]:
    return {a.entity_type: dict(a.calls) for a in node.adapters if a.calls}


# --- limits -----------------------------------------------------------------------------


async def test_limits_apply_over_http_without_adapter_calls() -> None:
    node = Node(graphql=settings(max_depth=5))
    refused = await call(node.app, {"query": DEEP}, accept=GQL)
    assert refused.status_code == 400
    error = refused.json()["errors"][0]
    assert error["extensions"] == {"code": "QUERY_TOO_DEEP", "limit": 5, "actual": 6}
    assert "data" not in refused.json()
    legacy = await call(node.app, {"query": DEEP}, accept=JSON)
    assert (legacy.status_code, codes(legacy)) == (200, ["QUERY_TOO_DEEP"])
    assert calls(node) == {}


@pytest.mark.parametrize(
    ("overrides", "query", "code"),
    [
        (
            {"max_complexity": 10},
            "{ customers(limit: 20) { items { invoices { id } } } }",
            "QUERY_TOO_COMPLEX",
        ),
        ({"max_aliases": 1}, "{ a: entityTypes b: entityTypes }", "TOO_MANY_ALIASES"),
        ({"max_tokens": 5}, "{ customers { items { name } } }", "TOO_MANY_TOKENS"),
    ],
)
async def test_each_limit_over_http(overrides: dict[str, Any], query: str, code: str) -> None:
    node = Node(graphql=settings(**overrides))
    response = await call(node.app, {"query": query}, accept=GQL)
    assert (response.status_code, codes(response)) == (400, [code])
    assert calls(node) == {}


async def test_default_limits_let_ordinary_queries_and_graphiql_through() -> None:
    node = Node()  # the defaults: depth 10, complexity 1000, aliases 30, tokens 2000
    response = await call(node.app, {"query": DEEP})
    assert response.status_code == 200
    assert "errors" not in response.json()
    introspection = await call(node.app, {"query": get_introspection_query()}, accept=GQL)
    assert introspection.status_code == 200
    assert "errors" not in introspection.json()


async def test_a_given_schema_gets_the_limits_too() -> None:
    base = Node()
    schema = build_schema(base.registry, max_depth=None)
    node = Node(graphql_schema=schema, graphql=settings(max_depth=2))
    response = await call(node.app, {"query": DEEP})
    assert codes(response) == ["QUERY_TOO_DEEP"]


# --- persisted queries ----------------------------------------------------------------------


async def test_apq_round_trip_over_post_and_get() -> None:
    node = Node(graphql=settings())
    miss = await call(node.app, {"extensions": persisted()}, accept=GQL)
    assert miss.status_code == 200  # as Apollo: clients retry on the code, not on 4xx
    assert miss.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    assert miss.headers["cache-control"] == "private, no-cache, must-revalidate"

    registered = await call(node.app, {"query": QUERY, "extensions": persisted()})
    assert registered.json() == {"data": {"customer": {"name": "Customer 1"}}}

    params = {"extensions": json.dumps(persisted())}
    by_get = await call(node.app, params=params)
    assert by_get.json() == {"data": {"customer": {"name": "Customer 1"}}}
    by_post = await call(node.app, {"extensions": persisted(), "variables": None})
    assert by_post.json() == {"data": {"customer": {"name": "Customer 1"}}}
    assert node.customers.calls == {"get_entities": 3}


async def test_apq_hash_mismatch_is_400_for_both_media_types() -> None:
    node = Node(graphql=settings())
    for accept in (JSON, GQL):
        response = await call(
            node.app, {"query": "{ entityTypes }", "extensions": persisted()}, accept=accept
        )
        assert (response.status_code, codes(response)) == (400, ["PERSISTED_QUERY_HASH_MISMATCH"])
    assert calls(node) == {}


async def test_apq_stores_only_queries_that_ran() -> None:
    node = Node(graphql=settings())
    broken = "{ nope }"
    response = await call(node.app, {"query": broken, "extensions": persisted(query_hash(broken))})
    assert codes(response) == ["GRAPHQL_VALIDATION_FAILED"]
    again = await call(node.app, {"extensions": persisted(query_hash(broken))})
    assert codes(again) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_apq_over_get_still_refuses_mutations(tmp_path: Path) -> None:
    mutation = "mutation { __typename }"
    manifest = tmp_path / "pq.json"
    manifest.write_text(json.dumps({query_hash(mutation): mutation}))
    node = Node(graphql=settings(persisted_queries_file=manifest))
    params = {"extensions": json.dumps(persisted(query_hash(mutation)))}
    response = await call(node.app, params=params, accept=GQL)
    assert (response.status_code, codes(response)) == (405, ["METHOD_NOT_ALLOWED"])


async def test_allowlist_mode(tmp_path: Path) -> None:
    manifest = tmp_path / "pq.json"
    manifest.write_text(json.dumps({"operations": [{"id": HASH, "body": QUERY, "name": "C"}]}))
    node = Node(graphql=settings(persisted_queries="allowlist", persisted_queries_file=manifest))
    by_hash = await call(node.app, {"extensions": persisted()})
    assert by_hash.json() == {"data": {"customer": {"name": "Customer 1"}}}
    as_text = await call(node.app, {"query": QUERY})
    assert as_text.json() == {"data": {"customer": {"name": "Customer 1"}}}
    other = await call(node.app, {"query": "{ entityTypes }"}, accept=GQL)
    assert (other.status_code, codes(other)) == (400, ["PERSISTED_QUERY_NOT_IN_LIST"])
    unknown_hash = await call(node.app, {"extensions": persisted("a" * 64)})
    assert (unknown_hash.status_code, codes(unknown_hash)) == (200, ["PERSISTED_QUERY_NOT_IN_LIST"])


async def test_apq_off() -> None:
    node = Node(graphql=settings(persisted_queries="off"))
    response = await call(node.app, {"query": QUERY, "extensions": persisted()})
    assert (response.status_code, codes(response)) == (200, ["PERSISTED_QUERY_NOT_SUPPORTED"])


async def test_nodes_share_persisted_queries_through_a_cache() -> None:
    shared = MemoryCache(max_entries=100, ttl=60)
    one = Node(
        graphql=settings(), persisted_queries=PersistedQueries(CachePersistedQueryStore(shared))
    )
    two = Node(
        graphql=settings(), persisted_queries=PersistedQueries(CachePersistedQueryStore(shared))
    )
    await call(one.app, {"query": QUERY, "extensions": persisted()})
    response = await call(two.app, {"extensions": persisted()})
    assert response.json() == {"data": {"customer": {"name": "Customer 1"}}}


# --- rate limits --------------------------------------------------------------------------


async def test_rate_limit_is_429_with_retry_after() -> None:
    # One token per 1000 s: a slow first request (schema build under a loaded CI) cannot refill
    # the bucket before the third call, as it did at 0.5/s.
    node = Node(graphql=GraphQLSettings(rate_limit_per_second=0.001, rate_limit_burst=2))
    statuses = [(await call(node.app, {"query": "{ entityTypes }"})).status_code for _ in range(2)]
    assert statuses == [200, 200]
    limited = await call(node.app, {"query": QUERY}, accept=GQL)
    assert limited.status_code == 429
    retry_after = int(limited.headers["retry-after"])
    assert 990 <= retry_after <= 1000  # 1000 s less what refilled since the second call
    assert limited.headers["content-type"].startswith(GQL)
    assert limited.json()["errors"][0]["extensions"] == {
        "code": "RATE_LIMITED",
        "retryAfterSeconds": retry_after,
    }
    assert calls(node) == {}  # refused before the body was even read


class _Principal:
    """Puts a principal on request.state from a test header, like an auth middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            subject = dict(scope["headers"]).get(b"x-test-subject")
            if subject:
                state = scope.setdefault("state", {})
                state["principal"] = type("P", (), {"subject": subject.decode()})()
        await self.app(scope, receive, send)


async def test_rate_limit_is_per_principal_else_per_address() -> None:
    node = Node(
        graphql=GraphQLSettings(
            rate_limit_per_second=0.01, rate_limit_burst=1, trust_forwarded_for=True
        )
    )
    app = _Principal(node.app)
    body = {"query": "{ entityTypes }"}

    async def status(**headers: str) -> int:
        return (await call(app, body, headers=dict(headers))).status_code

    assert await status(**{"x-test-subject": "alice"}) == 200
    assert await status(**{"x-test-subject": "alice"}) == 429
    assert await status(**{"x-test-subject": "bob"}) == 200
    assert await status(**{"x-forwarded-for": "203.0.113.1"}) == 200
    assert await status(**{"x-forwarded-for": "203.0.113.1"}) == 429
    assert await status(**{"x-forwarded-for": "203.0.113.2"}) == 200


# --- timeouts -------------------------------------------------------------------------------


class SlowCustomers(MemoryAdapter):
    def __init__(self) -> None:
        super().__init__(CUSTOMER, [{"id": "c-1", "name": "Ada"}])
        self.cancelled = asyncio.Event()

    async def query_entities(self, query: Query) -> Page:
        self.calls["query_entities"] += 1
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("not cancelled")


async def test_timeout_is_504_and_cancels_the_source_call() -> None:
    slow = SlowCustomers()
    registry = MemoryRegistry([slow])
    app = create_app(
        ApiContext(
            registry=registry,
            catalog=FakeCatalog.from_adapters([slow]),
            graphql=settings(timeout_seconds=0.05),
        )
    )
    for accept in (JSON, GQL):
        response = await call(app, {"query": "{ customers { items { name } } }"}, accept=accept)
        assert response.status_code == 504
        assert response.json() == {
            "errors": [
                {
                    "message": "the request took longer than 0.05 s",
                    "extensions": {"code": "TIMEOUT", "timeoutSeconds": 0.05},
                }
            ]
        }
    assert slow.cancelled.is_set()
