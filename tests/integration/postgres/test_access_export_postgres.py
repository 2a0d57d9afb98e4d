"""The access export on real PostgreSQL: tenant-scoped (row-level security on), and the
records of another customer — in the same tenant, or with the same id in another — never
in the bundle."""

from __future__ import annotations

import json

import pytest

from dictamesh.catalog import CatalogIngestor, CatalogService
from dictamesh.core.errors import EntityNotFound
from dictamesh.core.models import (
    ChangeEvent,
    Classification,
    Entity,
    EntityRef,
    EventType,
    SourceRef,
)
from dictamesh.governance.access_export import export_subject
from dictamesh.governance.audit import AuditLog
from dictamesh.tenancy import tenant_context
from tests.contract.catalog_contract import CUSTOMER, INVOICE, PRODUCT, SCHEMAS, invoice_event
from tests.contract.governance_store_contract import Who, decision

pytestmark = pytest.mark.postgres

A, B = "acme", "globex"
TOPIC = "billing.shop.entity_changed"
CUSTOMER_TOPIC = "customers.directus.entity_changed"


def customer(customer_id: str, email: str, tenant: str) -> ChangeEvent:
    entity = Entity(
        type="customer",
        id=customer_id,
        source=SourceRef(domain="customers", system="directus"),
        tenant_id=tenant,
        attributes={"name": f"Person {customer_id}", "email": email},
    )
    return ChangeEvent.for_change(EventType.CREATED, entity)


async def test_an_export_stays_in_its_tenant_and_on_its_subject(
    postgres_catalog: CatalogService,
) -> None:
    catalog = postgres_catalog
    for tenant in (A, B):
        with tenant_context(tenant):
            for schema in (CUSTOMER, PRODUCT, INVOICE):
                await catalog.register_schema(schema)
    batch = [
        (customer("c-1", "subject@acme.example", A), CUSTOMER_TOPIC),
        (customer("c-2", "neighbour@acme.example", A), CUSTOMER_TOPIC),
        (customer("c-1", "namesake@globex.example", B), CUSTOMER_TOPIC),
        (invoice_event("i-1", customer="c-1", tenant_id=A), TOPIC),
        (invoice_event("i-2", customer="c-2", items=[("1", "p-1")], tenant_id=A), TOPIC),
        (invoice_event("i-9", customer="c-1", items=[("1", "p-7")], tenant_id=B), TOPIC),
    ]
    assert await CatalogIngestor(catalog, SCHEMAS).handle_batch(batch) == 6
    entries = [decision("email", Classification.PII_EMAIL, Who(tenant=t)) for t in (A, B)]
    await AuditLog(catalog).record(entries)

    with tenant_context(A):
        bundle = await export_subject(catalog, EntityRef(type="customer", id="c-1"))
        with pytest.raises(EntityNotFound):
            await export_subject(catalog, EntityRef(type="customer", id="c-404"))
    assert bundle["manifest"]["tenant"] == A
    refs = {f"{e['entity_type']}:{e['entity_id']}" for e in bundle["entities"]}
    assert refs == {"customer:c-1", "invoice:i-1", "invoice_item:i-1:1", "invoice_item:i-1:2"}
    assert {f"{e['entity_type']}:{e['entity_id']}" for e in bundle["events"]} == {
        "customer:c-1",
        "invoice:i-1",
    }
    text = json.dumps(bundle)
    assert "subject@acme.example" in text
    for foreign in ("neighbour@acme.example", "namesake@globex.example", "i-2", "i-9", "p-7"):
        assert foreign not in text, foreign
    assert bundle["lineage"], "where the data came from"
    assert len(bundle["audit"]) == 1  # acme's read of c-1, not globex's
