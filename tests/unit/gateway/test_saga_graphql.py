"""Sagas in GraphQL: the part's fields in the generated schema, the mutation and queries over
HTTP, and ``sagaStatus`` over graphql-transport-ws (a real engine on a SQLite catalog)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import strawberry
from tests.unit.api.conftest import Node
from tests.unit.api.test_graphql_ws import receive, served, session
from tests.unit.gateway.fakes import MemoryRegistry, shop
from tests.unit.saga.fake_sources import FakeSources
from tests.unit.saga.support import ORDER, running_engine

from dictamesh.core.errors import ConfigurationError
from dictamesh.events.fanout import ChangeFeed
from dictamesh.gateway import build_schema
from dictamesh.gateway.catalog import CatalogPart
from dictamesh.gateway.sagas import SagaPart
from dictamesh.gateway.subscriptions import build_live_schema
from dictamesh.saga import SagaEngine
from dictamesh.testing.graphql import GraphQLTestClient

CREATE = """
mutation Create($input: CreateInvoiceInput!, $key: String) {
  createInvoice(input: $input, idempotencyKey: $key) { sagaId status created }
}
"""
SAGA = """
query One($id: ID!) {
  saga(id: $id) {
    id saga status failedStep error input outputs startedBy createdAt finishedAt
    steps { step phase status attempt node durationMs at }
  }
}
"""
FOLLOW = re.compile(r"^  sagaStatus\(id: ID!\): Saga$", re.M)  # nullable
INPUT = {"customerId": "1", "currency": "EUR", "items": [{"productId": "prd_1", "quantity": 2}]}


@pytest.fixture
def sources() -> FakeSources:
    return FakeSources()


@pytest.fixture
async def engine(sqlite_catalog_url: str, sources: FakeSources) -> AsyncIterator[SagaEngine]:
    async with running_engine(sqlite_catalog_url, sources) as running:
        yield running


@pytest.fixture
def node(engine: SagaEngine) -> Node:
    return Node(sagas=engine)


# --- the schema ------------------------------------------------------------------------


class _Engine:
    """Enough of an engine to build a schema with."""

    definitions = {"create_invoice": object()}
    poll_interval_seconds = 1.0


def _registry() -> MemoryRegistry:
    return MemoryRegistry(list(shop()))


def _sdl(parts: list[Any], feed: ChangeFeed | None = None) -> str:
    return build_live_schema(_registry(), feed, parts=parts).as_str()


def test_the_part_adds_query_mutation_and_subscription_fields() -> None:
    part: Any = SagaPart(_Engine())  # type: ignore[arg-type]
    alone = _sdl([CatalogPart(None), part])  # no change feed: Subscription of the part only
    assert "saga(id: ID!): Saga\n" in alone
    assert "sagas(status: SagaStatus = null, saga: String = null, first: Int = 20)" in alone
    assert "createInvoice(input: CreateInvoiceInput!, idempotencyKey: String = null)" in alone
    assert "type Subscription {" in alone
    assert FOLLOW.search(alone)
    assert "customerChanged" not in alone
    merged = _sdl([CatalogPart(None), SagaPart(_Engine())], ChangeFeed())  # type: ignore[arg-type]
    assert FOLLOW.search(merged)
    assert "customerChanged(id: ID = null)" in merged
    assert merged.count("type Subscription {") == 1


def test_without_the_part_there_is_no_mutation() -> None:
    sdl = _sdl([CatalogPart(None)])
    assert "type Mutation" not in sdl
    assert "type Subscription" not in sdl


def test_fields_of_two_parts_may_not_clash() -> None:
    class Other:
        type_names: frozenset[str] = frozenset()

        def root_fields(self) -> dict[str, Any]:
            return {}

        def entity_fields(self, entity_type: str) -> dict[str, Any]:
            return {}

        def subscription_fields(self) -> dict[str, Any]:
            async def follow() -> AsyncIterator[int]:
                yield 1

            made: Any = strawberry.field(resolver=follow, name="sagaStatus", is_subscription=True)
            return {"other": made}

    with pytest.raises(ConfigurationError, match=r"Subscription\.sagaStatus"):
        build_schema(_registry(), parts=[SagaPart(_Engine()), Other()])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"Subscription\.sagaStatus"):
        _sdl([SagaPart(_Engine()), Other()], ChangeFeed())  # type: ignore[arg-type]


# --- over HTTP -------------------------------------------------------------------------


async def test_create_invoice_then_read_it_back(
    node: Node, engine: SagaEngine, sources: FakeSources
) -> None:
    gql = GraphQLTestClient(node.app)
    started = await gql.query(CREATE, {"input": INPUT, "key": "order-7"})
    assert started.errors == []
    assert started.data is not None
    body = started.data["createInvoice"]
    assert body["status"] == "RUNNING"
    assert body["created"] is True
    saga_id = body["sagaId"]
    await engine.wait(saga_id, timeout=10)
    read = await gql.query(SAGA, {"id": saga_id})
    assert read.errors == []
    assert read.data is not None
    saga = read.data["saga"]
    assert saga["status"] == "COMPLETED"
    assert saga["saga"] == "create_invoice"
    assert saga["input"] == ORDER
    assert saga["outputs"]["create_invoice"]["total_cents"] == 2500
    assert [s["status"] for s in saga["steps"]] == ["started", "completed"] * 3
    assert saga["steps"][0]["node"] == "n1"

    again = await gql.query(CREATE, {"input": INPUT, "key": "order-7"})
    assert again.data is not None
    assert again.data["createInvoice"] == {
        "sagaId": saga_id,
        "status": "COMPLETED",
        "created": False,
    }
    assert sources.effects == {"reserve": 1, "create": 1, "charge": 1}
    other = await gql.query(CREATE, {"input": {**INPUT, "currency": "USD"}, "key": "order-7"})
    assert other.error_codes == ["IDEMPOTENCY_KEY_REUSED"]

    listed = await gql.query("{ sagas(status: COMPLETED, first: 5) { id status } }")
    assert listed.data == {"sagas": [{"id": saga_id, "status": "COMPLETED"}]}
    assert (await gql.query("{ sagas(status: FAILED) { id } }")).data == {"sagas": []}
    unknown = await gql.query(SAGA, {"id": str(uuid.uuid4())})
    assert unknown.data == {"saga": None}
    assert unknown.errors == []


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"input": {**INPUT, "items": []}}, "BAD_USER_INPUT"),
        ({"input": {**INPUT, "currency": "euro"}}, "BAD_USER_INPUT"),
        ({"input": {**INPUT, "items": [{"productId": "p", "quantity": 0}]}}, "BAD_USER_INPUT"),
        ({"input": {"customerId": "1"}}, "BAD_USER_INPUT"),  # coercion: items missing
        ({"input": INPUT, "key": "k" * 300}, "BAD_USER_INPUT"),
    ],
)
async def test_bad_input_starts_nothing(
    node: Node,
    engine: SagaEngine,
    sources: FakeSources,
    variables: dict[str, Any],
    code: str,
) -> None:
    result = await GraphQLTestClient(node.app).query(CREATE, variables)
    assert result.error_codes == [code], result.errors
    assert await engine.store.list_sagas("default") == []
    assert not sources.calls


async def test_start_saga_by_name_and_forbidden(
    node: Node, engine: SagaEngine, sources: FakeSources
) -> None:
    gql = GraphQLTestClient(node.app)
    start = "mutation($s: String!, $i: JSON!) { startSaga(saga: $s, input: $i) { sagaId } }"
    unknown = await gql.query(start, {"s": "nope", "i": ORDER})
    assert unknown.error_codes == ["BAD_USER_INPUT"]
    bad = await gql.query(start, {"s": "create_invoice", "i": [1]})
    assert bad.error_codes == ["BAD_USER_INPUT"]
    sources.denied_types.add("invoice")
    denied = await gql.query(CREATE, {"input": INPUT})
    assert denied.error_codes == ["FORBIDDEN"]
    assert await engine.store.list_sagas("default") == []
    assert not sources.calls
    sources.denied_types.clear()
    started = await gql.query(start, {"s": "create_invoice", "i": ORDER})
    assert started.errors == []


async def test_bad_ids_and_sizes_are_bad_user_input(node: Node) -> None:
    gql = GraphQLTestClient(node.app)
    assert (await gql.query('{ saga(id: "x") { id } }')).error_codes == ["BAD_USER_INPUT"]
    assert (await gql.query("{ sagas(first: 0) { id } }")).error_codes == ["BAD_USER_INPUT"]
    assert (await gql.query("{ sagas(first: 201) { id } }")).error_codes == ["BAD_USER_INPUT"]


# --- the subscription over a WebSocket ---------------------------------------------------


async def test_saga_status_follows_a_saga_until_it_ends(node: Node, sources: FakeSources) -> None:
    sources.delay = 0.15  # each source call: slow enough to see the steps go by
    gql = GraphQLTestClient(node.app)
    started = await gql.query(CREATE, {"input": INPUT})
    assert started.data is not None
    saga_id = started.data["createInvoice"]["sagaId"]
    subscribe = {
        "id": "s",
        "type": "subscribe",
        "payload": {
            "query": "subscription($id: ID!) { sagaStatus(id: $id) { id status steps { step } } }",
            "variables": {"id": saga_id},
        },
    }
    seen: list[str] = []
    async with served(node) as url, session(url) as ws:
        assert await receive(ws) == {"type": "connection_ack"}
        await ws.send(json.dumps(subscribe))
        while True:
            message = await receive(ws)
            if message["type"] == "complete":
                break
            assert message["type"] == "next", message
            saga = message["payload"]["data"]["sagaStatus"]
            assert saga["id"] == saga_id
            seen.append(saga["status"])
    assert seen[0] == "RUNNING"
    assert seen[-1] == "COMPLETED"
    assert len(seen) >= 3  # steps went by while it ran


async def test_saga_status_of_an_unknown_saga_is_an_error(node: Node) -> None:
    subscribe = {
        "id": "s",
        "type": "subscribe",
        "payload": {"query": f'subscription {{ sagaStatus(id: "{uuid.uuid4()}") {{ id }} }}'},
    }
    async with served(node) as url, session(url) as ws:
        assert await receive(ws) == {"type": "connection_ack"}
        await ws.send(json.dumps(subscribe))
        message = await receive(ws)
        assert message["type"] == "error"
        assert [e["extensions"]["code"] for e in message["payload"]] == ["SAGA_NOT_FOUND"]
