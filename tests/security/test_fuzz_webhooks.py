"""Webhook bodies, shaped as each sample source sends them or not at all: a typed answer
(no 5xx) in time, and bad ids hurt nobody else — the sources' breakers stay closed, so
every other caller still gets live answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dictamesh.core.webhook_signature import signature_headers
from tests.security.graphql_grammar import REAL_WORDS, hostile_text, junk, plain_text
from tests.security.graphql_grammar import Alphabet as Values
from tests.security.support import (
    ATTACK,
    REST_DEADLINE,
    HealthWatch,
    RunningNode,
    assert_typed_answer,
    raw_json,
    timed,
)

pytestmark = pytest.mark.slow

#: how each sample source announces a change of ``ids`` (the adapters' parse_webhook)
SHAPES: dict[str, Callable[[list[Any]], Any]] = {
    "customers_directus": lambda ids: {"event": "items.update", "collection": "customers",
                                       "keys": ids},
    "products_rest": lambda ids: {"type": "product.updated", "data": {"id": ids[0]}},
    "invoices_ecommerce": lambda ids: {"topic": "invoices/updated", "invoice_id": ids[0]},
}  # fmt: skip
#: a live read per source, answered only while its breaker lets calls through
CANARIES = {
    "customers_directus": "/api/v1/entities/customer/1?live=true",
    "products_rest": "/api/v1/entities/product/prd_1001?live=true",
    "invoices_ecommerce": "/api/v1/entities/invoice/INV-2026-00001?live=true",
}


@pytest.fixture
def http(node: RunningNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=30) as client:
        yield client


def ids(text: st.SearchStrategy[str]) -> st.SearchStrategy[list[Any]]:
    one = text | st.sampled_from(REAL_WORDS) | st.integers(-(2**70), 2**70)
    return st.lists(one, min_size=1, max_size=5)


@pytest.fixture
def post(http: httpx.Client, node: RunningNode) -> Callable[[str, bytes], None]:
    """Send a correctly signed webhook: the attack is on the body, past the signature."""

    def send(kind: str, body: bytes) -> None:
        name = node.adapters[kind]
        headers = signature_headers(node.webhook_secrets[name].encode(), body)
        response, elapsed = timed(http, "POST", f"/webhooks/{name}", body=body, headers=headers)
        assert_typed_answer(response, elapsed, REST_DEADLINE)
        assert response.status_code != 401, response.text  # signed: the body was judged

    return send


def assert_sources_still_served(http: httpx.Client) -> None:
    for adapter, path in CANARIES.items():
        response = http.get(path)
        assert response.status_code == 200, (adapter, response.status_code, response.text[:300])
        assert response.json().get("live"), (adapter, "no live answer", response.text[:300])


@settings(ATTACK, max_examples=60)
@given(adapter=st.sampled_from(sorted(SHAPES)), keys=ids(plain_text))
def test_shaped_webhooks_with_plain_ids(
    http: httpx.Client,
    watch: HealthWatch,
    post: Callable[[str, bytes], None],
    adapter: str,
    keys: list[Any],
) -> None:
    post(adapter, raw_json(SHAPES[adapter](keys)))
    assert_sources_still_served(http)


# a lone surrogate in an id: 500 (item 6), and the source call it makes counts against
# the source's breaker, for everyone (item 1)
@settings(ATTACK, max_examples=40)
@given(adapter=st.sampled_from(sorted(SHAPES)), keys=ids(hostile_text))
@example(adapter="customers_directus", keys=["\ud800"])
def test_shaped_webhooks_with_hostile_ids(
    http: httpx.Client,
    watch: HealthWatch,
    post: Callable[[str, bytes], None],
    adapter: str,
    keys: list[Any],
) -> None:
    post(adapter, raw_json(SHAPES[adapter](keys)))
    assert_sources_still_served(http)


@settings(ATTACK, max_examples=40)
@given(adapter=st.sampled_from(sorted(SHAPES)), body=junk(Values(text=plain_text)))
def test_webhooks_of_any_shape(
    http: httpx.Client,
    watch: HealthWatch,
    post: Callable[[str, bytes], None],
    adapter: str,
    body: Any,
) -> None:
    post(adapter, raw_json(body))
