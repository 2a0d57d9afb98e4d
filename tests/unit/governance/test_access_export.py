"""Right of access end to end: a real node ingests the sample sources, then the admin API
and ``dictamesh governance export`` bundle one customer — every record about them (their
invoices, the invoices' items, their payments), and nothing about another customer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.timing import eventually
from tests.unit.auth.support import AUDIENCE, ISSUER, SECRET, bearer, hs_token
from typer.testing import CliRunner

from dictamesh.cli.main import app as cli_app
from dictamesh.core.errors import EntityNotFound
from dictamesh.core.models import Entity, EntityRef, SourceRef
from dictamesh.governance.access_export import about_subject
from dictamesh.governance.audit import AuditLog
from dictamesh.governance.consent_store import ConsentChange, ConsentStore
from dictamesh.node import MeshNode
from dictamesh.sources.runner import (
    SampleSources,
    reference_adapter_configs,
    run_sample_sources,
)

SUBJECT = "7"  # 7 invoices and 2 charges in the seed-42 data
OTHER = "5"  # 7 invoices and 1 charge


@pytest.fixture
async def sources() -> AsyncIterator[SampleSources]:
    async with run_sample_sources(products_rate_limit=None) as running:
        yield running


def node_settings(tmp_path: Path, catalog_url: str, sources: SampleSources) -> dict[str, Any]:
    return {
        "node_name": "access",
        "state_dir": str(tmp_path),
        "bus": {"path": str(tmp_path / "bus.sqlite3")},
        "catalog": {"url": catalog_url},
        # no embedding model: it would index the whole sample mesh in a thread
        "search": {"embeddings": {"provider": "off"}},
        "auth": {
            "mode": "required",
            "jwt_secret": SECRET,
            "issuer": ISSUER,
            "audience": [AUDIENCE],
        },
        "adapters": [
            c.model_dump(mode="python")
            for c in reference_adapter_configs(sources.endpoints(), poll_interval_seconds=0.05)
        ],
    }


@pytest.fixture
async def node(
    tmp_path: Path, sqlite_catalog_url: str, sources: SampleSources
) -> AsyncIterator[MeshNode]:
    from dictamesh.core.settings import DictaMeshSettings

    settings = DictaMeshSettings.from_mapping(node_settings(tmp_path, sqlite_catalog_url, sources))
    async with MeshNode(settings) as running:
        invoices = {str(i) for i in sources.invoices_store.ids()}
        charges = {str(i) for i in sources.payments_store.ids()}

        async def ingested() -> None:
            catalog = running.catalog
            assert await catalog.count_entities("customer") >= 2
            assert await catalog.count_entities("invoice") == len(invoices)
            assert await catalog.count_entities("payment") >= len(charges)
            for person in (SUBJECT, OTHER):
                try:
                    await catalog.get_entity_location("customer", person)
                except EntityNotFound:
                    raise AssertionError(f"customer {person} not ingested yet") from None

        await eventually(ingested, timeout=60)
        yield running


def customer(sources: SampleSources, customer_id: str) -> dict[str, Any]:
    return next(c for c in sources.customers_store.all() if str(c["id"]) == customer_id)


def invoices_of(sources: SampleSources, customer_id: str) -> list[dict[str, Any]]:
    return [i for i in sources.invoices_store.all() if str(i["customer_id"]) == customer_id]


def charges_of(sources: SampleSources, customer_id: str) -> list[str]:
    return [str(c["id"]) for c in sources.payments_store.all() if c["customer_id"] == customer_id]


def traces_of(sources: SampleSources, customer_id: str) -> list[str]:
    """Strings that identify ``customer_id`` or a record about them."""
    person = customer(sources, customer_id)
    return [
        person["email"],
        f"{person['first_name']} {person['last_name']}",
        person["phone"],
        f"customer:{customer_id}",
        *(str(i["id"]) for i in invoices_of(sources, customer_id)),
        *(f'"{c}"' for c in charges_of(sources, customer_id)),
    ]


def admin() -> dict[str, str]:
    return bearer(hs_token(sub="dpo", roles=["admin"], tenant_id=None))


async def get(node: MeshNode, path: str, headers: dict[str, str] | None) -> httpx.Response:
    transport = httpx.ASGITransport(app=node.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as http:
        return await http.get(path, headers=headers or {})


def check_bundle(bundle: dict[str, Any], sources: SampleSources) -> None:
    manifest = bundle["manifest"]
    assert manifest["format"] == "dictamesh-access-export/1"
    assert manifest["subject"] == f"customer:{SUBJECT}"
    assert manifest["sections"] == [
        "entities", "events", "relationships", "lineage", "audit", "consent",
    ]  # fmt: skip
    assert manifest["withheld"] == []
    refs = {(e["entity_type"], e["entity_id"]) for e in bundle["entities"]}
    invoices = invoices_of(sources, SUBJECT)
    items = {(f"{i['id']}:{item['id']}") for i in invoices for item in i["line_items"]}
    assert refs == {
        ("customer", SUBJECT),
        *(("invoice", str(i["id"])) for i in invoices),
        *(("invoice_item", item) for item in items),
        *(("payment", c) for c in charges_of(sources, SUBJECT)),
    }
    person = next(e for e in bundle["entities"] if e["entity_type"] == "customer")
    assert person["attributes"]["email"] == customer(sources, SUBJECT)["email"]  # unmasked
    # every entity's change history: at least one event each (items come with the invoice)
    logged = {(e["entity_type"], e["entity_id"]) for e in bundle["events"]}
    assert logged == {r for r in refs if r[0] != "invoice_item"}
    assert manifest["counts"] == {name: len(bundle[name]) for name in manifest["sections"]}
    sources_of = {row["upstream"]["namespace"] for row in bundle["lineage"]}
    assert {"directus", "ecommerce"} <= sources_of, sources_of
    # nothing about anyone else: not the other customer, not their invoices or payments
    text = json.dumps(bundle)
    for trace in traces_of(sources, OTHER):
        assert trace not in text, trace
    assert not any(e["entity_type"] == "product" for e in bundle["entities"])


async def test_the_admin_api_exports_everything_about_one_customer_only(
    node: MeshNode, sources: SampleSources
) -> None:
    path = f"/api/v1/admin/governance/subjects/customer:{SUBJECT}/export"
    # consents of both customers on record: the subject's history is in the bundle, alone
    consents = ConsentStore(node.catalog.database)
    for person, purpose in ((SUBJECT, "sale"), (OTHER, "share"), (SUBJECT, "share")):
        await consents.append(
            ConsentChange(f"customer:{person}", purpose, "withdrawn", "api", f"cust-{person}")
        )
    # someone read the subject before: the export shows who
    seen = await get(node, f"/api/v1/entities/customer/{SUBJECT}", admin())
    assert seen.status_code == 200
    assert node.governance is not None
    assert node.governance.writer is not None
    await node.governance.writer.flush()

    response = await get(node, path, admin())
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    bundle = response.json()
    check_bundle(bundle, sources)
    readers = {(row["subject"], row["entity_id"]) for row in bundle["audit"]}
    assert ("dpo", SUBJECT) in readers
    assert [(c["subject"], c["purpose"], c["state"]) for c in bundle["consent"]] == [
        (f"customer:{SUBJECT}", "sale", "withdrawn"),
        (f"customer:{SUBJECT}", "share", "withdrawn"),
    ]

    # the export itself is audited (written before it is served)
    rows = await AuditLog(node.catalog).query(entity_type="customer", entity_id=SUBJECT)
    assert any(r.reason.startswith("access export:") and r.subject == "dpo" for r in rows)


@pytest.mark.parametrize(
    ("ref", "status", "code"),
    [
        ("customer", 400, "VALIDATION_ERROR"),
        ("Customer:7", 400, "VALIDATION_ERROR"),
        ("customer:a b", 400, "VALIDATION_ERROR"),
        (":7", 400, "VALIDATION_ERROR"),
        ("customer:999999", 404, "ENTITY_NOT_FOUND"),
    ],
)
async def test_bad_or_unknown_subjects_are_typed_4xx(
    node: MeshNode, ref: str, status: int, code: str
) -> None:
    response = await get(node, f"/api/v1/admin/governance/subjects/{ref}/export", admin())
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_only_admins_export(node: MeshNode) -> None:
    path = f"/api/v1/admin/governance/subjects/customer:{SUBJECT}/export"
    assert (await get(node, path, None)).status_code == 401
    reader = bearer(hs_token(sub="rita", roles=["reader"], tenant_id=None))
    assert (await get(node, path, reader)).status_code == 403


async def test_the_cli_writes_the_same_bundle(
    node: MeshNode, sources: SampleSources, tmp_path: Path, sqlite_catalog_url: str
) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text(yaml.safe_dump({"node_name": "cli", "catalog": {"url": sqlite_catalog_url}}))
    out = tmp_path / "bundle.json"
    runner = CliRunner()
    args = ["governance", "export", f"customer:{SUBJECT}", "-c", str(config), "-o", str(out)]
    result = await asyncio.to_thread(runner.invoke, cli_app, [*args, "--by", "dpo-cli"])
    assert result.exit_code == 0, result.output
    check_bundle(json.loads(out.read_text()), sources)
    rows = await AuditLog(node.catalog).query(entity_type="customer", entity_id=SUBJECT)
    assert any(r.subject == "dpo-cli" and r.channel == "cli" for r in rows)

    bad = await asyncio.to_thread(runner.invoke, cli_app, ["governance", "export", "nope", "-c",
                                                           str(config)])  # fmt: skip
    assert bad.exit_code == 2
    unknown = await asyncio.to_thread(
        runner.invoke, cli_app, ["governance", "export", "customer:999999", "-c", str(config)]
    )
    assert unknown.exit_code == 1


async def test_a_record_about_two_subjects_is_withheld(node: MeshNode) -> None:
    """A charge that pays the subject's invoice but is ``paid_by`` another customer is
    about that customer too: withheld, listed by reference only."""
    catalog = node.catalog
    invoice = (await catalog.list_relationships(EntityRef(type="customer", id=SUBJECT),
                                                direction="in"))[0].subject  # fmt: skip
    shared = EntityRef(type="payment", id="shared_1")
    await catalog.register_entity(
        Entity(type="payment", id="shared_1", attributes={"amount": 1},
               source=SourceRef(domain="payments", system="gateway"))
    )  # fmt: skip
    await catalog.record_relationship(shared, "pays", invoice)
    await catalog.record_relationship(shared, "paid_by", EntityRef(type="customer", id=OTHER))
    # a customer referred by ours is another person, not a record about ours
    referred = EntityRef(type="customer", id=OTHER)
    await catalog.record_relationship(
        referred, "referred_by", EntityRef(type="customer", id=SUBJECT)
    )
    found, withheld = await about_subject(catalog, EntityRef(type="customer", id=SUBJECT))
    assert shared in withheld
    assert referred in withheld
    assert shared not in found
    assert referred not in found
