"""GET /api/v1/search over a real (in-memory SQLite) catalog: results and JSON 4xx errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.unit.gateway.fakes import MemoryRegistry

from dictamesh.api import ApiContext, create_app
from dictamesh.catalog import CatalogService
from dictamesh.core.models import Entity, SourceRef


@pytest.fixture
async def client(sqlite_catalog: CatalogService) -> AsyncIterator[httpx.AsyncClient]:
    catalog = sqlite_catalog
    for entity_type, entity_id, name in (
        ("customer", "c-1", "John Smith"),
        ("customer", "c-2", "Jane Doe"),
        ("invoice", "i-1", "John's order"),
    ):
        await catalog.register_entity(
            Entity(
                type=entity_type,
                id=entity_id,
                attributes={"name": name},
                source=SourceRef(domain="shop", system="crm"),
            )
        )
    app = create_app(ApiContext(registry=MemoryRegistry([]), catalog=catalog))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]  # type: ignore[no-any-return]


async def test_search_answers_ranked_hits(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/search", params={"q": " john smith "})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "john smith"
    assert body["results"][0] == {
        "entity_type": "customer",
        "entity_id": "c-1",
        "domain": "shop",
        "score": 1.0,
        "matched": ["name"],
        # hybrid by default; without embeddings the text list alone, said so
        "sources": ["text"],
        "ranks": {"text": 1},
        "scores": {"text": 1.0},
        "source": "crm",
    }
    assert body["mode"] == "hybrid"
    assert body["degraded"] is True
    assert [r["entity_id"] for r in body["results"]] == ["c-1", "i-1"]


async def test_type_and_limit_narrow_the_results(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/search", params={"q": "john", "type": "invoice"})
    assert [r["entity_id"] for r in response.json()["results"]] == ["i-1"]
    response = await client.get("/api/v1/search", params={"q": "john", "limit": 1})
    assert len(response.json()["results"]) == 1
    response = await client.get("/api/v1/search", params={"q": "nobody"})
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "VALIDATION_ERROR"),
        ({"q": ""}, "VALIDATION_ERROR"),
        ({"q": "   "}, "VALIDATION_ERROR"),
        ({"q": "x" * 201}, "VALIDATION_ERROR"),
        ({"q": "john", "limit": 0}, "VALIDATION_ERROR"),
        ({"q": "john", "limit": "many"}, "VALIDATION_ERROR"),
        ({"q": "john", "limit": 101}, "QUERY_LIMIT_EXCEEDED"),
        ({"q": "john", "type": "t" * 64}, "VALIDATION_ERROR"),
    ],
)
async def test_bad_input_is_a_json_400(
    client: httpx.AsyncClient, params: dict[str, Any], code: str
) -> None:
    response = await client.get("/api/v1/search", params=params)
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == code
