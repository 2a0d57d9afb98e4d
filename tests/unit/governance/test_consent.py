"""Consent and purpose: the policy conditions, the consent service over a real (SQLite)
catalog, and the REST and GraphQL reads they govern (withdrawal masks the very next read)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.auth.support import bearer, hs_token
from tests.unit.governance.consent_support import (
    CONSENT_POLICY,
    CONSENT_SETTINGS,
    auth,
    consent_governed_node,
)
from tests.unit.governance.enforce_support import ADA, GovernedNode, graphql

from dictamesh.api.governance_routes import MASKED_HEADER, REDACTED_HEADER
from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import ConfigurationError, ValidationError
from dictamesh.core.models import Classification, EntityRef
from dictamesh.core.principal import Principal
from dictamesh.governance.audit import AuditLog
from dictamesh.governance.consent import ConsentService
from dictamesh.governance.consent_store import ConsentStore
from dictamesh.governance.masking import REDACTED, MaskStrategy
from dictamesh.governance.policy import PolicyEngine, Resource

ADMIN = Principal(subject="alice", roles=frozenset({"admin"}))
EMAIL = Resource("customer", "crm", "email", Classification.PII_EMAIL)
CUSTOMER_PATH = "/api/v1/entities/customer/c-1"


# --- the policy conditions ------------------------------------------------------------------


def test_a_consent_rule_masks_a_clear_read_only_without_consent() -> None:
    engine = PolicyEngine.from_yaml(CONSENT_POLICY)
    without = engine.decide(ADMIN, "read", EMAIL, purpose="marketing", consents=frozenset())
    assert without.allowed
    assert without.mask is MaskStrategy.REDACT
    assert without.deciding_rules == ("marketing-needs-consent",)
    given = engine.decide(
        ADMIN, "read", EMAIL, purpose="marketing", consents=frozenset({"marketing"})
    )
    assert given.allowed
    assert given.mask is MaskStrategy.NONE
    # another purpose, or none declared: the rule does not apply
    assert engine.decide(ADMIN, "read", EMAIL, purpose="analytics").mask is MaskStrategy.NONE
    assert engine.decide(ADMIN, "read", EMAIL).mask is MaskStrategy.NONE
    # an unknown subject (consents None) counts as no consent: masked
    assert engine.decide(ADMIN, "read", EMAIL, purpose="marketing").mask is MaskStrategy.REDACT
    # a mask rule grants nothing: a reader without an allowing rule stays denied
    reader = Principal(subject="bob", roles=frozenset({"reader"}))
    assert not engine.decide(reader, "read", EMAIL, purpose="marketing").allowed


def test_an_opt_out_denies_and_consent_rules_never_touch_entity_decisions() -> None:
    engine = PolicyEngine.from_yaml(CONSENT_POLICY)
    opted_out = engine.decide(ADMIN, "read", EMAIL, purpose="sale", consents=frozenset())
    assert not opted_out.allowed
    assert opted_out.deciding_rules == ("no-sale-after-opt-out",)
    kept = engine.decide(ADMIN, "read", EMAIL, purpose="sale", consents=frozenset({"sale"}))
    assert kept.allowed
    assert kept.mask is MaskStrategy.NONE
    entity = engine.decide(ADMIN, "read", Resource("customer", "crm"), purpose="sale")
    assert entity.allowed
    explained = engine.decide(ADMIN, "read", EMAIL, purpose="analytics").trace
    assert any(t.reason == "purpose not listed" for t in explained)


def test_a_mask_rule_must_be_a_read_rule() -> None:
    with pytest.raises(ConfigurationError, match="mask rule"):
        PolicyEngine.from_yaml(
            "rules: [{id: m, effect: mask, actions: [read, subscribe], require_consent: x}]"
        )


def test_subjects_are_entity_references() -> None:
    assert str(EntityRef.parse("customer:c-1")) == "customer:c-1"
    for bad in ("c-1", "Customer:c-1", "customer:", "customer:a b", ":x", "x" * 300):
        with pytest.raises(ValidationError):
            EntityRef.parse(bad)


# --- the consent service --------------------------------------------------------------------


@pytest.fixture
async def catalog(sqlite_catalog_url: str) -> AsyncIterator[CatalogService]:
    async with await CatalogService.open(sqlite_catalog_url, migrate=False) as opened:
        yield opened


async def test_history_is_append_only_and_state_is_the_newest_record(
    catalog: CatalogService,
) -> None:
    audit = AuditLog(catalog)
    service = ConsentService(CONSENT_SETTINGS, ConsentStore(catalog.database), audit=audit)
    first = await service.record(
        "customer:c-1", "marketing", "given", source="api", actor="alice", evidence="form 12"
    )
    await service.record("customer:c-1", "marketing", "withdrawn", source="cli", actor="bob")
    await service.record("customer:c-1", "sale", "withdrawn", source="import", actor="etl")
    await service.record("customer:c-2", "marketing", "given", source="api", actor="alice")

    state = await service.state("customer:c-1")
    assert [(r["purpose"], r["state"], r["source"]) for r in state["history"]] == [
        ("marketing", "given", "api"),
        ("marketing", "withdrawn", "cli"),
        ("sale", "withdrawn", "import"),
    ]
    assert state["history"][0]["id"] == first.id
    assert state["history"][0]["evidence"] == "form 12"
    assert state["purposes"]["marketing"] == {
        "in_effect": False, "state": "withdrawn", "opt_out": False,
        "since": state["history"][1]["recorded_at"],
    }  # fmt: skip
    assert state["ccpa"] == {"do_not_sell": True, "do_not_share": False}

    effect = await service.in_effect(["customer:c-1", "customer:c-2", "customer:c-9"])
    assert effect == {
        "customer:c-1": frozenset({"share"}),
        "customer:c-2": frozenset({"marketing", "sale", "share"}),
        "customer:c-9": frozenset({"sale", "share"}),  # opt-outs hold until opted out
    }
    rows = await audit.query(entity_type="customer", entity_id="c-1")
    assert len(rows) == 3
    assert {r.reason.split(" (")[0] for r in rows} == {
        "consent given: purpose marketing",
        "consent withdrawn: purpose marketing",
        "consent withdrawn: purpose sale",
    }
    assert {r.channel for r in rows} == {"api", "cli", "import"}


async def test_bad_input_is_refused_before_anything_is_written(catalog: CatalogService) -> None:
    service = ConsentService(CONSENT_SETTINGS, ConsentStore(catalog.database))
    cases: list[dict[str, Any]] = [
        {"subject": "c-1"},
        {"purpose": "spam"},
        {"state": "maybe"},
        {"source": "email"},
        {"evidence": "x" * 201},
    ]
    for case in cases:
        args = {"subject": "customer:c-1", "purpose": "marketing", "state": "given",
                "source": "api", "evidence": "", **case}  # fmt: skip
        with pytest.raises(ValidationError):
            await service.record(
                args["subject"], args["purpose"], args["state"], source=args["source"],
                actor="alice", evidence=args["evidence"],
            )  # fmt: skip
    assert await ConsentStore(catalog.database).subjects() == []


# --- REST and GraphQL -----------------------------------------------------------------------


@pytest.fixture
async def node(sqlite_catalog_url: str) -> AsyncIterator[GovernedNode]:
    async with consent_governed_node(sqlite_catalog_url) as governed:
        yield governed


async def test_withdrawal_masks_the_next_rest_read(node: GovernedNode) -> None:
    marketing = auth("admin", purpose="marketing")
    async with node.client() as http:
        before = await http.get(CUSTOMER_PATH, headers=marketing)
        assert before.status_code == 200
        assert before.json()["attributes"]["email"] == REDACTED  # no consent yet
        assert before.headers[MASKED_HEADER].startswith("email,phone")

        given = await http.post(
            "/api/v1/governance/consent/customer:c-1",
            json={"purpose": "marketing", "state": "given", "evidence": "signup form"},
            headers=auth("admin"),
        )
        assert given.status_code == 201, given.text
        clear = await http.get(CUSTOMER_PATH, headers=marketing)
        assert clear.json()["attributes"]["email"] == ADA["email"]
        assert MASKED_HEADER not in clear.headers
        # the other customer has not consented: still masked in the same list
        page = await http.get("/api/v1/entities/customer", headers=marketing)
        emails = {i["id"]: i["attributes"]["email"] for i in page.json()["items"]}
        assert emails == {"c-1": ADA["email"], "c-2": REDACTED}

        withdrawn = await http.post(
            "/api/v1/governance/consent/customer:c-1/withdraw",
            json={"purpose": "marketing"},
            headers=auth("admin"),
        )
        assert withdrawn.status_code == 201
        after = await http.get(CUSTOMER_PATH, headers=marketing)
        assert after.json()["attributes"]["email"] == REDACTED
        # without a declared purpose the consent rule does not apply
        plain = await http.get(CUSTOMER_PATH, headers=auth("admin"))
        assert plain.json()["attributes"]["email"] == ADA["email"]

        state = await http.get("/api/v1/governance/consent/customer:c-1", headers=auth("admin"))
        assert [r["state"] for r in state.json()["history"]] == ["given", "withdrawn"]


async def test_withdrawal_masks_the_next_graphql_read(node: GovernedNode) -> None:
    query = '{ customer(id: "c-1") { email phone } }'
    marketing = auth("admin", purpose="marketing")
    async with node.client() as http:
        await http.post(
            "/api/v1/governance/consent/customer:c-1",
            json={"purpose": "marketing"},
            headers=auth("admin"),
        )
        clear = await graphql(http, marketing, query)
        assert clear["data"]["customer"]["email"] == ADA["email"]
        await http.post(
            "/api/v1/governance/consent/customer:c-1/withdraw",
            json={"purpose": "marketing"},
            headers=auth("admin"),
        )
        masked = await graphql(http, marketing, query)
        assert masked["data"]["customer"] == {"email": REDACTED, "phone": REDACTED}


async def test_do_not_sell_denies_sale_reads_and_third_parties(node: GovernedNode) -> None:
    async with node.client() as http:
        sale = await http.get(CUSTOMER_PATH, headers=auth("admin", purpose="sale"))
        assert sale.json()["attributes"]["email"] == ADA["email"]  # not opted out yet
        flags = await http.put(
            "/api/v1/governance/consent/customer:c-1/ccpa",
            json={"do_not_sell": True},
            headers=auth("admin"),
        )
        assert flags.status_code == 200, flags.text
        assert flags.json()["do_not_sell"] is True
        assert flags.json()["do_not_share"] is False
        refused = await http.get(CUSTOMER_PATH, headers=auth("admin", purpose="sale"))
        assert refused.json()["attributes"]["email"] is None
        assert "email" in refused.headers[REDACTED_HEADER].split(",")
        assert refused.json()["attributes"]["name"] == "Ada"  # unclassified: untouched
        # a partner (third-party role) reads for sale without saying so
        partner = await http.get(CUSTOMER_PATH, headers=auth("admin", "partner"))
        assert partner.json()["attributes"]["email"] is None
        # the other customer did not opt out
        bob = await http.get("/api/v1/entities/customer/c-2", headers=auth("admin", "partner"))
        assert bob.json()["attributes"]["email"] == "bob@example.org"


async def test_purpose_claim_and_header(node: GovernedNode) -> None:
    async with node.client() as http:
        claim = bearer(hs_token(sub="alice", roles=["admin"], tenant_id=None, purpose="marketing"))
        claimed = await http.get(CUSTOMER_PATH, headers=claim)
        assert claimed.json()["attributes"]["email"] == REDACTED
        unknown = await http.get(CUSTOMER_PATH, headers=auth("admin", purpose="spam"))
        assert unknown.status_code == 400
        assert unknown.json()["error"]["code"] == "VALIDATION_ERROR"
        assert "spam" not in unknown.json()["error"]["message"]


async def test_consent_routes_refuse_bad_input_and_strangers(node: GovernedNode) -> None:
    admin = auth("admin")
    base = "/api/v1/governance/consent"
    async with node.client() as http:
        cases = [
            (f"{base}/c-1", {"purpose": "marketing"}),
            (f"{base}/customer:c-1", {"purpose": "spam"}),
            (f"{base}/customer:c-1", {"purpose": "marketing", "evidence": "x" * 201}),
            (f"{base}/customer:c-1", {"purpose": "marketing", "state": "perhaps"}),
        ]
        for path, body in cases:
            response = await http.post(path, json=body, headers=admin)
            assert response.status_code in (400, 422), (path, body, response.text)
        empty = await http.put(f"{base}/customer:c-1/ccpa", json={}, headers=admin)
        assert empty.status_code == 400
        stranger = await http.get(f"{base}/customer:c-1", headers=auth("support"))
        assert stranger.status_code == 403
        own = auth("support", sub="ada", dictamesh_subject="customer:c-1")
        mine = await http.post(f"{base}/customer:c-1", json={"purpose": "analytics"}, headers=own)
        assert mine.status_code == 201
        assert mine.json()["actor"] == "ada"
        other = await http.get(f"{base}/customer:c-2", headers=own)
        assert other.status_code == 403
    rows = await node.audit(entity_type="customer", entity_id="c-1")
    assert any(r.reason.startswith("consent given: purpose analytics") for r in rows)


def test_policy_explain_takes_purpose_and_consents(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dictamesh.cli.main import app

    policy = tmp_path / "policy.yaml"
    policy.write_text(CONSENT_POLICY)
    base = ["policy", "explain", "-p", str(policy), "--action", "read", "--entity-type",
            "customer", "--field", "email", "--tag", "pii_email", "--sub", "alice",
            "--roles", "admin", "--purpose", "marketing"]  # fmt: skip
    without = CliRunner().invoke(app, base)
    assert without.exit_code == 0, without.output
    assert "masked with: redact" in without.output
    assert "rule marketing-needs-consent: matched" in without.output
    given = CliRunner().invoke(app, [*base, "--consent", "marketing,sale"])
    assert "masked with" not in given.output
    assert "the subject consented to marketing" in given.output
