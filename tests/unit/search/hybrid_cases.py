"""The hybrid search checks, run on SQLite (``test_hybrid_api.py``) and on PostgreSQL
(``tests/integration/postgres/test_hybrid_search_postgres.py``) over one
:class:`~tests.unit.search.hybrid_scenario.SearchNode` each."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.search.hybrid_scenario import (
    PAYROLL_ROWS,
    SearchNode,
    graphql,
    ids,
    search,
    token,
)

from dictamesh.core.models import EntityRef
from dictamesh.search.fusion import rrf_score

#: queries an unprivileged caller's answers are compared on, with and without hidden data
PROBES = ["wireless headphones", "Ada Lovelace", "Grace", "headset", "navy", "bonus"]


async def answers(node: SearchNode, role: str) -> dict[tuple[str, str], Any]:
    out = {}
    for q in PROBES:
        for mode in ("text", "semantic", "hybrid"):
            response = await search(node, role, q=q, mode=mode, limit=10)
            assert response.status_code == 200, response.text
            out[(q, mode)] = response.json()
    return out


async def check_descriptive_query(node: SearchNode) -> None:
    for mode in ("semantic", "hybrid"):
        body = (await search(node, "support", q="wireless headphones", mode=mode)).json()
        assert ids(body)[0] == "product:p-1", (mode, body)
        assert body["mode"] == mode
        assert body["degraded"] is False
    text = (await search(node, "support", q="wireless headphones", mode="text")).json()
    assert "product:p-1" not in ids(text)  # no word of it is in the product


async def check_hits_explain_themselves(node: SearchNode) -> None:
    body = (await search(node, "admin", q="Ada Lovelace", mode="hybrid", limit=10)).json()
    hits = body["results"]
    assert hits
    assert ids(body)[0] in {"customer:c-1", "invoice:i-1", "payroll:y-1"}
    k = node.ctx.search.rrf_k
    best = rrf_score([1, 1], k)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    for h in hits:
        assert list(h["ranks"]) == h["sources"]
        assert set(h["scores"]) == set(h["sources"])
        assert h["score"] == pytest.approx(rrf_score(list(h["ranks"].values()), k) / best, abs=1e-5)
    both = [h for h in hits if h["sources"] == ["text", "semantic"]]
    assert both, "the name is found by words and by meaning"


async def check_filters_and_facets(node: SearchNode) -> None:
    body = (await search(node, "admin", q="Ada Lovelace", mode="hybrid", limit=2)).json()
    facets = body["facets"]
    assert sum(facets["type"].values()) == body["candidates"] > len(body["results"]) == 2
    for name in ("domain", "source", "classification"):
        assert sum(facets[name].values()) == body["candidates"]
    assert facets["classification"]["pii"] == facets["type"]["customer"]
    by_type = (await search(node, "admin", q="Ada Lovelace", type="invoice")).json()
    assert ids(by_type)[0] == "invoice:i-1"
    assert {h["entity_type"] for h in by_type["results"]} == {"invoice"}
    by_domain = (await search(node, "admin", q="Ada Lovelace", domain="crm")).json()
    assert {h["domain"] for h in by_domain["results"]} == {"crm"}
    assert "customer:c-1" in ids(by_domain)
    by_source = (await search(node, "admin", q="Ada Lovelace", source="shop")).json()
    assert ids(by_source)[0] == "invoice:i-1"
    assert {h["source"] for h in by_source["results"]} == {"shop"}
    assert by_source["facets"]["source"] == {"shop": by_source["candidates"]}


async def check_hidden_type_changes_nothing(node: SearchNode) -> None:
    """Payroll (hidden from support) competes for every probe; deleting it changes no
    answer support gets — not a hit, a count, a rank or a score — while admin's change."""
    support_before = await answers(node, "support")
    admin_before = await answers(node, "admin")
    assert any("payroll" in str(b["facets"]["type"]) for b in admin_before.values())
    for body in support_before.values():
        assert "payroll" not in body["facets"]["type"]
        assert "hr" not in body["facets"]["domain"]
    for row in PAYROLL_ROWS:
        await node.catalog.mark_entity_deleted(EntityRef(type="payroll", id=row["id"]))
    await node.reindex()
    assert await answers(node, "support") == support_before
    assert await answers(node, "admin") != admin_before


async def check_hidden_field_changes_nothing(node: SearchNode) -> None:
    """An email support cannot read in clear neither matches nor moves anything."""
    admin = (await search(node, "admin", q="navy", mode="text")).json()
    assert ids(admin) == ["customer:c-2"]  # the value is there for those who may read it
    before = await answers(node, "support")
    await node.register(
        "customer",
        "c-2",
        name="Grace Hopper",
        company="Globex",
        city="Arlington",
        email="someone.else@army.example",
    )
    await node.reindex()
    assert await answers(node, "support") == before


