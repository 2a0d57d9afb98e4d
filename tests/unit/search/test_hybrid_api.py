"""Text, semantic and hybrid search and similar entities over REST and GraphQL, on a real
SQLite catalog indexed with the wordllama provider: quality, filters, facets, governance,
tenants, the degraded and error paths, and checks made before any provider call."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence

import pytest
from tests.unit.search import hybrid_cases as cases
from tests.unit.search.hybrid_scenario import (
    SearchNode,
    ids,
    search,
    search_node,
    token,
    wordllama,
)

from dictamesh.catalog.service import CatalogService
from dictamesh.core.settings import EmbeddingSettings, SearchSettings
from dictamesh.embeddings.base import EmbeddingProvider
from dictamesh.embeddings.registry import provider_from_settings


@pytest.fixture
async def node(sqlite_catalog: CatalogService) -> AsyncIterator[SearchNode]:
    async with search_node(sqlite_catalog) as built:
        await built.seed()
        yield built


async def test_a_misspelled_name_is_found_by_text_and_hybrid(node: SearchNode) -> None:
    # SQLite's text search matches whole words: one right word of two is enough
    for mode in ("text", "hybrid"):
        body = (await search(node, "support", q="Grace Hoper", mode=mode)).json()
        assert ids(body)[0] == "customer:c-2", (mode, body)


async def test_a_descriptive_query_finds_the_product(node: SearchNode) -> None:
    await cases.check_descriptive_query(node)


async def test_hits_say_which_lists_found_them(node: SearchNode) -> None:
    await cases.check_hits_explain_themselves(node)


async def test_filters_and_facets(node: SearchNode) -> None:
    await cases.check_filters_and_facets(node)


async def test_a_hidden_type_changes_no_answer(node: SearchNode) -> None:
    await cases.check_hidden_type_changes_nothing(node)


async def test_a_hidden_field_changes_no_answer(node: SearchNode) -> None:
    await cases.check_hidden_field_changes_nothing(node)


async def test_similar_entities(node: SearchNode) -> None:
    await cases.check_similar(node)


async def test_tenants_see_only_their_entries(node: SearchNode) -> None:
    await cases.check_tenants(node)


async def test_graphql(node: SearchNode) -> None:
    await cases.check_graphql(node)


# --- semantic off, unavailable or failing ------------------------------------------------

OFF = SearchSettings(embeddings=EmbeddingSettings(provider="off"))


async def test_semantic_off_by_configuration(sqlite_catalog: CatalogService) -> None:
    async with search_node(sqlite_catalog, text_only=True, search=OFF) as node:
        await node.seed()
        refused = await search(node, "admin", q="Ada", mode="semantic")
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "SEMANTIC_SEARCH_OFF"
        hybrid = (await search(node, "admin", q="Ada Lovelace")).json()
        assert hybrid["mode"] == "hybrid"
        assert hybrid["degraded"] is True
        assert "off" in hybrid["degraded_reason"]
        text = (await search(node, "admin", q="Ada Lovelace", mode="text")).json()
        assert hybrid["results"] == text["results"]
        assert hybrid["facets"] == text["facets"]
        async with node.client() as http:
            similar = await http.get(
                "/api/v1/entities/customer/c-1/similar", headers=token("admin")
            )
        assert similar.status_code == 400
        assert similar.json()["error"]["code"] == "SEMANTIC_SEARCH_OFF"


async def test_semantic_configured_but_unavailable(sqlite_catalog: CatalogService) -> None:
    reason = "wordllama is required: pip install 'dictamesh[search]'"
    async with search_node(sqlite_catalog, text_only=True, unavailable=reason) as node:
        await node.seed()
        refused = await search(node, "admin", q="Ada", mode="semantic")
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert error["code"] == "EMBEDDING_PROVIDER_ERROR"
        assert error["details"]["reason"] == reason
        hybrid = (await search(node, "admin", q="Ada")).json()
        assert hybrid["degraded"] is True
        assert ids(hybrid)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_failing_provider_degrades_hybrid_and_fails_semantic(
    sqlite_catalog: CatalogService,
) -> None:
    down = provider_from_settings(
        EmbeddingSettings(
            provider="openai",
            url=f"http://127.0.0.1:{closed_port()}/v1",
            model="text-embedding-3-small",
            timeout_seconds=2,
            retries=0,
        )
    )
    async with search_node(sqlite_catalog, provider=down) as node:
        await node.seed(index=False)  # nothing can be embedded: the provider is down
        refused = await search(node, "admin", q="Ada", mode="semantic")
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "EMBEDDING_PROVIDER_ERROR"
        hybrid = await search(node, "admin", q="Ada Lovelace")
        assert hybrid.status_code == 200
        body = hybrid.json()
        assert body["degraded"] is True
        assert "customer:c-1" in ids(body)
        assert all(h["sources"] == ["text"] for h in body["results"])


class CountingProvider:
    """The wordllama provider, counting the texts it was asked to embed."""

    def __init__(self, inner: EmbeddingProvider) -> None:
        self.inner = inner
        self.name, self.model, self.dimensions = inner.name, inner.model, inner.dimensions
        self.texts = 0

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += len(texts)
        return await self.inner.embed(texts)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize(
    "params",
    [
        {"q": "headphones", "limit": 0},
        {"q": "headphones", "limit": 101},
        {"q": "headphones", "limit": "ten"},
        {"q": "headphones", "mode": "vector"},
        {"q": "headphones", "mode": "m" * 17},
        {"q": "x" * 201},
        {"q": "   "},
        {},
        {"q": "headphones", "type": "Product"},
        {"q": "headphones", "domain": "a b"},
        {"q": "headphones", "source": "s" * 64},
    ],
)
async def test_bad_requests_are_400_before_any_embedding(
    sqlite_catalog: CatalogService, params: dict[str, object]
) -> None:
    provider = CountingProvider(wordllama())
    async with search_node(sqlite_catalog, provider=provider) as node:
        for mode in (None, "semantic"):
            asked = dict(params)
            if mode is not None:
                asked.setdefault("mode", mode)
            response = await search(node, "admin", **asked)
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] in {"VALIDATION_ERROR", "QUERY_LIMIT_EXCEEDED"}
        assert provider.texts == 0
        ok = await search(node, "admin", q="headphones", mode="semantic")
        assert ok.status_code == 200
        assert provider.texts == 1  # the same node does embed a good query
