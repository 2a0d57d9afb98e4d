"""Item 4: search must not be steered by values the caller cannot read in clear.

Before: the score counted words matched in hidden attributes (a word in a withheld value
scored 1.0 instead of 0.5) and ``q=customer munich`` reordered or dropped exactly the
customers whose hidden values said Munich. Now the same query gives the same hits, scores
and order whether or not a hidden attribute holds the query's words — on SQLite and on
PostgreSQL, over REST ``/api/v1/search`` and GraphQL ``catalogSearch``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dictamesh.catalog.service import CatalogService
from dictamesh.core.models import Entity, SourceRef
from tests.postgres_fixtures import truncate_catalog
from tests.unit.governance.enforce_support import CUSTOMER, GovernedNode, graphql, token

QUERIES = ("customer munich", "munich", "customer", "anna munich", "c-2")
ROLES = ("reader", "support")
SEARCH_QUERY = """
query($text: String!) {
  catalogSearch(text: $text, limit: 50) { entityType entityId score matched }
}"""


def customers(hidden_words: bool) -> list[dict[str, Any]]:
    """Four customers; with ``hidden_words`` their hidden values (nickname: denied to
    readers and support; email/phone: masked for support) name Munich."""
    city = "munich" if hidden_words else "nowhere"
    return [
        {"id": "c-1", "name": "Anna", "country": "DE", "nickname": f"{city} anna"},
        {"id": "c-2", "name": "Ben", "country": "DE", "email": f"ben@{city}.example"},
        {"id": "c-3", "name": "Cleo Munich", "country": "DE", "nickname": "cleo"},
        {"id": "c-4", "name": "Dan", "country": "FR", "phone": f"+49 {city}", "nickname": "d"},
    ]


async def seed(catalog: CatalogService, hidden_words: bool) -> GovernedNode:
    node = GovernedNode(catalog)
    await catalog.register_schema(CUSTOMER)
    for record in customers(hidden_words):
        attributes = {k: v for k, v in record.items() if k != "id"}
        await catalog.register_entity(
            Entity(
                type="customer",
                id=record["id"],
                attributes=attributes,
                source=SourceRef(domain="crm", system="crm"),
            )
        )
    return node


async def answers(node: GovernedNode, role: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with node.client() as http:
        for q in QUERIES:
            rest = await http.get("/api/v1/search", params={"q": q}, headers=token(role))
            assert rest.status_code == 200, rest.text
            out[f"rest {q}"] = [
                (h["entity_id"], h["score"], h["matched"]) for h in rest.json()["results"]
            ]
            body = await graphql(http, token(role), SEARCH_QUERY, {"text": q})
            assert "errors" not in body, body
            out[f"graphql {q}"] = [
                (h["entityId"], h["score"], h["matched"]) for h in body["data"]["catalogSearch"]
            ]
    return out


async def compare(open_catalog: Any) -> None:
    results: dict[bool, dict[str, Any]] = {}
    for hidden_words in (True, False):
        async with open_catalog() as catalog:
            node = await seed(catalog, hidden_words)
            try:
                results[hidden_words] = {
                    role: await answers(node, role) for role in (*ROLES, "admin")
                }
            finally:
                await node.writer.aclose()
    for role in ROLES:
        assert results[True][role] == results[False][role], role
    # the datasets do differ for a caller who may read everything: the check can fail
    assert results[True]["admin"] != results[False]["admin"]
    assert results[True]["reader"]["rest customer munich"]  # Cleo's visible name


async def test_hidden_values_neither_match_nor_score_on_sqlite(tmp_path: Path) -> None:
    counter = iter(range(10))

    def open_catalog() -> Any:
        url = f"sqlite+aiosqlite:///{tmp_path / f'catalog{next(counter)}.sqlite3'}"
        return _opened(url)

    await compare(open_catalog)


@pytest.mark.postgres
async def test_hidden_values_neither_match_nor_score_on_postgres(
    migrated_postgres: str,
    postgres_owner_url: str,
) -> None:
    def open_catalog() -> Any:
        return _opened(migrated_postgres, truncate=postgres_owner_url)

    await compare(open_catalog)


class _opened:
    """A catalog opened for one dataset (PostgreSQL: emptied first, as the owner)."""

    def __init__(self, url: str, truncate: str | None = None) -> None:
        self.url, self.truncate = url, truncate
        self.catalog: CatalogService | None = None

    async def __aenter__(self) -> CatalogService:
        if self.truncate is not None:
            await truncate_catalog(self.truncate)
        self.catalog = await CatalogService.open(self.url, migrate=self.truncate is None)
        return self.catalog

    async def __aexit__(self, *exc: object) -> None:
        assert self.catalog is not None
        await self.catalog.aclose()


async def test_the_catalog_leaves_hidden_values_out(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}"
    async with _opened(url) as catalog:
        await seed(catalog, hidden_words=True)
        hidden = {"customer": ["nickname", "email", "phone"]}
        plain = await catalog.search_entities("anna munich")
        assert next((h.entity_id, h.score) for h in plain) == ("c-1", 1.0)  # via nickname
        shown = await catalog.search_entities("anna munich", hidden=hidden)
        by_id = {h.entity_id: h for h in shown}
        assert by_id["c-1"].score == 0.5
        assert by_id["c-1"].matched == ["name"]
        assert "c-2" not in by_id
        assert "c-4" not in by_id
