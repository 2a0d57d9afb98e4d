"""Search through a running node: ingest -> the node's indexer -> vectors, then the node's own
app (REST and GraphQL) answers text, semantic and hybrid queries and similar entities from
its provider and vector store (the embedded catalog and bus, the default wordllama provider,
shipped in its wheel)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from dictamesh.core.models import ChangeEvent, EntityVersionRef, EventType, SourceRef
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode
from dictamesh.testing import FakeAdapter

THINGS = {
    "w-car": "red sports car with a powerful engine",
    "w-drink": "banana smoothie recipe with yogurt",
    "w-bench": "wooden garden bench",
    "w-van": "delivery van with a diesel engine",
}


def event(entity_id: str, name: str) -> ChangeEvent:
    return ChangeEvent(
        event_type=EventType.UPDATED,
        entity=EntityVersionRef(type="widget", id=entity_id, version=1),
        source=SourceRef(domain="testing", system="fake"),
        after={"id": entity_id, "name": name},
    )


def api_of(node: MeshNode, graphql_schema: Any = None) -> httpx.AsyncClient:
    app = node.asgi_app(graphql_schema=graphql_schema)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_a_node_answers_every_mode(tmp_path: Path, sqlite_catalog_url: str) -> None:
    settings = DictaMeshSettings.from_mapping(
        {
            "node_name": "search-api",
            "state_dir": str(tmp_path),
            "bus": {"path": str(tmp_path / "bus.sqlite3")},
            "catalog": {"url": sqlite_catalog_url},
        }
    )
    async with MeshNode(settings, adapters=[FakeAdapter(records=[])]) as node:
        provider, store = node.embeddings, node.vector_store
        assert provider is not None
        assert store is not None
        assert (provider.name, provider.dimensions) == ("wordllama", 256)
        for entity_id, name in THINGS.items():
            await node.publisher.publish_event(event(entity_id, name))
        deadline = asyncio.get_running_loop().time() + 20
        while await store.count() < len(THINGS):
            assert asyncio.get_running_loop().time() < deadline, "not indexed in time"
            await asyncio.sleep(0.05)
        async with api_of(node) as http:

            async def first(q: str, mode: str) -> str:
                response = await http.get("/api/v1/search", params={"q": q, "mode": mode})
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["degraded"] is False
                return str(body["results"][0]["entity_id"])

            assert await first("fast automobile", "semantic") == "w-car"
            assert await first("fast automobile", "hybrid") == "w-car"
            assert await first("smoothie", "text") == "w-drink"
            assert await first("smoothie", "hybrid") == "w-drink"
            assert await first("fruit drink", "semantic") == "w-drink"
            similar = await http.get("/api/v1/entities/widget/w-car/similar", params={"limit": 1})
            assert [h["entity_id"] for h in similar.json()["results"]] == ["w-van"]
            query = '{ catalogSearch(text: "outdoor seating", mode: SEMANTIC) { entityId } }'
            answer = (await http.post("/graphql", json={"query": query})).json()
            assert answer["data"]["catalogSearch"][0]["entityId"] == "w-bench"
        # the federation catalog subgraph (`serve --subgraph catalog`, ingest-only nodes)
        async with api_of(node, node.catalog_subgraph()) as http:
            answer = (await http.post("/graphql", json={"query": query})).json()
            assert answer["data"]["catalogSearch"][0]["entityId"] == "w-bench", answer
