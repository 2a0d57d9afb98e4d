"""Edge cases of the OpenAI-compatible provider over httpx.MockTransport (the end-to-end
tests against a real local server are in tests/integration/embeddings)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.inputs import InvalidInput
from dictamesh.core.settings import EmbeddingSettings
from dictamesh.embeddings import EmbeddingProviderError
from dictamesh.embeddings.openai import OpenAIProvider

KEY = "sk-test-0123456789abcdef"
Handler = Callable[[httpx.Request], httpx.Response]


def settings(**overrides: Any) -> EmbeddingSettings:
    values: dict[str, Any] = {
        "provider": "openai",
        "url": "http://embed.test:8080/v1",
        "model": "text-embedding-3-small",
        "dimensions": 8,
        "api_key": SecretStr(KEY),
        "retries": 0,
        "timeout_seconds": 2,
    }
    values.update(overrides)
    return EmbeddingSettings(**values)


def answer(vectors: list[list[float]], order: list[int] | None = None) -> dict[str, Any]:
    order = order if order is not None else list(range(len(vectors)))
    return {"object": "list", "data": [{"index": i, "embedding": vectors[i]} for i in order]}


def basis(i: int, width: int = 8, scale: float = 2.0) -> list[float]:
    return [scale if j == i % width else 0.0 for j in range(width)]


def provider(handler: Handler, **overrides: Any) -> tuple[OpenAIProvider, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return OpenAIProvider(settings(**overrides), transport=httpx.MockTransport(record)), seen


def echo(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    return httpx.Response(200, json=answer([basis(i) for i in range(len(body["input"]))]))


async def test_request_shape_headers_and_normalised_answer() -> None:
    p, seen = provider(echo)
    vectors = await p.embed(["a", "b"])
    assert vectors == [[1.0] + [0.0] * 7, [0.0, 1.0] + [0.0] * 6]  # sent at length 2
    [request] = seen
    assert request.method == "POST"
    assert (request.url.host, request.url.port, request.url.path) == (
        "embed.test",
        8080,
        "/v1/embeddings",
    )
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "model": "text-embedding-3-small",
        "input": ["a", "b"],
        "dimensions": 8,
    }


async def test_answers_are_put_back_in_index_order() -> None:
    def shuffled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer([basis(i) for i in range(3)], order=[2, 0, 1]))

    p, _ = provider(shuffled)
    vectors = await p.embed(["a", "b", "c"])
    assert [v.index(1.0) for v in vectors] == [0, 1, 2]


async def test_batches_of_batch_size_in_order() -> None:
    p, seen = provider(echo, batch_size=2)
    vectors = await p.embed(["a", "b", "c", "d", "e"])
    assert [json.loads(r.content)["input"] for r in seen] == [["a", "b"], ["c", "d"], ["e"]]
    assert len(vectors) == 5


@pytest.mark.parametrize(
    ("model", "send", "sent"),
    [
        ("text-embedding-3-large", None, True),
        ("text-embedding-ada-002", None, False),
        ("nomic-embed-text", None, False),
        ("nomic-embed-text", True, True),
        ("text-embedding-3-small", False, False),
    ],
)
async def test_dimensions_sent_only_when_the_model_takes_them(
    model: str, send: bool | None, sent: bool
) -> None:
    p, seen = provider(echo, model=model, send_dimensions=send)
    await p.embed(["a"])
    assert ("dimensions" in json.loads(seen[0].content)) is sent


def test_no_key_no_authorization_header() -> None:
    p, _ = provider(echo, api_key=None)
    assert "authorization" not in p._client.headers


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (answer([basis(0)]), "answered 1 embeddings for 2 texts"),
        ({"data": "nope"}, "answered 0 embeddings for 2 texts"),
        ([1, 2], "answered 0 embeddings"),
        (answer([basis(0), basis(1)], order=[0, 0]), "missing or repeated indexes"),
        ({"data": [{"index": 0, "embedding": [1.0] * 8}, {"embedding": [1.0] * 8}]}, "indexes"),
        (answer([[1.0] * 4, [1.0] * 4]), "answered 4-dimension embeddings"),
        (answer([[0.0] * 8, basis(1)]), "a zero embedding"),
        (answer([["x"] * 8, basis(1)]), "not a list of finite numbers"),  # type: ignore[list-item]
        (answer([[True] * 8, basis(1)]), "not a list of finite numbers"),
        ({"data": [{"index": 0, "embedding": "AAAA"}, {"index": 1}]}, "not a list of numbers"),
    ],
)
async def test_answers_of_the_wrong_shape_are_provider_errors(body: Any, words: str) -> None:
    p, seen = provider(lambda r: httpx.Response(200, json=body), retries=3)
    with pytest.raises(EmbeddingProviderError, match=words) as caught:
        await p.embed(["a", "b"])
    assert caught.value.http_status == 503
    assert len(seen) == 1  # a malformed answer is not retried


async def test_non_finite_numbers_and_non_json() -> None:
    nan = b'{"data":[{"index":0,"embedding":[NaN,1,1,1,1,1,1,1]}]}'
    p, _ = provider(lambda r: httpx.Response(200, content=nan))
    with pytest.raises(EmbeddingProviderError, match="finite"):
        await p.embed(["a"])
    p, _ = provider(lambda r: httpx.Response(200, text="<html>"))
    with pytest.raises(EmbeddingProviderError, match="not JSON"):
        await p.embed(["a"])


async def test_an_oversized_answer_is_cut_off() -> None:
    huge = b'{"data": [' + b" " * 200_000 + b"]}"
    p, _ = provider(lambda r: httpx.Response(200, content=huge))
    with pytest.raises(EmbeddingProviderError, match="more than 65856 bytes"):
        await p.embed(["a"])


async def test_refusal_names_status_and_code_never_the_key_or_the_message() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        error = {
            "message": f"Incorrect API key provided: {KEY[:6]}***{KEY[-4:]} for 'a secret'",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
        return httpx.Response(401, json={"error": error})

    p, seen = provider(refuse, retries=3)
    with pytest.raises(EmbeddingProviderError) as caught:
        await p.embed(["a secret"])
    text = str(caught.value) + json.dumps(caught.value.to_dict())
    assert "answered HTTP 401 (invalid_api_key)" in text
    assert "embed.test:8080" in text
    for secret in (KEY, KEY[-4:], "a secret", "pw", "user"):
        assert secret not in text
    assert len(seen) == 1  # a 401 is not retried


async def test_an_error_code_that_is_not_an_identifier_is_not_shown() -> None:
    body = {"error": {"code": "key sk-abc is wrong", "message": "x"}}
    p, _ = provider(lambda r: httpx.Response(400, json=body))
    with pytest.raises(EmbeddingProviderError) as caught:
        await p.embed(["a"])
    assert caught.value.message.endswith("answered HTTP 400")


async def test_retry_after_longer_than_the_deadline_fails_at_once() -> None:
    p, seen = provider(
        lambda r: httpx.Response(429, headers={"Retry-After": "30"}), retries=5, timeout_seconds=1
    )
    with pytest.raises(EmbeddingProviderError, match="Retry-After 30 s is longer") as caught:
        await p.embed(["a"])
    assert caught.value.details["retry_after"] == 30.0
    assert len(seen) == 1


async def test_connection_failures_are_retried_then_reported_without_the_url() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    p, seen = provider(down, retries=2, url="http://user:pw@embed.test:8080/v1", api_key=None)
    with pytest.raises(EmbeddingProviderError) as caught:
        await p.embed(["a"])
    assert "request failed (ConnectError) (after 3 attempts)" in caught.value.message
    assert "pw" not in caught.value.message
    assert len(seen) == 3
    assert seen[0].headers["authorization"].startswith("Basic ")  # the URL's, with no key


async def test_bad_input_never_reaches_the_endpoint() -> None:
    p, seen = provider(echo, max_text_chars=100)
    for bad in ([""], ["x" * 101], ["\x00"]):
        with pytest.raises(InvalidInput):
            await p.embed(bad)
    assert seen == []


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"url": None}, "needs the endpoint's base URL"),
        ({"url": "ftp://host/v1"}, "an http\\(s\\) base URL"),
        ({"url": "http:///v1"}, "an http\\(s\\) base URL"),
        ({"model": None}, "needs the model name"),
        ({"url": "https://u:p@embed.test/v1"}, "carries credentials .* keep one"),
    ],
)
def test_settings_errors(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        OpenAIProvider(settings(**overrides))
