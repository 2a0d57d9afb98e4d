"""The governance API: audit queries and summary (admin only), erasure, policy explain;
and erasure end to end on an embedded node (the DELETED event purges the cache)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.unit.auth.support import AUDIENCE, ISSUER, SECRET
from tests.unit.governance.enforce_support import (
    CUSTOMER_QUERY,
    GovernedNode,
    graphql,
    token,
)

from dictamesh.adapters.base import AdapterBase, RawPage
from dictamesh.cache.keys import entity_key
from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import EntityNotFound
from dictamesh.core.models import (
    SLA,
    Classification,
    Entity,
    EntitySchema,
    FieldSpec,
    FieldType,
    Query,
    SourceRef,
)
from dictamesh.core.settings import AdapterConfig, DictaMeshSettings
from dictamesh.governance.audit import AuditLog
from dictamesh.node import MeshNode


async def call(
    node: GovernedNode, role: str, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    async with node.client() as http:
        return await http.request(method, path, headers=token(role), **kwargs)


async def test_the_audit_api_needs_the_admin_action(node: GovernedNode) -> None:
    for role in ("support", "reader", "contractor"):
        for path in ("/api/v1/governance/audit", "/api/v1/governance/audit/summary"):
            response = await call(node, role, "GET", path)
            assert response.status_code == 403, (role, path)
            assert response.json()["error"]["code"] == "FORBIDDEN"
    async with node.client() as http:  # no credentials at all: the auth layer says 401
        assert (await http.get("/api/v1/governance/audit")).status_code == 401
    refused = await node.audit(decision="deny")
    assert {(r.action, r.subject) for r in refused} == {("admin", "alice")}


async def test_admins_page_through_the_audit_log(node: GovernedNode) -> None:
    async with node.client() as http:
        await graphql(http, token("support"), CUSTOMER_QUERY, {"id": "c-1"})
        await graphql(http, token("reader", sub="rita"), CUSTOMER_QUERY, {"id": "c-2"})
    response = await call(node, "admin", "GET", "/api/v1/governance/audit")
    assert response.status_code == 200
    body = response.json()
    assert len(body["entries"]) == 9  # 5 classified fields of c-1, 4 of c-2 (no cards)
    assert body["next_before_id"] is None
    ids = [e["id"] for e in body["entries"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    first = body["entries"][0]
    assert {"subject", "roles", "channel", "field", "decision", "mask", "trace_id"} <= set(first)

    denied = await call(
        node, "admin", "GET", "/api/v1/governance/audit", params={"subject": "rita"}
    )
    assert {e["decision"] for e in denied.json()["entries"]} == {"deny"}
    page = await call(node, "admin", "GET", "/api/v1/governance/audit", params={"limit": 4})
    assert len(page.json()["entries"]) == 4
    cursor = page.json()["next_before_id"]
    rest = await call(
        node, "admin", "GET", "/api/v1/governance/audit", params={"before_id": cursor}
    )
    assert len(rest.json()["entries"]) == 5
    scoped = await call(
        node,
        "admin",
        "GET",
        "/api/v1/governance/audit",
        params={"entity_type": "customer", "entity_id": "c-2", "decision": "deny"},
    )
    assert {e["entity_id"] for e in scoped.json()["entries"]} == {"c-2"}

    summary = await call(node, "admin", "GET", "/api/v1/governance/audit/summary")
    counts = {
        (s["subject"], s["classification"], s["decision"]): s["accesses"]
        for s in summary.json()["summary"]
    }
    assert counts[("alice", "pii_email", "allow")] == 1
    assert counts[("rita", "pii_email", "deny")] == 1


@pytest.mark.parametrize(
    "params",
    [
        {"decision": "maybe"},
        {"since": "not-a-date"},
        {"limit": "0"},
        {"limit": "5000"},
        {"before_id": "-1"},
    ],
)
async def test_bad_audit_queries_are_json_400s(node: GovernedNode, params: dict[str, str]) -> None:
    response = await call(node, "admin", "GET", "/api/v1/governance/audit", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_erasure_empties_the_snapshot_and_is_audited(node: GovernedNode) -> None:
    path = "/api/v1/governance/erasure"
    refused = await call(node, "support", "POST", path, json={"entity_type": "customer",
                                                               "entity_id": "c-1"})  # fmt: skip
    assert refused.status_code == 403
    for bad in ({"entity_type": "customer"}, {"entity_type": "Customer", "entity_id": "c-1"},
                {"entity_type": "customer", "entity_id": "c 1"}, {"x": 1}):  # fmt: skip
        response = await call(node, "admin", "POST", path, json=bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    missing = await call(node, "admin", "POST", path, json={"entity_type": "customer",
                                                            "entity_id": "c-9"})  # fmt: skip
    assert missing.status_code == 404

    erased = await call(node, "admin", "POST", path, json={"entity_type": "customer",
                                                           "entity_id": "c-1"})  # fmt: skip
    assert erased.status_code == 200
    report = erased.json()
    assert report["entity_id"] == "c-1"
    assert report["event_log_rows_scrubbed"] == 1
    assert report["published"] is False  # no publisher in this app: catalog only
    location = await node.catalog.get_entity_location("customer", "c-1")
    assert location.attributes == {}
    assert location.status == "deleted"
    rows = await AuditLog(node.catalog).query(entity_id="c-1", decision="allow")
    erasures = [r for r in rows if r.action == "admin"]
    assert len(erasures) == 1
    assert erasures[0].reason.startswith("erasure:")
    assert erasures[0].subject == "alice"


async def test_policy_explain(node: GovernedNode) -> None:
    path = "/api/v1/governance/policy/explain"
    params = {"action": "read", "entity_type": "customer", "field": "email", "tag": "pii_email"}
    mine = (await call(node, "support", "GET", path, params=params)).json()
    assert mine["allowed"] is True
    assert mine["mask"] == "partial"
    assert mine["deciding_rules"] == ["support-contact-masked"]
    assert "trace" not in mine  # only admins see the whole policy
    as_bob = {**params, "subject": "bob", "roles": "contractor"}
    assert (await call(node, "support", "GET", path, params=as_bob)).status_code == 403
    theirs = (await call(node, "admin", "GET", path, params=as_bob)).json()
    assert theirs["allowed"] is False
    assert {t["rule"] for t in theirs["trace"]} == {
        "support-contact-masked",
        "admins-see-everything",
        "no-contractor-orders",
    }
    for bad in ({**params, "action": "teleport"}, {**params, "tag": "secret"}):
        response = await call(node, "admin", "GET", path, params=bad)
        assert response.status_code == 400


# --- erasure end to end -----------------------------------------------------------------


class PeopleSource:
    rows: dict[str, dict[str, Any]]

    def __init__(self) -> None:
        self.rows = {
            "p-1": {"id": "p-1", "email": "pat@example.com", "version": 1,
                    "updated_at": "2026-01-01T00:00:00Z"}
        }  # fmt: skip

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/people":
            return httpx.Response(200, json={"data": list(self.rows.values())})
        row = self.rows.get(request.url.path.removeprefix("/people/"))
        return httpx.Response(200, json=row) if row else httpx.Response(404)


class People(AdapterBase):
    entity_type = "person"
    source = SourceRef(domain="hr", system="people")
    schema = EntitySchema(
        entity_type="person",
        domain="hr",
        fields=[FieldSpec(name="email", type=FieldType.STRING,
                          classification=Classification.PII_EMAIL)],
    )  # fmt: skip
    sla = SLA(freshness_seconds=30, availability_target=0.99, latency_p95_ms=500)

    async def fetch_one(self, client: httpx.AsyncClient, entity_id: str) -> dict[str, Any] | None:
        response = await client.get(f"/people/{entity_id}")
        return None if response.status_code == 404 else dict(response.json())

    async def fetch_page(self, client: httpx.AsyncClient, query: Query) -> RawPage:
        return RawPage(items=(await client.get("/people")).json()["data"])

    async def fetch_changed_since(
        self, client: httpx.AsyncClient, watermark: str | None, limit: int
    ) -> list[dict[str, Any]]:
        return [] if watermark else list((await client.get("/people")).json()["data"])

    def transform(self, raw: dict[str, Any]) -> Entity:
        return Entity(
            type="person",
            id=raw["id"],
            version=raw["version"],
            attributes={"email": raw["email"]},
            source=self.source,
        )


async def eventually(check: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_erasure_reaches_every_cache_through_the_bus(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    settings = DictaMeshSettings.from_mapping(
        {
            "node_name": "gov",
            "state_dir": str(tmp_path),
            "bus": {"path": str(tmp_path / "bus.sqlite3")},
            "catalog": {"url": sqlite_catalog_url},
            "auth": {"mode": "required", "jwt_secret": SECRET, "issuer": ISSUER,
                     "audience": [AUDIENCE]},
            # long: the access below is written only when the node stops (drained)
            "governance": {"audit_flush_interval_seconds": 60},
        }
    )  # fmt: skip
    source = PeopleSource()
    config = AdapterConfig(
        name="people", kind="people", base_url="http://people.test", poll_interval_seconds=0.05
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(source), base_url="http://people.test")
    adapter = People(config, client=client)
    mesh = MeshNode(settings, adapters=[adapter])
    adapter.cache = mesh.cache  # the node's cache: the one its invalidation consumer purges
    key = entity_key(None, "person", "p-1")
    try:
        async with mesh:

            async def registered() -> bool:
                try:
                    await mesh.catalog.get_entity_location("person", "p-1")
                except EntityNotFound:
                    return False
                return True

            await eventually(registered, "the catalog to register p-1")
            await adapter.get_entity("p-1")  # a cached copy on this node
            assert await mesh.cache.get(key) is not None
            app = mesh.asgi_app()
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://node"
            ) as http:
                read = await http.post(
                    "/graphql",
                    json={"query": '{ person(id: "p-1") { email } }'},
                    headers=token("admin"),
                )
                assert read.json()["data"] == {"person": {"email": "pat@example.com"}}
                response = await http.post(
                    "/api/v1/governance/erasure",
                    json={"entity_type": "person", "entity_id": "p-1"},
                    headers=token("admin"),
                )
            assert response.status_code == 200, response.text
            assert response.json()["published"] is True

            async def purged() -> bool:
                return await mesh.cache.get(key) is None

            await eventually(purged, "the DELETED event to purge the cached copy")
            location = await mesh.catalog.get_entity_location("person", "p-1")
            assert location.attributes == {}
            audit = await AuditLog(mesh.catalog).query(entity_id="p-1")
            assert [r.action for r in audit] == ["admin"]  # the erasure: written at once
    finally:
        await client.aclose()
    async with await CatalogService.open(sqlite_catalog_url, migrate=False) as catalog:
        rows = await AuditLog(catalog).query(entity_id="p-1")
    # the GraphQL read was queued; stopping the node wrote it
    assert sorted((r.action, r.field or "") for r in rows) == [("admin", ""), ("read", "email")]
