"""Catalog content and rules shared by the quality tests (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from dictamesh.catalog import CatalogService
from dictamesh.catalog.ingest import CatalogIngestor
from dictamesh.core.models import (
    ChangeEvent,
    Entity,
    EntitySchema,
    EventType,
    FieldSpec,
    FieldType,
    SourceRef,
)
from dictamesh.core.settings import QualitySettings

CUSTOMERS = SourceRef(domain="customers", system="directus")
INVOICES = SourceRef(domain="invoices", system="ecommerce")
TOPICS = {
    "customer": "customers.directus.entity_changed",
    "invoice": "invoices.ecommerce.entity_changed",
}
SCHEMAS = {
    "customer": EntitySchema(
        entity_type="customer",
        domain="customers",
        fields=[FieldSpec(name="email", type=FieldType.STRING)],
    ),
    "invoice": EntitySchema(
        entity_type="invoice",
        domain="invoices",
        fields=[
            FieldSpec(name="customer_id", type=FieldType.STRING),
            FieldSpec(name="status", type=FieldType.STRING),
            FieldSpec(name="total", type=FieldType.NUMBER),
        ],
    ),
}

RULES: dict[str, Any] = {
    "customer": [
        {"id": "customer-email", "type": "not_null", "field": "email"},
        {"id": "customer-email-unique", "type": "unique", "field": "email"},
        {
            "id": "customer-email-shape",
            "type": "regex",
            "field": "email",
            "pattern": "^[^@]+@[^@]+$",
            "severity": "warn",
        },
    ],
    "invoice": [
        {
            "id": "invoice-status",
            "type": "accepted_values",
            "field": "status",
            "values": ["open", "paid"],
        },
        {"id": "invoice-total", "type": "range", "field": "total", "min": 0, "max": 1000},
        {
            "id": "invoice-customer-exists",
            "type": "referential_integrity",
            "field": "customer_id",
            "references": "customer",
        },
        {
            "id": "invoice-paid-total",
            "type": "not_null",
            "field": "total",
            "where": {"status": "paid"},
            "severity": "warn",
        },
        {"id": "invoice-fresh", "type": "freshness", "max_age": "1h"},
        {"id": "invoice-rows", "type": "row_count_change", "max_change_percent": 50},
    ],
}


def settings(**overrides: Any) -> QualitySettings:
    return QualitySettings(rules=RULES, **overrides)


def event(
    kind: str,
    entity_id: str,
    attributes: dict[str, Any] | None,
    *,
    version: int = 1,
    event_type: EventType = EventType.CREATED,
    tenant: str | None = None,
) -> ChangeEvent:
    source = CUSTOMERS if kind == "customer" else INVOICES
    made = ChangeEvent.for_change(
        event_type,
        Entity(
            type=kind, id=entity_id, version=version, attributes=attributes or {}, source=source
        ),
    )
    if tenant is not None:
        made = made.model_copy(update={"tenant_id": tenant})
    return made


def good_data() -> list[ChangeEvent]:
    return [
        event("customer", "c1", {"email": "ada@example.com"}),
        event("customer", "c2", {"email": "bob@example.com"}),
        event("invoice", "i1", {"customer_id": "c1", "status": "paid", "total": 10}),
        event("invoice", "i2", {"customer_id": "c2", "status": "open", "total": 0}),
    ]


def bad_data() -> list[ChangeEvent]:
    return [
        event("customer", "c3", {"email": None}),
        event("customer", "c4", {"email": "ada@example.com"}),  # duplicate of c1
        event("customer", "c5", {"email": "not-an-email"}),
        event("invoice", "i3", {"customer_id": "gone-customer-9", "status": "lost", "total": 5000}),
        event("invoice", "i4", {"customer_id": "c1", "status": "paid", "total": "ten"}),
        event("invoice", "i5", {"customer_id": "c2", "status": "paid"}),
    ]


async def ingest(catalog: CatalogService, events: list[ChangeEvent]) -> Any:
    ingestor = CatalogIngestor(catalog, SCHEMAS)
    return await ingestor.apply_batch([(e, TOPICS[e.entity.type]) for e in events])
