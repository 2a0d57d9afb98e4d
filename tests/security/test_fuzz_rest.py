"""Every route of the node's OpenAPI document, with random path parameters, query strings
and bodies: a typed answer (no 5xx) within the deadline, and /health answers meanwhile."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.security.graphql_grammar import EDGE_INTS, hostile_text, plain_text
from tests.security.graphql_grammar import Alphabet as Values
from tests.security.rest_grammar import Route, requests, routes_of
from tests.security.support import (
    ATTACK,
    REST_DEADLINE,
    HealthWatch,
    RunningNode,
    assert_typed_answer,
    timed,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def routes(node: RunningNode) -> list[Route]:
    with httpx.Client(base_url=node.url, timeout=10) as http:
        document = http.get("/openapi.json").json()
    found = routes_of(document)
    assert len(found) > 40, "the OpenAPI document lost its routes"
    return found


@pytest.fixture
def http(node: RunningNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=30) as client:
        yield client


small_ints = st.sampled_from([0, -1, 1, 2**31 - 1]) | st.integers(-1000, 1000)


def attack(http: httpx.Client, request: tuple[str, str, bytes | None]) -> None:
    method, url, body = request
    response, elapsed = timed(http, method, url, body=body)
    assert_typed_answer(response, elapsed, REST_DEADLINE)


# invalid EntityRef (pydantic ValidationError → 500); the same class of defect as item 6
@settings(ATTACK, max_examples=150)
@given(data=st.data())
@example(data=None)
def test_every_route_answers_typed(
    routes: list[Route], http: httpx.Client, watch: HealthWatch, data: st.DataObject | None
) -> None:
    if data is None:
        attack(http, ("GET", "/api/v1/entities/0/1/graph", None))
        return
    attack(http, data.draw(requests(routes, Values(text=plain_text, ints=small_ints))))


@settings(ATTACK, max_examples=80)
@given(data=st.data())
@example(data=None)
def test_every_route_answers_typed_with_hostile_text(
    routes: list[Route], http: httpx.Client, watch: HealthWatch, data: st.DataObject | None
) -> None:
    if data is None:
        attack(http, ("GET", "/api/v1/entities/%00/1/graph", None))
        return
    attack(http, data.draw(requests(routes, Values(text=hostile_text, ints=small_ints))))


@settings(ATTACK, max_examples=80)
@given(data=st.data())
@example(data=None)
def test_every_route_answers_typed_with_huge_integers(
    routes: list[Route], http: httpx.Client, watch: HealthWatch, data: st.DataObject | None
) -> None:
    if data is None:  # the minimal case found: an int64 overflow in the event log's filter
        attack(
            http, ("GET", "/api/v1/entities/customer/1/events?since_ms=9223372036854775808", None)
        )
        return
    ints = st.sampled_from(EDGE_INTS) | st.integers(2**63, 2**70)
    attack(http, data.draw(requests(routes, Values(text=plain_text, ints=ints))))
