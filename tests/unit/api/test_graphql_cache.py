"""Response caching at /graphql: Cache-Control hints, server-side hits, invalidation by
change events, and no reuse across tenants, principals or roles."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
from tests.unit.api.conftest import Node
from tests.unit.gateway.fakes import MemoryAdapter

from dictamesh.api.graphql_cache import CACHE_STATUS_HEADER
from dictamesh.auth import hash_api_key
from dictamesh.core.errors import SourceUnavailable
from dictamesh.core.models import ChangeEvent, Entity, EventType
from dictamesh.core.settings import AuthSettings
from dictamesh.events.fanout import ChangeFeed
from dictamesh.governance.enforce import Governance
from dictamesh.governance.policy import PolicyEngine

PRODUCT = '{ product(id: "p-1") { sku name } }'
INVOICES_OF = '{ customer(id: "c-1") { country invoices { invoiceNumber total } } }'

KEYS = {
    "acme-reader": ("acme", ["reader"]),
    "acme-reader-2": ("acme", ["reader"]),
    "acme-admin": ("acme", ["reader", "admin"]),
    "globex-reader": ("globex", ["reader"]),
}


def auth() -> AuthSettings:
    return AuthSettings(
        mode="required",
        api_keys=[
            {"sha256": hash_api_key(f"dmk_{key}"), "subject": key, "roles": roles, "tenant": t}
            for key, (t, roles) in KEYS.items()
        ],
    )


def cached_node(**overrides: Any) -> tuple[Node, ChangeFeed]:
    feed = ChangeFeed()
    return Node(changes=feed, **overrides), feed


async def get(node: Node, query: str, key: str | None = None, **params: str) -> httpx.Response:
    headers = {"X-API-Key": f"dmk_{key}"} if key else {}
    async with node.client() as http:
        return await http.get("/graphql", params={"query": query, **params}, headers=headers)


def updated(adapter: MemoryAdapter, entity_id: str, **changes: Any) -> ChangeEvent:
    """Change the record at the source and describe it as the capture would."""
    before = dict(adapter.records[entity_id])
    adapter.records[entity_id].update(changes)
    after = {k: v for k, v in adapter.records[entity_id].items() if k != "id"}
    entity = Entity(
        type=adapter.entity_type, id=entity_id, version=2, attributes=after, source=adapter.source
    )
    return ChangeEvent.for_change(
        EventType.UPDATED, entity, before={k: v for k, v in before.items() if k != "id"}
    )


async def test_a_get_query_is_served_from_the_cache_until_its_entity_changes() -> None:
    node, feed = cached_node()
    first = await get(node, PRODUCT)
    second = await get(node, PRODUCT)
    assert (
        first.json()
        == second.json()
        == {"data": {"product": {"sku": "SKU-1", "name": "Product 1"}}}
    )
    assert first.headers[CACHE_STATUS_HEADER] == "MISS"
    assert second.headers[CACHE_STATUS_HEADER] == "HIT"
    assert first.headers["cache-control"] == "public, max-age=60"  # the product SLA
    assert second.headers["cache-control"].startswith("public, max-age=")
    assert node.products.calls == {"get_entities": 1}

    feed.publish(updated(node.products, "p-1", name="Renamed"))
    third = await get(node, PRODUCT)
    assert third.headers[CACHE_STATUS_HEADER] == "MISS"
    assert third.json()["data"]["product"]["name"] == "Renamed"
    assert node.products.calls == {"get_entities": 2}


async def test_changes_elsewhere_do_not_invalidate() -> None:
    node, feed = cached_node()
    await get(node, INVOICES_OF)
    # another customer, and an invoice update that moves no invoice between customers
    feed.publish(updated(node.customers, "c-2", country="FR"))
    feed.publish(updated(node.invoices, "inv-2-1", total=1.0))
    assert (await get(node, INVOICES_OF)).headers[CACHE_STATUS_HEADER] == "HIT"
    # an invoice of this customer changes
    feed.publish(updated(node.invoices, "inv-1-2", total=5.0))
    again = await get(node, INVOICES_OF)
    assert again.headers[CACHE_STATUS_HEADER] == "MISS"
    assert [i["total"] for i in again.json()["data"]["customer"]["invoices"]] == [99.5, 5.0]
    # an invoice moves to this customer
    feed.publish(updated(node.invoices, "inv-2-1", customer_id="c-1"))
    moved = await get(node, INVOICES_OF)
    assert moved.headers[CACHE_STATUS_HEADER] == "MISS"
    assert len(moved.json()["data"]["customer"]["invoices"]) == 3


async def test_list_queries_are_invalidated_by_any_change_of_their_type() -> None:
    node, feed = cached_node()
    query = "{ products(limit: 2) { items { sku } } }"
    await get(node, query)
    assert (await get(node, query)).headers[CACHE_STATUS_HEADER] == "HIT"
    feed.publish(updated(node.products, "p-4", name="Not even listed"))
    assert (await get(node, query)).headers[CACHE_STATUS_HEADER] == "MISS"


async def test_no_reuse_across_tenants_principals_or_roles() -> None:
    node, _ = cached_node(auth=auth())
    for key in KEYS:  # each one's first request is its own miss
        response = await get(node, PRODUCT, key)
        assert response.status_code == 200, response.text
        assert response.headers[CACHE_STATUS_HEADER] == "MISS", key
        assert response.headers["cache-control"] == "private, max-age=60"
    for key in KEYS:
        assert (await get(node, PRODUCT, key)).headers[CACHE_STATUS_HEADER] == "HIT", key
    assert node.products.calls == {"get_entities": len(KEYS)}


async def test_classified_fields_are_never_stored_on_the_server() -> None:
    # A policy that lets everyone read everything: the answer succeeds, yet each read of a
    # classified field must be decided and audited again, so it is not stored.
    everyone = PolicyEngine.from_mapping(
        {"version": 1, "rules": [{"id": "all", "effect": "allow", "actions": ["read"]}]}
    )
    node, _ = cached_node(governance=Governance(policy=everyone))
    query = '{ customer(id: "c-1") { name email } }'  # email is pii_email
    for _ in range(2):
        response = await get(node, query)
        assert "errors" not in response.json(), response.json()
        assert CACHE_STATUS_HEADER not in response.headers
        assert response.headers["cache-control"] == "private, max-age=60"
    assert node.customers.calls == {"get_entities": 2}


async def test_nothing_is_stored_when_governance_may_deny_unclassified_fields() -> None:
    deny = PolicyEngine.from_mapping(
        {
            "version": 1,
            "rules": [
                {
                    "id": "no-country",
                    "effect": "deny",
                    "actions": ["read"],
                    "principal": {"subjects": ["nobody"]},
                    "resource": {"fields": ["country"]},
                }
            ],
        }
    )
    node, _ = cached_node(governance=Governance(policy=deny))
    for _ in range(2):
        response = await get(node, PRODUCT)
        assert CACHE_STATUS_HEADER not in response.headers
        assert response.headers["cache-control"] == "public, max-age=60"
    assert node.products.calls == {"get_entities": 2}


async def test_uncacheable_get_answers_say_no_store() -> None:
    node, _ = cached_node()
    catalog = await get(node, '{ product(id: "p-1") { catalog { domain } } }')
    assert catalog.headers["cache-control"] == "no-store"
    node.products.fail = SourceUnavailable("down")
    failed = await get(node, PRODUCT)
    assert failed.json()["errors"][0]["extensions"]["code"] == "SOURCE_UNAVAILABLE"
    assert failed.headers["cache-control"] == "no-store"
    node.products.fail = None
    assert (await get(node, PRODUCT)).headers[CACHE_STATUS_HEADER] == "MISS"  # nothing stored


async def test_post_queries_are_not_cached_but_persisted_ones_are() -> None:
    node, _ = cached_node()
    async with node.client() as http:
        posted = [await http.post("/graphql", json={"query": PRODUCT}) for _ in range(2)]
        assert all(CACHE_STATUS_HEADER not in r.headers for r in posted)
        assert all("cache-control" not in r.headers for r in posted)
        sha = hashlib.sha256(PRODUCT.encode()).hexdigest()
        extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
        register = await http.post("/graphql", json={"query": PRODUCT, "extensions": extensions})
        by_hash = await http.post("/graphql", json={"extensions": extensions})
        by_get = await http.get("/graphql", params={"extensions": json.dumps(extensions)})
    assert register.headers[CACHE_STATUS_HEADER] == "MISS"
    assert by_hash.headers[CACHE_STATUS_HEADER] == "HIT"
    assert "cache-control" not in by_hash.headers  # POST: nothing for HTTP caches
    assert by_get.headers[CACHE_STATUS_HEADER] == "HIT"
    assert by_get.headers["cache-control"].startswith("public, max-age=")
    assert by_get.json() == {"data": {"product": {"sku": "SKU-1", "name": "Product 1"}}}
    assert node.products.calls == {"get_entities": 3}


async def test_without_a_change_feed_only_the_hints_are_sent() -> None:
    node = Node()
    response = await get(node, PRODUCT)
    assert response.headers["cache-control"] == "public, max-age=60"
    assert CACHE_STATUS_HEADER not in response.headers
