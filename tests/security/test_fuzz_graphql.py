"""GraphQL documents and variables built from the node's real schema: whatever they hold,
the answer is a typed GraphQL answer (no 5xx, no INTERNAL), within the execution deadline,
and /health keeps answering meanwhile."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.security.graphql_grammar import (
    INTROSPECTION,
    Alphabet,
    Operation,
    Schema,
    hostile_text,
    operations,
    plain_text,
)
from tests.security.support import (
    ATTACK,
    HealthWatch,
    RunningNode,
    assert_graphql_answer,
    raw_json,
    timed,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def schema(node: RunningNode) -> Schema:
    with httpx.Client(base_url=node.url, timeout=10) as http:
        body = http.post("/graphql", json={"query": INTROSPECTION}).json()
    return Schema.from_introspection(body["data"])


@pytest.fixture
def http(node: RunningNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=30) as client:
        yield client


def send(http: httpx.Client, op: Operation, via_get: bool) -> httpx.Response:
    if via_get:
        params = {"query": op.document, "variables": raw_json(op.variables).decode()}
        response, elapsed = timed(http, "GET", "/graphql", params=params)
    else:
        payload = {"query": op.document, "variables": op.variables}
        response, elapsed = timed(http, "POST", "/graphql", body=raw_json(payload))
    assert_graphql_answer(response, elapsed)
    return response


@settings(ATTACK, max_examples=120)
@given(data=st.data(), via_get=st.booleans())
@example(data=None, via_get=False)
def test_random_queries_get_typed_answers(
    schema: Schema, http: httpx.Client, watch: HealthWatch, data: st.DataObject | None,
    via_get: bool,
) -> None:  # fmt: skip
    if data is None:
        op = Operation('{ relationshipGraph(type: "0", id: "1") { __typename } }', {})
    else:
        op = data.draw(operations(schema, Alphabet()), label="operation")
    send(http, op, via_get)


@settings(ATTACK, max_examples=60)
@given(data=st.data())
@example(data=None)  # catalogSearch(text: "\ud800"): the minimal case, replayed every run
def test_lone_surrogates_and_nul_get_typed_answers(
    schema: Schema, http: httpx.Client, watch: HealthWatch, data: st.DataObject | None
) -> None:
    if data is None:
        op = Operation(
            "query($t: String!) { catalogSearch(text: $t) { entityId } }", {"t": "\ud800"}
        )
    else:
        op = data.draw(operations(schema, Alphabet(text=hostile_text)), label="operation")
    send(http, op, via_get=False)


@settings(ATTACK, max_examples=20)
@given(data=st.data())
def test_subscriptions_over_plain_http_are_refused_typed(
    schema: Schema, http: httpx.Client, watch: HealthWatch, data: st.DataObject
) -> None:
    op = data.draw(operations(schema, Alphabet(text=plain_text), kinds=("subscription",)))
    send(http, op, via_get=False)


@settings(ATTACK, max_examples=15)
@given(depth=st.integers(10, 200_000), shape=st.sampled_from(["[", '{"a":']))
@example(depth=100_000, shape="[")
def test_deeply_nested_variables_get_typed_answers(
    http: httpx.Client, watch: HealthWatch, depth: int, shape: str
) -> None:
    close = "]" if shape == "[" else "}"
    nested = shape * depth + "1" + close * depth
    body = '{"query": "query($a: JSON) { __typename }", "variables": {"a": ' + nested + "}}"
    response, elapsed = timed(http, "POST", "/graphql", body=body.encode())
    assert_graphql_answer(response, elapsed)
