"""The compliance report over a small governed mesh (SQLite catalog): personal fields from
schemas and detectors, their flows by lineage, who read them, consent coverage; JSON and
Markdown, over the admin API and the CLI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.unit.governance.consent_support import auth, consent_governed_node
from tests.unit.governance.enforce_support import GovernedNode
from typer.testing import CliRunner

from dictamesh.catalog.lineage_store import data_product_dataset
from dictamesh.cli.main import app as cli_app
from dictamesh.core.models import DatasetRef, EntitySchema, FieldSpec, FieldType
from dictamesh.governance.compliance import build_report, to_markdown

REPORT = "/api/v1/admin/compliance/report"


@pytest.fixture
async def node(sqlite_catalog_url: str) -> AsyncIterator[GovernedNode]:
    async with consent_governed_node(sqlite_catalog_url) as governed:
        yield governed


async def _activity(node: GovernedNode) -> None:
    """Consents, reads by two principals, and a downstream flow out of customers."""
    consent = node.governance.consent
    assert consent is not None
    await consent.record("customer:c-1", "marketing", "given", source="api", actor="alice")
    await consent.record("customer:c-2", "sale", "withdrawn", source="api", actor="alice")
    async with node.client() as http:
        for _ in range(3):
            await http.get("/api/v1/entities/customer/c-1", headers=auth("support", sub="sam"))
        await http.get("/api/v1/entities/customer/c-2", headers=auth("admin", sub="alice"))
    await node.writer.flush()
    await node.catalog.track_lineage(
        data_product_dataset("crm", "customer"),
        DatasetRef(namespace="dictamesh", name="marketing.audience"),
        "audience_from_customers",
    )


async def test_report_lists_fields_flows_readers_and_coverage(node: GovernedNode) -> None:
    await _activity(node)
    # an untagged field that holds e-mail addresses: found by the detectors
    contacts = EntitySchema(
        entity_type="contact",
        domain="crm",
        fields=[FieldSpec(name="note", type=FieldType.STRING)],
    )
    report = await build_report(
        node.catalog,
        consent=node.governance.consent,
        schemas={**node.registry.schemas(), "contact": contacts},
        lineage=[a.get_lineage() for a in node.registry.adapters()],
    )
    fields = {
        (f["entity_type"], f["field"], f["classification"]) for f in report["personal_fields"]
    }
    assert fields == {
        ("customer", "email", "pii_email"),
        ("customer", "phone", "pii_phone"),
        ("customer", "nickname", "pii_name"),
        ("customer", "credit_score", "confidential"),
        ("customer", "cards.number", "pii_payment"),
    }
    (flow,) = report["flows"]
    assert flow["entity_type"] == "customer"
    assert flow["dataset"] == "dictamesh/crm.customer"
    assert {"dataset": "dictamesh/marketing.audience", "via": ["audience_from_customers"]} in flow[
        "downstream"
    ]
    assert any(u["dataset"].startswith("crm/") for u in flow["upstream"])

    readers = {(r["subject"], r["field"], r["decision"]): r["reads"] for r in report["readers"]}
    # one audit row per entity and field per request: sam read c-1 three times
    assert readers[("sam", "email", "allow")] == 3
    assert readers[("sam", "nickname", "deny")] == 3
    assert readers[("alice", "email", "allow")] == 1
    assert {s for s, _, _ in readers} == {"sam", "alice"}

    coverage = report["consent"]
    assert coverage["subject_types"] == ["customer"]
    assert coverage["known_subjects"] == 2
    assert coverage["purposes"]["marketing"]["subjects_in_effect"] == 1
    assert coverage["purposes"]["marketing"]["coverage"] == 0.5
    assert coverage["purposes"]["analytics"]["subjects_in_effect"] == 0
    assert coverage["purposes"]["sale"]["subjects_in_effect"] == 1  # c-2 opted out
    assert coverage["purposes"]["sale"]["subjects_withdrawn"] == 1
    assert coverage["purposes"]["share"]["coverage"] == 1.0

    # a period before the reads holds none of them
    later = await build_report(node.catalog, since=datetime.now(UTC) + timedelta(hours=1), sample=0)
    assert later["readers"] == []

    text = to_markdown(report)
    assert "| sam | customer | email | allow | 3 |" in text
    assert "| marketing | consent | 1 | 0 | 50.0% |" in text
    assert "dictamesh/marketing.audience (audience_from_customers)" in text
    # never a personal value
    assert "ada.lovelace" not in text
    assert "ada.lovelace" not in json.dumps(report)


async def test_detectors_find_personal_values_in_untagged_fields(node: GovernedNode) -> None:
    notes = EntitySchema(
        entity_type="customer",
        domain="crm",
        fields=[
            FieldSpec(name="name", type=FieldType.STRING),
            FieldSpec(name="country", type=FieldType.STRING),
            FieldSpec(name="email", type=FieldType.STRING),  # untagged here
        ],
    )
    # the catalog snapshots hold e-mail addresses in "email"
    report = await build_report(
        node.catalog, schemas={"customer": notes, "order": node.orders.schema}
    )
    found = [f for f in report["personal_fields"] if f["found_by"].startswith("detector:")]
    assert [(f["field"], f["classification"]) for f in found] == [("email", "pii_email")]
    assert all("ada.lovelace@example.com" not in e for e in found[0]["examples"])


async def test_admin_api_serves_json_and_markdown(node: GovernedNode) -> None:
    await _activity(node)
    async with node.client() as http:
        body = await http.get(REPORT, headers=auth("admin"))
        assert body.status_code == 200, body.text
        assert body.json()["consent"]["known_subjects"] == 2
        markdown = await http.get(REPORT, params={"format": "markdown"}, headers=auth("admin"))
        assert markdown.headers["content-type"].startswith("text/markdown")
        assert markdown.text.startswith("# Compliance report")
        bad = await http.get(REPORT, params={"format": "pdf"}, headers=auth("admin"))
        assert bad.status_code in (400, 422)
        stranger = await http.get(REPORT, headers=auth("support"))
        assert stranger.status_code == 403


def _config(tmp_path: Path, catalog_url: str) -> Path:
    config = tmp_path / "mesh.yaml"
    config.write_text(
        f"catalog: {{url: '{catalog_url}'}}\n"
        "governance:\n  consent:\n    purposes:\n      marketing: {description: offers}\n"
        "      sale: {opt_out: true}\n"
    )
    return config


async def test_cli_consent_and_report(
    node: GovernedNode, tmp_path: Path, sqlite_catalog_url: str
) -> None:
    config = _config(tmp_path, sqlite_catalog_url)
    runner = CliRunner()

    def run(*args: str) -> object:
        import asyncio

        return asyncio.get_running_loop().run_in_executor(
            None, lambda: runner.invoke(cli_app, list(args))
        )

    given = await run(
        "governance",
        "consent",
        "give",
        "customer:c-2",
        "marketing",
        "-c",
        str(config),
        "--evidence",
        "call 7",
    )  # type: ignore[misc]
    assert given.exit_code == 0, given.output
    assert "consent given: customer:c-2 purpose marketing" in given.output
    bad = await run("governance", "consent", "give", "customer:c-2", "spam", "-c", str(config))  # type: ignore[misc]
    assert bad.exit_code == 2
    assert "unknown purpose" in bad.output
    bad_subject = await run(
        "governance", "consent", "withdraw", "c-2", "marketing", "-c", str(config)
    )  # type: ignore[misc]
    assert bad_subject.exit_code == 2
    shown = await run("governance", "consent", "show", "customer:c-2", "-c", str(config))  # type: ignore[misc]
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["purposes"]["marketing"]["in_effect"] is True

    report = await run("governance", "compliance-report", "-c", str(config), "--format", "markdown")  # type: ignore[misc]
    assert report.exit_code == 0, report.output
    assert "| marketing | consent | 1 | 0 | 50.0% |" in report.output
    as_json = await run(
        "governance", "compliance-report", "-c", str(config), "--since", "2026-01-01"
    )  # type: ignore[misc]
    assert json.loads(as_json.output)["period"]["since"].startswith("2026-01-01T00:00:00")
    wrong = await run("governance", "compliance-report", "-c", str(config), "--since", "yesterday")  # type: ignore[misc]
    assert wrong.exit_code == 2
