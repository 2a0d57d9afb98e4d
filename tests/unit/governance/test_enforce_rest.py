"""Governance on the REST paths: entity (catalog snapshot and live record), lists, event
payloads and search; the X-DictaMesh-Redacted header; the built-in default policy."""

from __future__ import annotations

from typing import Any

import httpx
from tests.unit.auth.support import settings
from tests.unit.governance.enforce_support import (
    ADA,
    POLICY,
    GovernedNode,
    token,
)

from dictamesh.api import ApiContext, create_app
from dictamesh.api.governance_routes import MASKED_HEADER, REDACTED_HEADER
from dictamesh.governance.enforce import Governance
from dictamesh.governance.masking import REDACTED
from dictamesh.governance.policy import PolicyEngine


async def get(node: GovernedNode, role: str, path: str, **params: Any) -> httpx.Response:
    async with node.client() as http:
        return await http.get(path, params=params, headers=token(role))


async def test_entity_snapshot_and_live_record_are_masked_per_role(node: GovernedNode) -> None:
    path = "/api/v1/entities/customer/c-1"
    admin = await get(node, "admin", path, live="true")
    assert admin.status_code == 200
    assert REDACTED_HEADER not in admin.headers
    assert MASKED_HEADER not in admin.headers  # the admin reads every field in clear
    for attributes in (admin.json()["attributes"], admin.json()["live"]["attributes"]):
        assert attributes["email"] == ADA["email"]
        assert attributes["cards"] == ADA["cards"]

    support = await get(node, "support", path, live="true")
    assert support.headers[REDACTED_HEADER] == "nickname,credit_score,cards.number"
    assert support.headers[MASKED_HEADER] == "email,phone"  # what the browser UI marks
    for attributes in (support.json()["attributes"], support.json()["live"]["attributes"]):
        assert attributes["name"] == "Ada"
        assert attributes["email"] == "a***@example.com"
        assert attributes["phone"].endswith("0958")
        assert attributes["phone"] != ADA["phone"]
        assert attributes["nickname"] is None
        assert attributes["credit_score"] is None
        assert attributes["cards"] == [{"brand": "visa", "number": None}]

    reader = await get(node, "reader", path)
    assert reader.headers[REDACTED_HEADER] == ("email,phone,nickname,credit_score,cards.number")
    assert MASKED_HEADER not in reader.headers
    assert reader.json()["attributes"]["email"] is None
    assert reader.json()["attributes"]["country"] == "GB"


async def test_one_audit_row_per_field_however_often_it_is_shown(node: GovernedNode) -> None:
    await get(node, "support", "/api/v1/entities/customer/c-1", live="true")
    rows = await node.audit()
    assert sorted((r.field, r.decision) for r in rows) == [
        ("cards.number", "deny"),
        ("credit_score", "deny"),
        ("email", "allow"),
        ("nickname", "deny"),
        ("phone", "allow"),
    ]
    assert {(r.channel, r.entity_type, r.entity_id, r.subject) for r in rows} == {
        ("rest", "customer", "c-1", "alice")
    }


async def test_an_entity_type_denied_is_403(node: GovernedNode) -> None:
    for path in ("/api/v1/entities/order/o-1", "/api/v1/entities/order"):
        response = await get(node, "contractor", path)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "FORBIDDEN"
    assert (await get(node, "contractor", "/api/v1/entities/customer/c-2")).status_code == 200
    rows = await node.audit(entity_type="order", decision="deny")
    assert rows
    assert {r.action for r in rows} == {"read"}


async def test_lists_are_masked_item_by_item(node: GovernedNode) -> None:
    response = await get(node, "support", "/api/v1/entities/customer")
    items = {i["id"]: i["attributes"] for i in response.json()["items"]}
    assert items["c-1"]["email"] == "a***@example.com"
    assert items["c-2"]["email"] == "b***@example.org"
    assert items["c-2"]["nickname"] is None
    assert response.headers[REDACTED_HEADER] == "nickname,credit_score,cards.number"
    rows = await node.audit()
    assert {r.entity_id for r in rows} == {"c-1", "c-2"}


