"""Hybrid search on PostgreSQL (trigram text search, pgvector HNSW): the checks of
``tests/unit/search/test_hybrid_api.py`` through REST and GraphQL, and a misspelling only
the fuzzy text search forgives."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dictamesh.catalog.service import CatalogService
from tests.unit.search import hybrid_cases as cases
from tests.unit.search.hybrid_scenario import SearchNode, ids, search, search_node

pytestmark = pytest.mark.postgres


@pytest.fixture
async def node(postgres_catalog: CatalogService) -> AsyncIterator[SearchNode]:
    async with search_node(postgres_catalog) as built:
        await built.seed()
        yield built


async def test_a_misspelled_name_is_found_by_text_and_hybrid(node: SearchNode) -> None:
    # every word misspelled: only trigram similarity and edit distance find her
    for mode in ("text", "hybrid"):
        body = (await search(node, "support", q="Grase Hoppr", mode=mode)).json()
        assert ids(body)[0] == "customer:c-2", (mode, body)
        assert "text" in body["results"][0]["sources"]


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
