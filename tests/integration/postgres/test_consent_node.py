"""Consent on a real node: the sample sources captured into PostgreSQL, entity caches in
memory and Redis, a policy that needs consent for ``marketing`` and honours CCPA's
do-not-sell. Consent given → the next read is clear; withdrawn → the very next read is
masked (REST and GraphQL, caches on); an opt-out of ``sale`` withholds sale reads; the
compliance report of this small mesh lists its fields, flows, readers and coverage. The
consent store's history and row-level security on PostgreSQL too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from dictamesh.catalog.service import CatalogService
from dictamesh.core.settings import ConsentSettings, DictaMeshSettings
from dictamesh.demo import demo_settings
from dictamesh.governance.consent_store import ConsentChange, ConsentStore
from dictamesh.governance.masking import REDACTED
from dictamesh.node import MeshNode
from dictamesh.sources.runner import SampleSources, run_sample_sources
from dictamesh.tenancy import tenant_context

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

POLICY = """
version: 1
rules:
  - id: everyone-reads-personal-data
    effect: allow
    actions: [read, read_unmasked]
    resource: {tags: ["pii_*", confidential]}
  - id: everyone-administers   # auth is off here: every caller is anonymous
    effect: allow
    actions: [admin]
  - id: marketing-needs-consent
    effect: mask
    mask: redact
    actions: [read]
    purposes: [marketing]
    require_consent: marketing
    resource: {entity_types: [customer], tags: ["pii_*"]}
  - id: no-sale-after-opt-out
    effect: deny
    actions: [read]
    purposes: [sale]
    require_consent: sale
    resource: {entity_types: [customer], tags: ["pii_*"]}
