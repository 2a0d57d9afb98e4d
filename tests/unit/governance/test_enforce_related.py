"""What the catalog says about *related* entities, governed: relationship graphs and lineage
(REST and GraphQL) without entities of types the caller may not read, catalog entries of
such types refused, and change events' changed fields without the fields the caller cannot
read in clear (subscriptions and the REST event log)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.unit.governance.enforce_support import (
    CUSTOMER,
    GovernedNode,
    governed_node,
    graphql,
    token,
)

from dictamesh.catalog.service import data_product_dataset
from dictamesh.core.context import bind
from dictamesh.core.models import ChangeEvent, DatasetRef, EntityRef, EventType
from dictamesh.core.principal import Principal
from dictamesh.events.fanout import ChangeFeed
from dictamesh.gateway import GatewayContext
from dictamesh.gateway.subscriptions import build_live_schema
from dictamesh.governance.enforce import Governance
from dictamesh.governance.policy import PolicyEngine
from dictamesh.governance.related import TypeAccess, visible_changed_fields, visible_graph

C1, O1 = EntityRef(type="customer", id="c-1"), EntityRef(type="order", id="o-1")
P1, P2 = EntityRef(type="product", id="p-1"), EntityRef(type="product", id="p-2")


@pytest.fixture
async def node(sqlite_catalog_url: str) -> Any:
    """Customer c-1 prefers product p-2; order o-1 (a type contractors may not read) was
    placed by c-1 and contains p-1, which nothing else leads to."""
    async with governed_node(sqlite_catalog_url) as governed:
        catalog = governed.catalog
        await catalog.record_relationship(O1, "placed_by", C1)
        await catalog.record_relationship(O1, "contains", P1)
        await catalog.record_relationship(C1, "prefers", P2)
        customers = data_product_dataset("crm", "customer")
        orders = data_product_dataset("sales", "order")
        await catalog.track_lineage(DatasetRef(namespace="crm", name="customers"), customers, "a")
        await catalog.track_lineage(customers, orders, "etl:orders")
        await catalog.track_lineage(
            customers, orders, "etl:orders", upstream_entity=C1, downstream_entity=O1
        )
        yield governed


async def get(node: GovernedNode, role: str, path: str, **params: Any) -> httpx.Response:
    async with node.client() as http:
        return await http.get(path, params=params, headers=token(role))


def nodes(body: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {(n["type"], n["id"], n["depth"]) for n in body["nodes"]}


async def no_audit_of_related_ids(node: GovernedNode) -> None:
    rows = await node.audit()
    assert not {r.entity_id for r in rows} & {"o-1", "p-1", "p-2"}
    assert {(r.entity_type, r.decision) for r in rows} <= {("order", "deny")}


# --- REST ---------------------------------------------------------------------------------


async def test_rest_graph_leaves_out_entities_of_denied_types(node: GovernedNode) -> None:
    path = "/api/v1/entities/customer/c-1/graph"
    admin = (await get(node, "admin", path)).json()
    assert nodes(admin) == {
        ("customer", "c-1", 0),
        ("order", "o-1", 1),
        ("product", "p-2", 1),
        ("product", "p-1", 2),
    }
    assert len(admin["edges"]) == 3
    assert admin["withheld_nodes"] == 0

    contractor = (await get(node, "contractor", path)).json()
    # the order, and the product only the order led to, are gone with their edges
    assert nodes(contractor) == {("customer", "c-1", 0), ("product", "p-2", 1)}
    assert [(e["subject"]["id"], e["object"]["id"]) for e in contractor["edges"]] == [
        ("c-1", "p-2")
    ]
    assert contractor["withheld_nodes"] == 2
    assert "o-1" not in str(contractor)
    assert "order" not in str(contractor)

    outgoing = (await get(node, "contractor", path, direction="in")).json()
    assert nodes(outgoing) == {("customer", "c-1", 0)}
    assert outgoing["withheld_nodes"] == 1
    await no_audit_of_related_ids(node)


async def test_rest_graph_and_lineage_of_a_denied_type_are_403(node: GovernedNode) -> None:
    for path in (
        "/api/v1/entities/order/o-1/graph",
        "/api/v1/entities/order/o-404/graph",  # the same answer: existence is not told
        "/api/v1/lineage/order",
        "/api/v1/lineage/order/o-1",
    ):
        response = await get(node, "contractor", path)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "FORBIDDEN"
    rows = await node.audit(subject="alice")
    assert {(r.entity_type, r.action, r.decision) for r in rows} == {("order", "read", "deny")}
    assert (await get(node, "admin", "/api/v1/entities/order/o-1/graph")).status_code == 200


async def test_rest_lineage_leaves_out_flows_naming_denied_types(node: GovernedNode) -> None:
    admin = (await get(node, "admin", "/api/v1/lineage/customer/c-1")).json()
    assert sorted(r["transformation"] for r in admin["downstream"]) == ["etl:orders"] * 2
    assert len(admin["upstream"]) == 1
    assert admin["withheld_edges"] == 0

    contractor = (await get(node, "contractor", "/api/v1/lineage/customer/c-1")).json()
    assert contractor["downstream"] == []
    assert [r["upstream"]["name"] for r in contractor["upstream"]] == ["customers"]
    assert contractor["withheld_edges"] == 2  # dataset-level and entity-level flows
    by_type = (await get(node, "contractor", "/api/v1/lineage/customer")).json()
    assert by_type["downstream"] == []
    assert by_type["withheld_edges"] == 1
    await no_audit_of_related_ids(node)


async def test_rest_event_log_changed_fields_leave_out_hidden_fields(node: GovernedNode) -> None:
    entity = await node.customers.get_entity("c-1")
    before = {**entity.attributes, "name": "Ada L.", "email": "old@example.com", "cards": []}
    event = ChangeEvent.for_change(EventType.UPDATED, entity, before=before)
    assert event.changed_fields == ["cards", "email", "name"]
    await node.catalog.record_event(event, event.topic)
    path = "/api/v1/entities/customer/c-1/events"
    admin = (await get(node, "admin", path)).json()["events"][0]
    assert admin["changed_fields"] == ["cards", "email", "name"]
    support = (await get(node, "support", path)).json()["events"][0]
    # email is only masked for support, cards hold a denied card number
    assert support["changed_fields"] == ["name"]
    assert support["payload"]["changed_fields"] == ["name"]


# --- GraphQL ------------------------------------------------------------------------------

GRAPH = """
query {
  relationshipGraph(type: "customer", id: "c-1") {
    nodes { type id depth } edges { subject { id } object { id } } withheldNodes
  }
  lineage(type: "customer", id: "c-1") {
    upstream { transformation } downstream { transformation } withheldEdges
  }
  customer(id: "c-1") { catalog { graph { nodes { id } withheldNodes } lineage { withheldEdges } } }
  catalogEntries { items { entityType entityId } }
}"""


async def test_graphql_catalog_fields_leave_out_denied_types(node: GovernedNode) -> None:
    async with node.client() as http:
        admin = await graphql(http, token("admin"), GRAPH)
        contractor = await graphql(http, token("contractor"), GRAPH)
    assert "errors" not in admin
    assert "errors" not in contractor, contractor
    graph = admin["data"]["relationshipGraph"]
    assert {n["id"] for n in graph["nodes"]} == {"c-1", "o-1", "p-1", "p-2"}
    assert graph["withheldNodes"] == 0
    entries = admin["data"]["catalogEntries"]["items"]
    assert {(e["entityType"], e["entityId"]) for e in entries} >= {("order", "o-1")}

    data = contractor["data"]
    graph = data["relationshipGraph"]
    assert {(n["type"], n["id"], n["depth"]) for n in graph["nodes"]} == {
        ("customer", "c-1", 0),
        ("product", "p-2", 1),
    }
    assert graph["edges"] == [{"subject": {"id": "c-1"}, "object": {"id": "p-2"}}]
    assert graph["withheldNodes"] == 2
    assert data["lineage"] == {
        "upstream": [{"transformation": "a"}],
        "downstream": [],
        "withheldEdges": 2,
    }
    catalog = data["customer"]["catalog"]
    assert {n["id"] for n in catalog["graph"]["nodes"]} == {"c-1", "p-2"}
    assert catalog["graph"]["withheldNodes"] == 2
    assert catalog["lineage"]["withheldEdges"] == 2
    assert "order" not in {i["entityType"] for i in data["catalogEntries"]["items"]}
    await no_audit_of_related_ids(node)


async def test_graphql_catalog_fields_of_a_denied_type_are_forbidden(node: GovernedNode) -> None:
    query = """{
      catalogEntry(type: "order", id: "o-1") { entityId }
      catalogEntries(type: "order") { items { entityId } }
      relationshipGraph(type: "order", id: "o-1") { withheldNodes }
      lineage(type: "order") { withheldEdges }
    }"""
    async with node.client() as http:
        body = await graphql(http, token("contractor"), query)
        admin = await graphql(http, token("admin"), query)
    assert body["data"] == {
        "catalogEntry": None,
        "catalogEntries": None,
        "relationshipGraph": None,
        "lineage": None,
    }
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    assert len(body["errors"]) == 4
    assert "errors" not in admin
    assert admin["data"]["catalogEntry"] == {"entityId": "o-1"}


async def test_subscription_changed_fields_leave_out_hidden_fields(node: GovernedNode) -> None:
    feed = ChangeFeed()
    schema = build_live_schema(node.registry, feed)
    entity = await node.customers.get_entity("c-1")
    before = {
        **entity.attributes,
        "name": "Ada L.",
        "country": "FR",
        "email": "old@example.com",
        "credit_score": 1,
        "cards": [],
    }
    event = ChangeEvent.for_change(EventType.UPDATED, entity, before=before)
    query = "subscription { customerChanged { changedFields withheldChangedFields } }"

    async def first_change(principal: Principal) -> Any:
        with node.governance.use(), bind(principal):
            stream = await schema.subscribe(query, context_value=GatewayContext(node.registry))

            async def first() -> Any:  # iterated and closed in one task (one context)
                result = await stream.__anext__()  # type: ignore[union-attr]
                await stream.aclose()  # type: ignore[union-attr]
                return result

            task = asyncio.ensure_future(first())
            for _ in range(500):
                if feed.subscriber_count:
                    break
                await asyncio.sleep(0.01)
            feed.publish(event)
            result = await asyncio.wait_for(task, 5)
            assert result.errors is None, result.errors
            return result.data["customerChanged"]

    admin = await first_change(Principal("root", frozenset({"admin"})))
    assert admin == {
        "changedFields": ["cards", "country", "creditScore", "email", "name"],
        "withheldChangedFields": 0,
    }
    support = await first_change(Principal("alice", frozenset({"support"})))
    # email is masked for support, credit score denied, cards hold a denied number
    assert support == {"changedFields": ["country", "name"], "withheldChangedFields": 3}
    assert await node.audit(subject="alice") == []  # names only, no values: not audited


# --- the pieces ---------------------------------------------------------------------------


async def test_visible_graph_recomputes_depths_over_what_is_left() -> None:
    policy = PolicyEngine.from_yaml(
        """
