"""Governance on every GraphQL path: generated types, nested objects, `_entities`, filters,
catalog search and subscriptions; with the audit rows each access leaves."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.unit.governance.enforce_support import (
    ADA,
    CUSTOMER_QUERY,
    GovernedNode,
    error_paths,
    graphql,
    token,
)

from dictamesh.api import ApiContext, create_app
from dictamesh.core.context import bind
from dictamesh.core.models import ChangeEvent, EventType
from dictamesh.core.principal import Principal
from dictamesh.events.fanout import ChangeFeed
from dictamesh.gateway import GatewayContext
from dictamesh.gateway.federation import build_subgraph
from dictamesh.gateway.subscriptions import build_live_schema
from dictamesh.governance.masking import REDACTED


async def ask(node: GovernedNode, role: str | None, query: str, **variables: Any) -> Any:
    headers = token(role) if role else token()
    async with node.client() as http:
        return await graphql(http, headers, query, variables)


async def test_admin_reads_every_field_in_clear(node: GovernedNode) -> None:
    body = await ask(node, "admin", CUSTOMER_QUERY, id="c-1")
    assert "errors" not in body
    customer = body["data"]["customer"]
    assert customer["email"] == ADA["email"]
    assert customer["phone"] == ADA["phone"]
    assert customer["nickname"] == "Countess"
    assert customer["creditScore"] == 812
    assert customer["cards"] == [{"brand": "visa", "number": "4111 1111 1111 1234"}]


async def test_support_sees_contact_masked_and_the_rest_withheld(node: GovernedNode) -> None:
    body = await ask(node, "support", CUSTOMER_QUERY, id="c-1")
    customer = body["data"]["customer"]
    assert customer["name"] == "Ada"  # unclassified: as it is
    assert customer["country"] == "GB"
    assert customer["email"] == "a***@example.com"  # allowed, partial mask
    assert customer["phone"] != ADA["phone"]
    assert customer["phone"].endswith("0958")
    # denied: nullable → null with FORBIDDEN at its path; String! → the placeholder
    assert customer["creditScore"] is None
    assert customer["nickname"] == REDACTED
    assert customer["cards"] == [{"brand": "visa", "number": REDACTED}]
    assert error_paths(body) == {"customer.creditScore": "FORBIDDEN"}


async def test_a_caller_without_rules_is_denied_every_classified_field(
    node: GovernedNode,
) -> None:
    body = await ask(node, "reader", CUSTOMER_QUERY, id="c-1")
    customer = body["data"]["customer"]
    assert customer["name"] == "Ada"
    assert customer["email"] is None
    assert customer["phone"] is None
    assert customer["nickname"] == REDACTED
    assert customer["cards"][0]["number"] == REDACTED
    assert error_paths(body) == {
        "customer.email": "FORBIDDEN",
        "customer.phone": "FORBIDDEN",
        "customer.creditScore": "FORBIDDEN",
    }


async def test_every_classified_access_leaves_one_audit_row(node: GovernedNode) -> None:
    await ask(node, "support", CUSTOMER_QUERY, id="c-1")
    rows = await node.audit(subject="alice")
    seen = {(r.field, r.decision, r.mask) for r in rows}
    assert seen == {
        ("email", "allow", "partial"),
        ("phone", "allow", "partial"),
        ("nickname", "deny", None),
        ("credit_score", "deny", None),
        ("cards.number", "deny", None),  # a nested field: audited on its owner
    }
    assert len(rows) == 5
    for row in rows:
        assert (row.entity_type, row.entity_id, row.channel) == ("customer", "c-1", "graphql")
        assert row.roles == ["support"]
        assert row.auth_method == "jwt"
    denied = await node.audit(decision="deny")
    assert {r.field for r in denied} == {"nickname", "credit_score", "cards.number"}
    assert all(r.reason for r in denied)


async def test_unclassified_fields_are_not_audited(node: GovernedNode) -> None:
    await ask(node, "reader", "{ customers { items { name country } } }")
    assert await node.audit() == []


async def test_lists_and_relationships_are_masked_too(node: GovernedNode) -> None:
    query = "{ orders { items { total customer { email } } } customers { items { email } } }"
    body = await ask(node, "support", query)
    assert body["data"]["orders"]["items"][0]["customer"]["email"] == "a***@example.com"
    emails = [c["email"] for c in body["data"]["customers"]["items"]]
    assert emails == ["a***@example.com", "b***@example.org"]


async def test_an_entity_level_denial_nulls_the_entity(node: GovernedNode) -> None:
    body = await ask(node, "contractor", '{ order(id: "o-1") { total } orders { total } }')
    assert body["data"] == {"order": None, "orders": None}
    assert error_paths(body) == {"order": "FORBIDDEN", "orders": "FORBIDDEN"}
    # other entity types stay readable
    body = await ask(node, "contractor", '{ customer(id: "c-2") { name } }')
    assert body["data"] == {"customer": {"name": "Bob"}}
    rows = await node.audit(entity_type="order")
    assert rows
    assert all(r.decision == "deny" and r.field is None for r in rows)
    assert "o-1" in {r.entity_id for r in rows}


async def test_filters_and_sorts_on_hidden_fields_are_refused(node: GovernedNode) -> None:
    query = """query($v: JSON!) {
      customers(filter: [{field: "email", value: $v}]) { items { name } } }"""
    body = await ask(node, "support", query, v=ADA["email"])
    assert body["data"] == {"customers": None}
    assert error_paths(body) == {"customers": "FORBIDDEN"}
    sort = '{ customers(sort: [{field: "creditScore"}]) { items { name } } }'
    assert error_paths(await ask(node, "support", sort)) == {"customers": "FORBIDDEN"}
    # who may read the value in clear may filter on it
    body = await ask(node, "admin", query, v=ADA["email"])
    assert body["data"] == {"customers": {"items": [{"name": "Ada"}]}}
    refused = await node.audit(decision="deny", entity_type="customer")
    assert {r.field for r in refused} >= {"email", "credit_score"}


async def test_federation_entities_are_masked(node: GovernedNode, tmp_path: Path) -> None:
    subgraph = build_subgraph(node.registry.schemas(), "crm")
    ctx = ApiContext(
        registry=node.registry,
        catalog=node.catalog,
        auth=node.ctx.auth,
        governance=node.governance,
        graphql_schema=subgraph,
    )
    node.app = create_app(ctx)
    query = """query($r: [_Any!]!) {
      _entities(representations: $r) { ... on Customer { id email nickname } } }"""
    reps = [{"__typename": "Customer", "id": "c-1"}]
    for role, email, nickname in (
        ("admin", ADA["email"], "Countess"),
        ("support", "a***@example.com", REDACTED),
        ("reader", None, REDACTED),
    ):
        body = await ask(node, role, query, r=reps)
        assert body["data"]["_entities"] == [{"id": "c-1", "email": email, "nickname": nickname}]
    rows = await node.audit(entity_id="c-1")
    assert {r.decision for r in rows if r.field == "email"} == {"allow", "deny"}


async def test_catalog_search_hides_matches_on_hidden_fields(node: GovernedNode) -> None:
    query = "query($t: String!) { catalogSearch(text: $t) { entityId matched } }"
    admin = await ask(node, "admin", query, t="lovelace")
    assert admin["data"]["catalogSearch"] == [{"entityId": "c-1", "matched": ["email"]}]
    # masked for support: a match on it would confirm the clear value
    support = await ask(node, "support", query, t="lovelace")
    assert support["data"]["catalogSearch"] == []
    support = await ask(node, "support", query, t="ada")
    assert support["data"]["catalogSearch"] == [{"entityId": "c-1", "matched": ["name"]}]
    # an entity type the caller may not read is not found at all
    typed = 'query($t: String!) { catalogSearch(text: $t, type: "order") { entityId } }'
    assert (await ask(node, "admin", typed, t="o-1"))["data"]["catalogSearch"] == [
        {"entityId": "o-1"}
    ]
    assert (await ask(node, "contractor", typed, t="o-1"))["data"]["catalogSearch"] == []


async def test_subscriptions_are_governed(node: GovernedNode) -> None:
    feed = ChangeFeed()
    schema = build_live_schema(node.registry, feed)
    support = Principal("alice", frozenset({"support"}))
    contractor = Principal("carl", frozenset({"contractor"}))
    subscription = 'subscription { customerChanged(id: "c-1") { entity { email nickname } } }'
    with node.governance.use(), bind(support):
        stream = await schema.subscribe(subscription, context_value=GatewayContext(node.registry))
        assert not hasattr(stream, "errors")

        async def first_result() -> Any:  # iterated and closed in one task (one context)
            result = await stream.__anext__()  # type: ignore[union-attr]
            await stream.aclose()  # type: ignore[union-attr]
            return result

        first = asyncio.ensure_future(first_result())
        for _ in range(500):  # until the subscription listens
            if feed.subscriber_count:
                break
            await asyncio.sleep(0.01)
        entity = await node.customers.get_entity("c-1")
        feed.publish(ChangeEvent.for_change(EventType.UPDATED, entity))
        result = await asyncio.wait_for(first, 5)
        assert result.data == {
            "customerChanged": {"entity": {"email": "a***@example.com", "nickname": REDACTED}}
        }
    with node.governance.use(), bind(contractor):
        refused = await schema.subscribe(
            "subscription { orderChanged { entityId } }",
            context_value=GatewayContext(node.registry),
        )
        results = [refused] if hasattr(refused, "errors") else [r async for r in refused]
        assert [e.extensions["code"] for r in results for e in r.errors or []] == ["FORBIDDEN"]
    rows = await node.audit(subject="alice")
    assert {(r.field, r.channel) for r in rows} == {
        ("email", "subscription"),
        ("nickname", "subscription"),
    }
    assert {r.action for r in await node.audit(subject="carl")} == {"subscribe"}


async def test_nothing_is_governed_without_an_active_governance(node: GovernedNode) -> None:
    # a schema run outside the app (tests, embedding) serves what the adapters return
    schema = build_live_schema(node.registry, None)
    result = await schema.execute(
        '{ customer(id: "c-1") { email } }', context_value=GatewayContext(node.registry)
    )
    assert result.data == {"customer": {"email": ADA["email"]}}


class _StalledLog:
    """An audit log whose writes wait for ``gate`` (the catalog is slow)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.rows = 0

    async def record(self, entries: Any) -> int:
        await self.gate.wait()
        self.rows += len(entries)
        return len(entries)


