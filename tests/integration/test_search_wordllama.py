"""The default provider (wordllama, inside its wheel) through a node: ingest → indexer →
vectors, and a query in other words than the entity's finds it.

Needs the embedding provider registry of ``dictamesh.embeddings`` (skipped on a tree
without it; it is part of the search extra's default install).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dictamesh.core.models import ChangeEvent, EntityVersionRef, EventType, SourceRef
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode
from dictamesh.testing import FakeAdapter

pytest.importorskip("dictamesh.embeddings.registry")
pytest.importorskip("wordllama")

THINGS = {
    "w-car": "red sports car with a powerful engine",
    "w-drink": "banana smoothie recipe with yogurt",
    "w-bench": "wooden garden bench",
}


def event(entity_id: str, name: str) -> ChangeEvent:
    return ChangeEvent(
        event_type=EventType.UPDATED,
        entity=EntityVersionRef(type="widget", id=entity_id, version=1),
        source=SourceRef(domain="testing", system="fake"),
        after={"id": entity_id, "name": name},
    )


async def test_the_default_provider_finds_entities_by_meaning(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    settings = DictaMeshSettings.from_mapping(
        {
            "node_name": "wordllama",
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

        async def first(query: str) -> Any:
            [vector] = await provider.embed([query])
            return (await store.nearest(vector, limit=3))[0].entity_id

        assert await first("fast automobile") == "w-car"
        assert await first("fruit drink") == "w-drink"
        assert await first("outdoor seating") == "w-bench"
