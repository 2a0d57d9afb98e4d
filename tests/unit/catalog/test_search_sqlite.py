"""Entity search on SQLite: the portable fallback (case-insensitive substrings, share of words)."""

from __future__ import annotations

from typing import Any

import pytest

from dictamesh.catalog import CatalogService
from dictamesh.catalog._search import MAX_SEARCH_LIMIT, MAX_SEARCH_QUERY_LENGTH, query_words
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import QueryLimitExceeded, ValidationError
from dictamesh.core.models import Entity, SourceRef


def entity(
    entity_type: str, entity_id: str, tenant: str | None = None, **attributes: Any
) -> Entity:
    return Entity(
        type=entity_type,
        id=entity_id,
        attributes=attributes,
        source=SourceRef(domain=f"{entity_type}s", system="crm"),
        tenant_id=tenant,
    )


@pytest.fixture
async def catalog(sqlite_catalog: CatalogService) -> CatalogService:
    for item in (
        entity("customer", "c-1", name="John Smith", email="john.smith@example.com"),
        entity("customer", "c-2", name="Jane Smith", address={"city": "Berlin"}),
        entity("customer", "c-3", name="Johnny Walker", tags=["vip", "gold"], vip=True),
        entity("product", "smith", name="Anvil"),
        entity("customer", "c-9", tenant="acme", name="John Smith"),
    ):
        await sqlite_catalog.register_entity(item)
    return sqlite_catalog


def ids(hits: list[Any]) -> list[str]:
    return [h.entity_id for h in hits]


async def test_every_word_found_ranks_above_some_words(catalog: CatalogService) -> None:
    hits = await catalog.search_entities("john SMITH")
    assert ids(hits)[:1] == ["c-1"]
    assert hits[0].score == 1.0
    assert hits[0].matched == ["email", "name"]
    # one word of two: half the score
    partial = {h.entity_id: h.score for h in hits[1:]}
    assert partial == {"c-2": 0.5, "c-3": 0.5, "smith": 0.5}


async def test_exact_id_ranks_first_then_text_matches(catalog: CatalogService) -> None:
    hits = await catalog.search_entities("smith")
    assert hits[0].entity_id == "smith"
    assert (hits[0].entity_type, hits[0].domain, hits[0].score) == ("product", "products", 1.0)
    assert hits[0].ref.type == "product"
    assert set(ids(hits[1:])) == {"c-1", "c-2"}


async def test_nested_values_and_lists_are_searched_keys_and_booleans_not(
    catalog: CatalogService,
) -> None:
    assert ids(await catalog.search_entities("berlin")) == ["c-2"]
    berlin = await catalog.search_entities("berlin")
    assert berlin[0].matched == ["address"]
    assert ids(await catalog.search_entities("gold")) == ["c-3"]
    assert await catalog.search_entities("city") == []  # a key, not a value
    assert await catalog.search_entities("true") == []  # booleans are not text


async def test_type_filter_limit_and_no_match(catalog: CatalogService) -> None:
    assert ids(await catalog.search_entities("smith", entity_type="product")) == ["smith"]
    assert len(await catalog.search_entities("smith", limit=1)) == 1
    assert await catalog.search_entities("zebra") == []
    # SQLite does no fuzzy matching: a typo finds nothing (PostgreSQL would find John)
    assert await catalog.search_entities("Jhon") == []


async def test_search_is_tenant_scoped(catalog: CatalogService) -> None:
    assert "c-9" not in ids(await catalog.search_entities("john smith"))
    token = current_tenant.set("acme")
    try:
        assert ids(await catalog.search_entities("john smith")) == ["c-9"]
    finally:
        current_tenant.reset(token)


async def test_deleted_entities_are_not_found(catalog: CatalogService) -> None:
    await catalog.mark_entity_deleted(entity("customer", "c-2").ref)
    assert "c-2" not in ids(await catalog.search_entities("smith"))


async def test_like_wildcards_in_the_query_are_not_wildcards(catalog: CatalogService) -> None:
    assert await catalog.search_entities("%") == []
    assert await catalog.search_entities("_") == []
    assert query_words("  Jöhn_Smith  o'neil john ") == ["jöhn", "smith", "o", "neil", "john"]


@pytest.mark.parametrize(
    ("text", "limit", "error"),
    [
        ("", 20, ValidationError),
        ("   ", 20, ValidationError),
        ("x" * (MAX_SEARCH_QUERY_LENGTH + 1), 20, ValidationError),
        ("john", 0, ValidationError),
        ("john", MAX_SEARCH_LIMIT + 1, QueryLimitExceeded),
    ],
)
async def test_bad_input_is_a_typed_4xx_error(
    catalog: CatalogService, text: str, limit: int, error: type[Exception]
) -> None:
    with pytest.raises(error) as raised:
        await catalog.search_entities(text, limit=limit)
    assert getattr(raised.value, "http_status", 0) == 400