async def test_a_full_audit_queue_waits_then_withholds_the_values_it_could_not_audit() -> None:
    from tests.unit.gateway.fakes import MemoryAdapter, MemoryRegistry
    from tests.unit.governance.enforce_support import CUSTOMER, POLICY

    from dictamesh.governance.audit_writer import AuditWriter
    from dictamesh.governance.enforce import Governance
    from dictamesh.governance.policy import PolicyEngine

    log = _StalledLog()
    writer = AuditWriter(log, batch_size=1, flush_interval=60, max_pending=1, max_wait=0.05)  # type: ignore[arg-type]
    governance = Governance(PolicyEngine.from_yaml(POLICY), audit=writer)
    registry = MemoryRegistry([MemoryAdapter(CUSTOMER, [ADA], system="crm")])
    schema = build_live_schema(registry, None)
    query = '{ customer(id: "c-1") { name email phone nickname } }'
    admin = Principal(subject="ada", roles=frozenset({"admin"}))
    try:
        with governance.use(), bind(admin):
            # email fills the queue; phone and nickname wait for room: the stalled write
            # takes email, one of them gets the room, the other is withheld after max_wait
            result = await schema.execute(query, context_value=GatewayContext(registry))
            customer = (result.data or {})["customer"]
            assert customer["name"] == "Ada"
            assert customer["email"] == ADA["email"]
            served = {
                "phone": customer["phone"] == ADA["phone"],
                "nickname": customer["nickname"] == ADA["nickname"],
            }
            assert sorted(served.values()) == [False, True]
            assert customer["phone"] in (ADA["phone"], None)  # nullable: null and FORBIDDEN
            assert customer["nickname"] in (ADA["nickname"], REDACTED)  # String!: placeholder
            assert governance.withheld == 1
            assert writer.stats.dropped == 1
            # the queue is still full: a field that can wait gets its value once room comes
            writer.max_wait = 5
            answer = asyncio.ensure_future(
                schema.execute(
                    '{ customer(id: "c-1") { email } }', context_value=GatewayContext(registry)
                )
            )
            await asyncio.sleep(0.05)
            assert not answer.done()
            log.gate.set()
            result = await answer
            assert result.errors is None
            assert (result.data or {})["customer"]["email"] == ADA["email"]
    finally:
        log.gate.set()
        await writer.aclose()
