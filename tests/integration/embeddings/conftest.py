"""A real OpenAI-compatible ``/v1/embeddings`` server on a free 127.0.0.1 port, answering
with wordllama vectors in OpenAI's response shape, that a test can make refuse (429, 500),
stall, or demand a key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dictamesh._serving import serve_in_process
from dictamesh.core.settings import EmbeddingSettings
from dictamesh.embeddings.wordllama import WordLlamaProvider


@dataclass
class EmbeddingServer:
    url: str = ""
    #: what the next requests answer before serving normally: (status, headers)
    refusals: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    #: seconds every request waits before answering
    delay: float = 0.0
    #: the bearer token required (None: no auth)
    key: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)
    models: dict[int, WordLlamaProvider] = field(default_factory=dict)

    def model(self, dimensions: int) -> WordLlamaProvider:
        if dimensions not in self.models:
            self.models[dimensions] = WordLlamaProvider(EmbeddingSettings(dimensions=dimensions))
        return self.models[dimensions]

    async def embeddings(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.requests.append(body)
        self.auth_headers.append(request.headers.get("authorization"))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refusals:
            status, headers = self.refusals.pop(0)
            error = {"message": "try later", "type": "server_error", "code": None}
            return JSONResponse({"error": error}, status_code=status, headers=headers)
        if self.key is not None and request.headers.get("authorization") != f"Bearer {self.key}":
            error = {
                "message": f"Incorrect API key provided: {request.headers.get('authorization')}",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
            return JSONResponse({"error": error}, status_code=401)
        vectors = await self.model(body.get("dimensions", 256)).embed(body["input"])
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        data.reverse()  # OpenAI does not promise order: the client must sort by index
        usage = {"prompt_tokens": 0, "total_tokens": 0}
        payload = {"object": "list", "data": data, "model": body["model"], "usage": usage}
        return JSONResponse(payload)


@pytest.fixture
async def embedding_server() -> AsyncIterator[EmbeddingServer]:
    server = EmbeddingServer()
    app = Starlette(routes=[Route("/v1/embeddings", server.embeddings, methods=["POST"])])
    # shutdown_timeout 0: a stalled request is cancelled, not waited for, at the end
    async with serve_in_process(
        app, "127.0.0.1", 0, what="embedding server", shutdown_timeout=0
    ) as base:
        server.url = f"{base}/v1"
        yield server