"""
QUERY = '{ customer(id: "%s") { email firstName } }'


def _settings(
    sources: SampleSources, tmp_path: Path, catalog_url: str, redis_url: str
) -> DictaMeshSettings:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    base = demo_settings(sources, tmp_path, poll=0.5)
    consent = ConsentSettings.model_validate(
        {
            "purposes": {"marketing": {"description": "offers"}, "sale": {"opt_out": True}},
            "subject_types": ["customer"],
        }
    )
    return base.model_copy(
        update={
            "catalog": base.catalog.model_copy(update={"url": SecretStr(catalog_url)}),
            "cache": base.cache.model_copy(update={"redis_url": SecretStr(redis_url)}),
            "governance": base.governance.model_copy(
                update={"policy_file": policy, "consent": consent}
            ),
        }
    )


@pytest.fixture
async def mesh(
    tmp_path: Path, empty_catalog_url: str, redis_url: str
) -> AsyncIterator[tuple[SampleSources, MeshNode, httpx.AsyncClient]]:
    async with run_sample_sources() as sources:
        settings = _settings(sources, tmp_path, empty_catalog_url, redis_url)
        async with MeshNode(settings) as node:
            # the initial capture is done when the catalog stops growing
            loop = asyncio.get_running_loop()
            deadline, seen, stable_since = loop.time() + 60, -1, loop.time()
            while loop.time() - stable_since < 2:
                assert loop.time() < deadline, "the initial capture did not settle"
                count = await node.catalog.count_entities()
                if count != seen or count == 0:
                    seen, stable_since = count, loop.time()
                await asyncio.sleep(0.2)
            app = node.asgi_app()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://node") as http:
                yield sources, node, http


async def _read(http: httpx.AsyncClient, customer: str, purpose: str | None) -> dict[str, Any]:
    headers = {"X-DictaMesh-Purpose": purpose} if purpose else {}
    rest = await http.get(
        f"/api/v1/entities/customer/{customer}", params={"live": "true"}, headers=headers
    )
    assert rest.status_code == 200, rest.text
    gql = await http.post("/graphql", json={"query": QUERY % customer}, headers=headers)
    assert gql.status_code == 200, gql.text
    return {
        "rest": rest.json()["attributes"]["email"],
        "live": rest.json()["live"]["attributes"]["email"],
        "graphql": gql.json()["data"]["customer"]["email"],
    }


async def test_consent_withdrawal_and_do_not_sell_on_a_real_node(
    mesh: tuple[SampleSources, MeshNode, httpx.AsyncClient],
) -> None:
    _, node, http = mesh
    captured, _ = await node.catalog.list_entities("customer", limit=1)
    customer = captured[0].entity_id
    email = (await http.get(f"/api/v1/entities/customer/{customer}")).json()["attributes"]["email"]
    assert "@" in email
    consent = f"/api/v1/governance/consent/customer:{customer}"

    assert set((await _read(http, customer, "marketing")).values()) == {REDACTED}
    given = await http.post(consent, json={"purpose": "marketing", "evidence": "signup #1"})
    assert given.status_code == 201, given.text
    assert set((await _read(http, customer, "marketing")).values()) == {email}
    hits_before = sum(s.hits for s in node.cache.stats().values())
    assert set((await _read(http, customer, "marketing")).values()) == {email}
    assert sum(s.hits for s in node.cache.stats().values()) > hits_before  # caches on

    withdrawn = await http.post(f"{consent}/withdraw", json={"purpose": "marketing"})
    assert withdrawn.status_code == 201
    # the very next read, served from the same warm caches, is masked
    assert set((await _read(http, customer, "marketing")).values()) == {REDACTED}

    assert set((await _read(http, customer, "sale")).values()) == {email}
    flags = await http.put(f"{consent}/ccpa", json={"do_not_sell": True})
    assert flags.json()["do_not_sell"] is True
    # denied: null over REST; GraphQL's non-null ``email: String!`` answers the placeholder
    refused = await _read(http, customer, "sale")
    assert refused == {"rest": None, "live": None, "graphql": REDACTED}
    assert set((await _read(http, customer, None)).values()) == {email}  # no purpose declared

    # the compliance report of this mesh
    report = (await http.get("/api/v1/admin/compliance/report", params={"sample": 50})).json()
    fields = {(f["entity_type"], f["field"]) for f in report["personal_fields"]}
    assert {("customer", "email"), ("customer", "first_name"), ("customer", "phone")} <= fields
    flows = {f["entity_type"]: f for f in report["flows"]}
    assert flows["customer"]["dataset"].endswith(".customer")
    assert flows["customer"]["upstream"], flows["customer"]
    readers = {(r["subject"], r["entity_type"], r["field"], r["decision"]): r["reads"]
               for r in report["readers"]}  # fmt: skip
    # 6 allowed (clear or masked) reads through REST (snapshot and live record: one audit
    # row per request and field) and GraphQL, and the first REST read: 13
    assert readers[("anonymous", "customer", "email", "allow")] == 13
    assert readers[("anonymous", "customer", "email", "deny")] == 2  # the two sale refusals
    coverage = report["consent"]
    assert coverage["known_subjects"] == await node.catalog.count_entities("customer")
    marketing = coverage["purposes"]["marketing"]
    assert (marketing["subjects_in_effect"], marketing["subjects_withdrawn"]) == (0, 1)
    sale = coverage["purposes"]["sale"]
    assert sale["subjects_in_effect"] == coverage["known_subjects"] - 1
    audited = (
        await http.get(
            "/api/v1/governance/audit",
            params={"entity_type": "customer", "entity_id": customer, "limit": 1000},
        )
    ).json()["entries"]
    reasons = [e["reason"] for e in audited if e["reason"].startswith("consent ")]
    assert len(reasons) == 3  # given, withdrawn, do-not-sell
    assert email not in str(report)


async def test_consent_store_history_and_tenant_isolation(empty_catalog_url: str) -> None:
    async with await CatalogService.open(empty_catalog_url, migrate=False) as catalog:
        store = ConsentStore(catalog.database)
        with tenant_context("acme"):
            await store.append(ConsentChange("customer:c-1", "marketing", "given", "api", "a"))
            await store.append(ConsentChange("customer:c-1", "marketing", "withdrawn", "cli", "b"))
            await store.append(ConsentChange("customer:c-2", "marketing", "given", "import", "c"))
        with tenant_context("globex"):
            await store.append(ConsentChange("customer:c-1", "marketing", "given", "api", "z"))
            assert await store.current(["customer:c-1", "customer:c-2"]) == {
                "customer:c-1": {"marketing": "given"}
            }
            assert [r.actor for r in await store.history("customer:c-1")] == ["z"]
        with tenant_context("acme"):
            assert await store.current(["customer:c-1", "customer:c-2"]) == {
                "customer:c-1": {"marketing": "withdrawn"},
                "customer:c-2": {"marketing": "given"},
            }
            assert [r.state for r in await store.history("customer:c-1")] == ["given", "withdrawn"]
            assert await store.coverage(["marketing"]) == {
                "marketing": {"given": 1, "withdrawn": 1}
            }
            assert await store.subjects() == ["customer:c-1", "customer:c-2"]
