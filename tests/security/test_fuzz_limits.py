"""Bounded work: a body over the 1 MiB limit is refused 413 before it is read, on every
route that takes one; a graph walk's cost is bounded by its ``limit`` whatever its depth."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.security.support import (
    ATTACK,
    GRAPHQL_DEADLINE,
    REST_DEADLINE,
    HealthWatch,
    RunningNode,
    assert_graphql_answer,
    assert_typed_answer,
    raw_json,
    timed,
)

pytestmark = pytest.mark.slow

MAX_BODY = 1024 * 1024
BODY_ROUTES = [
    "/graphql",
    "/schema-registry/subjects/attack-value/versions",
    "/schema-registry/compatibility/subjects/attack-value/versions",
    "/api/v1/governance/erasure",
    "/webhooks/customers_directus",
]
#: a walk that returns at most ``limit`` (≤ 50) nodes has no reason to take longer than this
GRAPH_DEADLINE = 1.0


@pytest.fixture
def http(node: RunningNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=60) as client:
        yield client


@settings(ATTACK, max_examples=10)
@given(route=st.sampled_from(BODY_ROUTES), extra=st.integers(1, 3 * MAX_BODY))
@example(route="/graphql", extra=1)
def test_bodies_over_the_limit_are_refused_413(
    http: httpx.Client, watch: HealthWatch, route: str, extra: int
) -> None:
    # valid JSON of the limit's size plus ``extra``: only its size is wrong
    padding = "x" * (MAX_BODY + extra - len(raw_json({"query": "{ __typename }", "pad": ""})))
    body = raw_json({"query": "{ __typename }", "pad": padding})
    assert len(body) == MAX_BODY + extra
    response, elapsed = timed(http, "POST", route, body=body)
    assert_typed_answer(response, elapsed, REST_DEADLINE)
    assert response.status_code == 413, (route, response.status_code, response.text[:300])


@settings(ATTACK, max_examples=15)
@given(
    depth=st.integers(1, 10),
    limit=st.integers(1, 50),
    direction=st.sampled_from(["OUT", "IN", "BOTH"]),
    via_graphql=st.booleans(),
)
@example(depth=8, limit=10, direction="BOTH", via_graphql=False)  # ~4.5 s
def test_graph_walks_are_bounded_by_their_limit(
    http: httpx.Client, watch: HealthWatch, depth: int, limit: int, direction: str,
    via_graphql: bool,
) -> None:  # fmt: skip
    if via_graphql:
        query = """query($d: Int!, $l: Int!, $dir: CatalogGraphDirection!) {
          relationshipGraph(type: "customer", id: "1", depth: $d, limit: $l, direction: $dir)
          { nodes { id } } }"""
        variables = {"d": depth, "l": limit, "dir": direction}
        response, elapsed = timed(
            http, "POST", "/graphql", body=raw_json({"query": query, "variables": variables})
        )
        assert_graphql_answer(response, elapsed)
        assert elapsed < min(GRAPH_DEADLINE, GRAPHQL_DEADLINE), f"{variables}: {elapsed:.2f} s"
    else:
        rest = {"OUT": "outgoing", "IN": "incoming", "BOTH": "both"}[direction]
        params = {"depth": depth, "limit": limit, "direction": rest}
        response, elapsed = timed(http, "GET", "/api/v1/entities/customer/1/graph", params=params)
        assert_typed_answer(response, elapsed, GRAPH_DEADLINE)