async def test_event_payloads_are_masked(node: GovernedNode) -> None:
    response = await get(node, "support", "/api/v1/entities/customer/c-1/events")
    assert response.status_code == 200
    (event,) = response.json()["events"]
    after = event["payload"]["after"]
    assert after["email"] == "a***@example.com"
    assert after["nickname"] is None
    assert after["cards"] == [{"brand": "visa", "number": None}]
    assert response.headers[REDACTED_HEADER] == "nickname,credit_score,cards.number"
    forbidden = await get(node, "contractor", "/api/v1/entities/order/o-1/events")
    assert forbidden.status_code == 403


async def test_search_hides_matches_on_hidden_fields(node: GovernedNode) -> None:
    admin = (await get(node, "admin", "/api/v1/search", q="lovelace")).json()
    assert [(h["entity_id"], h["matched"]) for h in admin["results"]] == [("c-1", ["email"])]
    support = (await get(node, "support", "/api/v1/search", q="lovelace")).json()
    assert support["results"] == []
    found = (await get(node, "support", "/api/v1/search", q="ada")).json()["results"]
    assert [(h["entity_id"], h["matched"]) for h in found] == [("c-1", ["name"])]
    by_id = (await get(node, "contractor", "/api/v1/search", q="o-1", type="order")).json()
    assert by_id["results"] == []


async def test_the_built_in_policy_applies_without_a_governance(node: GovernedNode) -> None:
    # ApiContext(governance=None): admins read everything, classified data is denied to
    # everyone else (here auth is off: every caller is anonymous)
    app = create_app(ApiContext(registry=node.registry, catalog=node.catalog))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        response = await http.get("/api/v1/entities/customer/c-1", params={"live": "true"})
        body = await http.post("/graphql", json={"query": '{ customer(id: "c-1") { email } }'})
    assert response.json()["live"]["attributes"]["email"] is None
    assert response.json()["attributes"]["name"] == "Ada"
    assert response.headers[REDACTED_HEADER].startswith("email,")
    assert body.json()["data"] == {"customer": {"email": None}}
    assert body.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_deny_rules_may_name_unclassified_fields(node: GovernedNode) -> None:
    extra = """
  - id: contractors-see-no-names
    effect: deny
    actions: [read]
    principal: {roles: [contractor]}
    resource: {entity_types: [customer], fields: [name, country]}
"""
    governance = Governance(
        PolicyEngine.from_yaml(POLICY + extra), audit=node.writer, audit_log=node.audit_log
    )
    assert governance.restricts_unclassified
    node.app = create_app(
        ApiContext(registry=node.registry, catalog=node.catalog, auth=settings(),
                   governance=governance)
    )  # fmt: skip
    rest = await get(node, "contractor", "/api/v1/entities/customer/c-1")
    assert rest.json()["attributes"]["name"] is None
    assert rest.json()["attributes"]["country"] is None
    assert rest.headers[REDACTED_HEADER].startswith("name,email,phone,nickname,country,")
    async with node.client() as http:
        body = (
            await http.post(
                "/graphql",
                json={"query": '{ customer(id: "c-1") { id name country } }'},
                headers=token("contractor"),
            )
        ).json()
    assert body["data"] == {"customer": {"id": "c-1", "name": REDACTED, "country": None}}
    assert [e["path"] for e in body["errors"]] == [["customer", "country"]]
    # the support role is not named: unclassified fields as they are
    other = await get(node, "support", "/api/v1/entities/customer/c-1")
    assert other.json()["attributes"]["country"] == "GB"
    denied = {(r.field, r.classification) for r in await node.audit(decision="deny")}
    assert {("name", "public"), ("country", "public")} <= denied