async def check_similar(node: SearchNode) -> None:
    async with node.client() as http:
        path = "/api/v1/entities/product/p-1/similar"
        body = (await http.get(path, params={"limit": 5}, headers=token("support"))).json()
        found = ids(body)
        assert found
        assert "product:p-1" not in found
        assert not any(f.startswith("payroll:") for f in found)
        assert all(h["sources"] == ["semantic"] for h in body["results"])
        scores = [h["score"] for h in body["results"]]
        assert scores == sorted(scores, reverse=True)
        admin = (await http.get(path, params={"limit": 10}, headers=token("admin"))).json()
        assert any(f.startswith("payroll:") for f in ids(admin))  # it is there to hide
        denied = await http.get("/api/v1/entities/payroll/y-1/similar", headers=token("support"))
        assert denied.status_code == 403
        missing = await http.get("/api/v1/entities/product/p-404/similar", headers=token("admin"))
        assert missing.status_code == 404
        for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}):
            response = await http.get(path, params=bad, headers=token("admin"))
            assert response.status_code == 400, (bad, response.text)


async def check_tenants(node: SearchNode) -> None:
    await node.register("product", "p-9", tenant="t2", name="Headset Max", category="audio")
    await node.reindex()
    for mode in ("text", "semantic", "hybrid"):
        mine = (await search(node, "support", q="headset", mode=mode, limit=50)).json()
        assert "product:p-9" not in ids(mine), mode
        theirs = (await search(node, "support", tenant="t2", q="headset", mode=mode)).json()
        assert ids(theirs) == ["product:p-9"], (mode, theirs)
    async with node.client() as http:
        other = await http.get(
            "/api/v1/entities/product/p-9/similar", headers=token("admin", tenant="t2")
        )
        assert other.status_code == 200
        assert ids(other.json()) == []
        hidden = await http.get("/api/v1/entities/product/p-9/similar", headers=token("admin"))
        assert hidden.status_code == 404


SEARCH_QUERY = """
query($t: String!, $mode: CatalogSearchMode, $type: String, $limit: Int) {
  catalogSearch(text: $t, mode: $mode, type: $type, limit: $limit) {
    entityType entityId domain score matched sources sourceSystem
    ranks { list rank score }
  }
}"""
RESULTS_QUERY = """
query($t: String!) {
  catalogSearchResults(text: $t, limit: 3) {
    query mode candidates degraded degradedReason
    hits { entityId sources }
    facets { name values { value count } }
  }
}"""
SIMILAR_QUERY = """
query($type: String!, $id: ID!) {
  similarEntities(type: $type, id: $id, limit: 3) { entityType entityId sources score }
}"""


async def check_graphql(node: SearchNode) -> None:
    semantic = await graphql(
        node, SEARCH_QUERY, {"t": "wireless headphones", "mode": "SEMANTIC"}, role="support"
    )
    hits = semantic["data"]["catalogSearch"]
    assert hits[0]["entityId"] == "p-1", hits[0]
    assert hits[0]["sources"] == ["semantic"]
    assert hits[0]["ranks"] == [{"list": "semantic", "rank": 1, "score": hits[0]["score"]}]
    assert hits[0]["sourceSystem"] == "pim"
    rest = (await search(node, "support", q="Ada Lovelace", mode="hybrid", limit=5)).json()
    hybrid = await graphql(node, SEARCH_QUERY, {"t": "Ada Lovelace", "limit": 5}, role="support")
    assert [f"{h['entityType']}:{h['entityId']}" for h in hybrid["data"]["catalogSearch"]] == ids(
        rest
    )
    assert [h["score"] for h in hybrid["data"]["catalogSearch"]] == [
        h["score"] for h in rest["results"]
    ]
    similar = await graphql(node, SIMILAR_QUERY, {"type": "product", "id": "p-1"}, role="support")
    found = similar["data"]["similarEntities"]
    assert found
    assert all(h["entityId"] != "p-1" for h in found)
    denied = await graphql(node, SIMILAR_QUERY, {"type": "payroll", "id": "y-1"}, role="support")
    assert denied["data"]["similarEntities"] is None
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    results = await graphql(node, RESULTS_QUERY, {"t": "Ada Lovelace"}, role="support")
    page = results["data"]["catalogSearchResults"]
    full = (await search(node, "support", q="Ada Lovelace", limit=3)).json()
    assert page["mode"] == "HYBRID"
    assert page["degraded"] is False
    assert page["candidates"] == full["candidates"]
    assert {f["name"]: {v["value"]: v["count"] for v in f["values"]} for f in page["facets"]} == (
        full["facets"]
    )
    assert [h["entityId"] for h in page["hits"]] == [h["entity_id"] for h in full["results"]]
    bad = await graphql(node, SEARCH_QUERY, {"t": "x", "mode": "FUZZY"})
    assert bad["errors"]
    assert bad.get("data") is None
    too_many = await graphql(node, SEARCH_QUERY, {"t": "x", "limit": 101})
    assert too_many["errors"][0]["extensions"]["code"] == "QUERY_LIMIT_EXCEEDED"
