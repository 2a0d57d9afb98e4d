"""Only failures *of the source* count toward its circuit breaker: the caller's input and our
own bugs are not the source's fault, and their exception text never reaches the caller.

The adapter is the reference Directus one, over httpx transports that either serve the
sample source app in-process or answer with a fixed status.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.responses import Response

from dictamesh.adapters.reference.customers_directus import DirectusCustomersAdapter
from dictamesh.api.errors import error_response
from dictamesh.core.errors import (
    InternalError,
    SourceError,
    SourceRejectedRequest,
    SourceResponseError,
    SourceUnavailable,
    ValidationError,
)
from dictamesh.core.inputs import (
    MAX_JSON_DEPTH,
    InvalidInput,
    check_json,
    check_text,
    parse_json,
    scrub_text,
)
from dictamesh.core.models import FieldFilter, FilterOp, Query
from dictamesh.core.settings import AdapterConfig
from dictamesh.resilience.breaker import BreakerState
from dictamesh.sources import directus

THRESHOLD = 3
Handler = Callable[[httpx.Request], httpx.Response]


def config() -> AdapterConfig:
    return AdapterConfig(
        name="customers_directus",
        kind="customers_directus",
        base_url="http://source",
        poll_interval_seconds=None,
        resilience={
            "max_attempts": 1,
            "timeout_seconds": 2,
            "breaker_failure_threshold": THRESHOLD,
        },
    )


class Recording(httpx.AsyncBaseTransport):
    """Serves the sample Directus app, or ``answer`` when given; remembers every request."""

    def __init__(self, answer: Handler | None = None) -> None:
        self.inner = httpx.ASGITransport(app=directus.create_app())
        self.answer = answer
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.answer is not None:
            return self.answer(request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
def transport() -> Recording:
    return Recording()


@pytest.fixture
async def adapter(transport: Recording) -> AsyncIterator[DirectusCustomersAdapter]:
    headers = {"Authorization": f"Bearer {directus.DEFAULT_TOKEN}"}
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://source", headers=headers) as http,
        DirectusCustomersAdapter(config(), client=http) as crm,
    ):
        yield crm


def country(value: str) -> Query:
    return Query(filters=[FieldFilter(field="country", op=FilterOp.EQ, value=value)])


@pytest.mark.parametrize("value", ["\ud800", "x\udfff"])
async def test_text_the_source_cannot_be_sent_is_the_callers_and_not_counted(
    adapter: DirectusCustomersAdapter, transport: Recording, value: str
) -> None:
    # The edge refuses this first; behind it the adapter must still not blame the source.
    for _ in range(THRESHOLD * 3):
        with pytest.raises(InvalidInput) as caught:
            await adapter.query_entities(country(value))
        assert "codec" not in caught.value.message
    assert transport.requests == []
    assert adapter.policy.breaker.state is BreakerState.CLOSED
    assert adapter.policy.breaker.stats().failures_in_window == 0
    page = await adapter.query_entities(country("DE"))
    assert page.items


async def test_a_bug_before_the_request_is_internal_and_not_counted(
    adapter: DirectusCustomersAdapter, transport: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(client: httpx.AsyncClient, query: Query) -> Any:
        raise TypeError("secret internal detail")

    monkeypatch.setattr(adapter, "fetch_page", broken)
    for _ in range(THRESHOLD * 3):
        with pytest.raises(InternalError) as caught:
            await adapter.query_entities(Query())
        assert "secret" not in caught.value.message
        assert caught.value.http_status == 500
    assert transport.requests == []
    assert adapter.policy.breaker.state is BreakerState.CLOSED


async def test_a_source_refusing_one_request_is_not_counted(
    adapter: DirectusCustomersAdapter, transport: Recording
) -> None:
    transport.answer = lambda request: httpx.Response(400, json={"errors": ["bad filter"]})
    for _ in range(THRESHOLD * 3):
        with pytest.raises(SourceRejectedRequest):
            await adapter.query_entities(country("DE"))
    assert len(transport.requests) == THRESHOLD * 3
    assert adapter.policy.breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize("status", [500, 503, 408])
async def test_source_failures_still_open_the_breaker(
    adapter: DirectusCustomersAdapter, transport: Recording, status: int
) -> None:
    transport.answer = lambda request: httpx.Response(status, json={})
    for _ in range(THRESHOLD):
        with pytest.raises(SourceError) as caught:
            await adapter.query_entities(country("DE"))
        assert caught.value.counts_against_source
    assert adapter.policy.breaker.state is BreakerState.OPEN
    with pytest.raises(SourceUnavailable):
        await adapter.query_entities(country("DE"))
    assert len(transport.requests) == THRESHOLD


async def test_garbage_from_the_source_is_still_counted(
    adapter: DirectusCustomersAdapter, transport: Recording
) -> None:
    transport.answer = lambda request: httpx.Response(200, json={"data": []})
    for _ in range(THRESHOLD):
        with pytest.raises(SourceResponseError) as caught:
            await adapter.query_entities(country("DE"))
        # which key was missing is for the log: the answer's shape is not the caller's business
        assert "meta" not in caught.value.message
    assert adapter.policy.breaker.state is BreakerState.OPEN


# --- the shared validator ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["\x00", "a\ud800", "\udc00b", "\ud83d"])
def test_check_text_refuses_nul_and_lone_surrogates(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_text(text, "the field")
    assert caught.value.message.startswith("the field contains")
    assert isinstance(caught.value, ValidationError)
    assert caught.value.http_status == 400


def test_a_surrogate_pair_from_json_is_one_character_and_fine() -> None:
    assert parse_json(r'{"name": "\ud83d\ude00"}') == {"name": "\U0001f600"}


def test_json_nesting_is_capped_exactly_at_the_limit() -> None:
    fine = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_json(fine) is not None
    deeper = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(InvalidInput, match="nested deeper"):
        parse_json(deeper)
    with pytest.raises(InvalidInput, match="nested deeper"):
        parse_json("[" * 200_000)  # past the C parser's stack: RecursionError inside


def test_keys_are_checked_like_values() -> None:
    with pytest.raises(InvalidInput):
        check_json({"ok": [{"a\x00": 1}]})


@pytest.mark.parametrize("raw", [b"\xff", b"{", b"", b"nan-ish"])
def test_what_is_not_json_is_invalid_input(raw: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_json(raw)


def test_an_error_echoing_bad_text_still_renders() -> None:
    response: Response = error_response(400, "VALIDATION_ERROR", "bad \ud800", {"id": "\ud800"})
    body = json.loads(response.body)
    assert body["error"]["details"]["id"] == "\ufffd"
    assert scrub_text({"k\x00": ["\udfff"]}) == {"k\ufffd": ["\ufffd"]}