version: 1
rules:
  - {id: no-x, effect: deny, actions: [read], resource: {entity_types: [x]}}
"""
    )

    async def lookup(entity_type: str) -> Any:
        return None

    access = TypeAccess(Governance(policy), None, lookup)
    root, a, b, c, x = ("r", "0"), ("t", "a"), ("t", "b"), ("t", "c"), ("x", "1")
    # r - x - c is the short way to c; r - a - b - c the long one
    depths = {root: 0, a: 1, x: 1, b: 2, c: 2}
    edges = [(root, a), (a, b), (b, c), (root, x), (x, c)]
    view = await visible_graph(access, root, depths, edges, direction="out", max_depth=3)
    assert view.depths == {root: 0, a: 1, b: 2, c: 3}
    assert view.withheld == 1
    short = await visible_graph(access, root, depths, edges, direction="out", max_depth=2)
    assert short.depths == {root: 0, a: 1, b: 2}  # c is now 3 hops away: beyond the walk
    assert short.withheld == 2
    assert not short.shows_edge(b, c)
    nothing_denied = await visible_graph(
        access, root, {root: 0, a: 1}, [(root, a)], direction="both", max_depth=1
    )
    assert nothing_denied.depths == {root: 0, a: 1}
    assert nothing_denied.withheld == 0


def test_visible_changed_fields_of_an_unknown_schema_are_kept() -> None:
    governance = Governance()
    assert visible_changed_fields(governance, None, None, ["a"], channel="rest") == (["a"], 0)
    shown = visible_changed_fields(
        governance, None, CUSTOMER, ["name", "email", "cards.brand", "cards.number"], channel="rest"
    )
    assert shown == (["name", "cards.brand"], 2)
