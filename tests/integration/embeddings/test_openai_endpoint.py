"""The openai provider end to end against a real local OpenAI-compatible server."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from dictamesh.core.settings import EmbeddingSettings
from dictamesh.embeddings import EmbeddingProviderError, provider_from_settings
from dictamesh.embeddings.openai import OpenAIProvider
from dictamesh.embeddings.wordllama import WordLlamaProvider
from tests.integration.embeddings.conftest import EmbeddingServer
from tests.network_guard import loopback_only

TEXTS = [
    "customer Maria Silva lives in Lisbon",
    "invoice overdue, payment not received",
    "red mountain bicycle with 21 gears",
    "client Mario Silva from Lisboa",
    "unpaid bill past its due date",
]
KEY = "sk-local-9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Any:
    with loopback_only(monkeypatch) as attempts:
        yield
    assert attempts == []


def openai(server: EmbeddingServer, **overrides: Any) -> OpenAIProvider:
    values: dict[str, Any] = {
        "provider": "openai",
        "url": server.url,
        "model": "text-embedding-3-small",
        "dimensions": 256,
        "retries": 2,
        "timeout_seconds": 2,
    }
    values.update(overrides)
    provider = provider_from_settings(EmbeddingSettings(**values))
    assert isinstance(provider, OpenAIProvider)
    return provider


async def test_vectors_come_back_in_order_and_match_the_model(
    embedding_server: EmbeddingServer,
) -> None:
    provider = openai(embedding_server, batch_size=2)
    try:
        vectors = np.array(await provider.embed(TEXTS))
    finally:
        await provider.aclose()
    expected = np.array(await WordLlamaProvider(EmbeddingSettings()).embed(TEXTS))
    assert np.allclose(vectors, expected, atol=1e-6)  # despite the server's reversed order
    assert [r["input"] for r in embedding_server.requests] == [TEXTS[:2], TEXTS[2:4], TEXTS[4:]]
    sim = vectors @ vectors.T
    assert sim[0, 3] > sim[0, 2]


async def test_dimensions_are_sent_and_checked(embedding_server: EmbeddingServer) -> None:
    provider = openai(embedding_server, dimensions=64)
    vectors = await provider.embed(TEXTS[:1])
    assert len(vectors[0]) == 64
    assert embedding_server.requests[0]["dimensions"] == 64
    await provider.aclose()

    # a model that does not take "dimensions": the server answers 256, settings say 64
    provider = openai(embedding_server, model="local-model", dimensions=64)
    with pytest.raises(EmbeddingProviderError, match="answered 256-dimension embeddings"):
        await provider.embed(TEXTS[:1])
    assert "dimensions" not in embedding_server.requests[-1]
    await provider.aclose()


async def test_429_with_retry_after_is_waited_out(embedding_server: EmbeddingServer) -> None:
    embedding_server.refusals = [(429, {"Retry-After": "0.3"})]
    provider = openai(embedding_server)
    started = time.monotonic()
    vectors = await provider.embed(TEXTS[:2])
    elapsed = time.monotonic() - started
    await provider.aclose()
    assert len(vectors) == 2
    assert len(embedding_server.requests) == 2
    assert elapsed >= 0.3


async def test_5xx_is_retried_with_backoff(embedding_server: EmbeddingServer) -> None:
    embedding_server.refusals = [(500, {}), (503, {})]
    provider = openai(embedding_server, retries=2)
    vectors = await provider.embed(TEXTS[:1])
    await provider.aclose()
    assert len(vectors) == 1
    assert len(embedding_server.requests) == 3


async def test_retries_are_bounded(embedding_server: EmbeddingServer) -> None:
    embedding_server.refusals = [(502, {})] * 10
    provider = openai(embedding_server, retries=2)
    with pytest.raises(EmbeddingProviderError, match=r"answered HTTP 502 .*after 3 attempts"):
        await provider.embed(TEXTS[:1])
    await provider.aclose()
    assert len(embedding_server.requests) == 3


async def test_a_slow_endpoint_hits_the_deadline(embedding_server: EmbeddingServer) -> None:
    embedding_server.delay = 5.0
    provider = openai(embedding_server, timeout_seconds=0.3, retries=1)
    started = time.monotonic()
    with pytest.raises(EmbeddingProviderError, match=r"no answer within 0\.3 s") as caught:
        await provider.embed(TEXTS[:1])
    elapsed = time.monotonic() - started
    await provider.aclose()
    assert caught.value.http_status == 503
    assert 0.6 <= elapsed < 2.0  # two attempts of 0.3 s and one short backoff


async def test_the_key_is_sent_and_never_shown(
    embedding_server: EmbeddingServer, caplog: pytest.LogCaptureFixture
) -> None:
    embedding_server.key = KEY
    caplog.set_level(logging.DEBUG)
    provider = openai(embedding_server, api_key=SecretStr(KEY))
    assert len(await provider.embed(TEXTS[:1])) == 1
    assert embedding_server.auth_headers == [f"Bearer {KEY}"]
    await provider.aclose()

    wrong = openai(embedding_server, api_key=SecretStr("sk-wrong-000"))
    with pytest.raises(EmbeddingProviderError) as caught:
        await wrong.embed(TEXTS[:1])
    await wrong.aclose()
    assert "answered HTTP 401 (invalid_api_key)" in caught.value.message
    shown = str(caught.value.to_dict()) + caplog.text + repr(EmbeddingSettings(api_key=KEY))
    for secret in (KEY, "sk-wrong-000", TEXTS[0]):
        assert secret not in shown
    assert len(embedding_server.requests) == 2  # the 401 was not retried


async def test_nothing_listening_is_a_provider_error() -> None:
    provider = provider_from_settings(
        EmbeddingSettings(provider="openai", url="http://127.0.0.1:9/v1", model="m", retries=1)
    )
    assert provider is not None
    with pytest.raises(EmbeddingProviderError, match="request failed \\(ConnectError\\)"):
        await provider.embed(["a"])
    await provider.aclose()
