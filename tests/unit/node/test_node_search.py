"""A node wires semantic search: provider, vector store, the indexer fed by its ingest, the
erasure step, metrics; ``provider: off`` and roles without ingest leave the parts out.
On SQLite and on PostgreSQL (marker ``postgres``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from tests.search_support import HashingProvider, hashed_vector
from tests.timing import eventually

from dictamesh.core.models import ChangeEvent, EntityRef, EntityVersionRef, EventType, SourceRef
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.governance.erasure import erase_entity
from dictamesh.node import MeshNode
from dictamesh.testing import FakeAdapter

DIMS = 256


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_catalog_url" if request.param == "sqlite" else "empty_catalog_url"
    url: str = request.getfixturevalue(name)
    return url


def settings(state: Path, catalog_url: str, **search: Any) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "search",
            "state_dir": str(state),
            "bus": {"path": str(state / "bus.sqlite3")},
            "catalog": {"url": catalog_url},
            "search": search,
        }
    )


def widget_event(entity_id: str, version: int, **after: Any) -> ChangeEvent:
    return ChangeEvent(
        event_type=EventType.UPDATED,
        entity=EntityVersionRef(type="widget", id=entity_id, version=version),
        source=SourceRef(domain="testing", system="fake"),
        after={"id": entity_id, **after},
    )


async def test_ingested_changes_are_embedded_and_erasure_removes_them(
    tmp_path: Path, catalog_url: str
) -> None:
    provider = HashingProvider(DIMS)
    node = MeshNode(
        settings(tmp_path, catalog_url),
        adapters=[FakeAdapter(records=[])],
        embeddings=provider,
    )
    async with node:
        assert node.embeddings is provider
        store = node.vector_store
        assert store is not None
        assert node.search is not None
        assert node.search.indexer
        await node.publisher.publish_event(widget_event("w-9", 1, name="purple gizmo"))

        async def found() -> Any:
            hits = await store.nearest(hashed_vector("purple gizmo", DIMS), limit=5)
            assert [h.entity_id for h in hits] == ["w-9"]
            return hits

        hits = await eventually(found)
        assert hits[0].score > 0.8

        async def counted() -> None:  # counted just after the vectors are written
            metrics = generate_latest(node.metrics.registry).decode()
            assert 'dictamesh_search_embeddings_total{outcome="embedded"} 1.0' in metrics
            assert "dictamesh_search_embeddings_pending 0.0" in metrics
            assert "dictamesh_search_embed_seconds_count 1.0" in metrics

        await eventually(counted)

        # the erasure steps the node installed run with the active governance
        assert node.governance is not None
        with node.governance.governance.use():
            await erase_entity(node.catalog, None, EntityRef(type="widget", id="w-9"))
        assert await store.count() == 0
    assert not provider.closed  # a provider handed in belongs to the caller


async def test_provider_off_means_no_search_parts(tmp_path: Path, sqlite_catalog_url: str) -> None:
    node = MeshNode(
        settings(tmp_path, sqlite_catalog_url, embeddings={"provider": "off"}),
        adapters=[FakeAdapter(records=[])],
    )
    async with node:
        assert node.vector_store is None
        assert node.embeddings is None
        assert node.search_unavailable is None
        assert "search-indexer" not in node.supervisor.health()


async def test_an_api_node_gets_the_store_but_no_indexer(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    node = MeshNode(
        settings(tmp_path, sqlite_catalog_url),
        adapters=[FakeAdapter(records=[])],
        embeddings=HashingProvider(DIMS),
        roles=["api"],
    )
    async with node:
        assert node.vector_store is not None
        assert node.search is not None
        assert node.search.indexer is None


async def test_a_provider_of_another_size_is_refused(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    node = MeshNode(
        settings(tmp_path, sqlite_catalog_url),
        adapters=[FakeAdapter(records=[])],
        embeddings=HashingProvider(64),
    )
    with pytest.raises(Exception, match="dimensions is 256 but provider 'hashing' gives 64"):
        await node.start()
    await node.stop()
