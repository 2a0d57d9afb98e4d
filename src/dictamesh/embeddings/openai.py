"""``search.embeddings.provider: openai``: any OpenAI-compatible ``POST {url}/embeddings``
(OpenAI, Azure-style proxies, vLLM, Ollama, text-embeddings-inference, LiteLLM...).

Request ``{"model": ..., "input": [...]}`` (plus ``dimensions`` when the model takes it),
answer ``{"data": [{"index": i, "embedding": [...]}, ...]}``, put back in ``index`` order,
checked (count, size, finite numbers) and L2-normalised. Each attempt has
``timeout_seconds``; 429, 5xx, timeouts and connection failures are retried ``retries``
times with exponential backoff (a ``Retry-After`` is honoured when it is no longer than
``timeout_seconds``; a longer one fails at once). Failures are
:class:`EmbeddingProviderError` (503) naming the host and status only: never the key, the
URL's credentials, the texts, or the endpoint's error message (OpenAI's quotes part of a
wrong key).

Example (mesh.yaml)::

    search:
      embeddings:
        provider: openai
        url: https://api.openai.com/v1
        model: text-embedding-3-small
        dimensions: 256
        api_key: ${OPENAI_API_KEY}
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.retry_after import parse_retry_after
from dictamesh.core.settings import EmbeddingSettings
from dictamesh.embeddings._texts import batches, check_texts, unit
from dictamesh.embeddings.base import EmbeddingProviderError

__all__ = ["OpenAIProvider", "takes_dimensions"]

_RETRY_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))
#: first backoff step; doubled per attempt, with jitter, never above the deadline
_BACKOFF = 0.2
#: an error ``code``/``type`` shown in messages only if it looks like an identifier
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def takes_dimensions(model: str) -> bool:
    """Whether ``model`` accepts the ``dimensions`` request field (OpenAI's v3 models)."""
    return model.startswith("text-embedding-3")


def _where(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


class OpenAIProvider:
    """Vectors from an OpenAI-compatible endpoint over httpx (one pooled client)."""

    name = "openai"

    def __init__(
        self, settings: EmbeddingSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """``transport`` replaces the network (tests)."""
        if not settings.url:
            raise ConfigurationError(
                "search.embeddings.url: provider 'openai' needs the endpoint's base URL"
                " (e.g. https://api.openai.com/v1)"
            )
        parts = urlsplit(settings.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                "search.embeddings.url: an http(s) base URL is required", host=parts.hostname
            )
        if settings.api_key is not None and (parts.username or parts.password):
            # httpx would send the URL's user:password as Basic auth instead of the key
            raise ConfigurationError(
                "search.embeddings.url carries credentials and search.embeddings.api_key is"
                " set: keep one (the key)",
                host=parts.hostname,
            )
        if not settings.model:
            raise ConfigurationError(
                "search.embeddings.model: provider 'openai' needs the model name"
                " (e.g. text-embedding-3-small)"
            )
        self.model = settings.model
        self.dimensions = settings.dimensions
        self._send_dimensions = (
            takes_dimensions(self.model)
            if settings.send_dimensions is None
            else settings.send_dimensions
        )
        self._where = _where(settings.url)
        self._batch_size = settings.batch_size
        self._timeout = settings.timeout_seconds
        self._retries = settings.retries
        self._max_chars = settings.max_text_chars
        headers = {"Accept": "application/json"}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=settings.url.rstrip("/") + "/",
            headers=headers,
            timeout=settings.timeout_seconds,
            follow_redirects=False,  # a redirect would carry the key to another host
            transport=transport,
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        checked = check_texts(texts, max_chars=self._max_chars)
        vectors: list[list[float]] = []
        for batch in batches(checked, self._batch_size):
            vectors.extend(await self._embed_batch(batch))
        return vectors

    async def aclose(self) -> None:
        await self._client.aclose()

    def _error(self, what: str, **details: Any) -> EmbeddingProviderError:
        return EmbeddingProviderError(
            f"openai embeddings at {self._where}: {what}",
            provider=self.name,
            host=self._where,
            **details,
        )

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        body: dict[str, Any] = {"model": self.model, "input": batch}
        if self._send_dimensions:
            body["dimensions"] = self.dimensions
        attempt = 0
        while True:
            try:
                return await self._attempt(body, len(batch))
            except _Retryable as failure:
                if attempt >= self._retries:
                    raise self._error(
                        f"{failure.reason} (after {attempt + 1} attempts)", attempts=attempt + 1
                    ) from failure.__cause__
                wait = failure.retry_after
                if wait is not None and wait > self._timeout:
                    raise self._error(
                        f"{failure.reason} (Retry-After {wait:g} s is longer than the"
                        f" {self._timeout:g} s deadline)",
                        retry_after=wait,
                    ) from None
                if wait is None:
                    wait = min(self._timeout, _BACKOFF * 2**attempt) * random.uniform(0.5, 1.0)
                await asyncio.sleep(wait)
                attempt += 1
            except _Final as failure:
                raise self._error(failure.reason) from failure.__cause__

    async def _attempt(self, body: dict[str, Any], count: int) -> list[list[float]]:
        """One POST under the deadline: the vectors, or :class:`_Retryable` / :class:`_Final`."""
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.stream("POST", "embeddings", json=body) as response:
                    raw = await _read(response, _max_bytes(count, self.dimensions))
        except TimeoutError as exc:
            raise _Retryable(f"no answer within {self._timeout:g} s") from exc
        except httpx.HTTPError as exc:
            # the exception's text may hold the URL (and credentials in it): its type only
            raise _Retryable(f"request failed ({type(exc).__name__})") from None
        status = response.status_code
        if status != 200:
            reason = f"answered HTTP {status}{_error_code(raw)}"
            if status in _RETRY_STATUS:
                raise _Retryable(reason, parse_retry_after(response.headers.get("retry-after")))
            raise _Final(reason)
        return self._vectors(raw, count)

    def _vectors(self, raw: bytes, count: int) -> list[list[float]]:
        try:
            payload = json.loads(raw)
        except ValueError:
            raise _Final("answered something that is not JSON") from None
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or len(data) != count:
            raise _Final(f"answered {_count(data)} embeddings for {count} texts")
        ordered: list[list[float] | None] = [None] * count
        for item in data:
            index = item.get("index") if isinstance(item, dict) else None
            if not isinstance(index, int) or not 0 <= index < count or ordered[index]:
                raise _Final("answered embeddings with missing or repeated indexes")
            ordered[index] = self._vector(item.get("embedding"))
        return [v for v in ordered if v is not None]

    def _vector(self, value: object) -> list[float]:
        if not isinstance(value, list):
            raise _Final("answered an embedding that is not a list of numbers")
        if len(value) != self.dimensions:
            raise _Final(
                f"answered {len(value)}-dimension embeddings, search.embeddings.dimensions"
                f" is {self.dimensions}"
            )
        if not all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
            for x in value
        ):
            raise _Final("answered an embedding that is not a list of finite numbers")
        vector = unit(value)
        if vector is None:
            raise _Final("answered a zero embedding")
        return vector


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Final(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _max_bytes(count: int, dimensions: int) -> int:
    # ~25 characters per float in JSON; room for pretty-printing and usage fields
    return count * dimensions * 40 + 65_536


async def _read(response: httpx.Response, limit: int) -> bytes:
    """The body, or :class:`_Final` once it grows past ``limit`` (a broken endpoint must not
    fill the node's memory)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _Final(f"answered more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _count(data: object) -> int:
    return len(data) if isinstance(data, list) else 0


def _error_code(raw: bytes) -> str:
    """`` (invalid_api_key)`` from an OpenAI-style error body, if it is an identifier; the
    error's message is never shown (it can quote the key or the input)."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return ""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return ""
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str) and _IDENTIFIER.fullmatch(value):
            return f" ({value})"
    return ""
