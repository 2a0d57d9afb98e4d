"""A governed API over a real (SQLite) catalog: customers with classified fields, orders,
a policy with admin / support / contractor roles, and dev HS256 tokens per role."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from tests.unit.auth.support import bearer, hs_token, settings
from tests.unit.gateway.fakes import MemoryAdapter, MemoryRegistry

from dictamesh.api import ApiContext, create_app
from dictamesh.catalog.service import CatalogService
from dictamesh.core.models import (
    ChangeEvent,
    Classification,
    EntitySchema,
    EventType,
    FieldSpec,
    FieldType,
    RelationshipSpec,
)
from dictamesh.governance.audit import AuditLog, AuditRow
from dictamesh.governance.audit_writer import AuditWriter
from dictamesh.governance.enforce import Governance
from dictamesh.governance.policy import PolicyEngine

S, PII = FieldType.STRING, Classification

CARD = EntitySchema(
    entity_type="customer_card",
    domain="crm",
    fields=[
        FieldSpec(name="brand", type=S),
        FieldSpec(name="number", type=S, required=True, classification=PII.PII_PAYMENT),
    ],
)
CUSTOMER = EntitySchema(
    entity_type="customer",
    domain="crm",
    fields=[
        FieldSpec(name="name", type=S, required=True),
        FieldSpec(name="email", type=S, classification=PII.PII_EMAIL),
        FieldSpec(name="phone", type=S, classification=PII.PII_PHONE),
        FieldSpec(name="nickname", type=S, required=True, classification=PII.PII_NAME),
        FieldSpec(name="country", type=S),
        FieldSpec(name="credit_score", type=FieldType.INTEGER, classification=PII.CONFIDENTIAL),
    ],
    nested={"cards": CARD},
)
ORDER = EntitySchema(
    entity_type="order",
    domain="sales",
    fields=[
        FieldSpec(name="total", type=FieldType.NUMBER),
        FieldSpec(name="customer_id", type=S, required=True),
    ],
    relationships=[
        RelationshipSpec(name="customer", target_type="customer", via_field="customer_id")
    ],
)

POLICY = """
version: 1
rules:
  - id: support-contact-masked
    effect: allow
    actions: [read]
    principal: {roles: [support]}
    resource: {entity_types: [customer], tags: [pii_email, pii_phone]}
    mask: partial
  - id: admins-see-everything
    effect: allow
    actions: [read, read_unmasked, subscribe, admin]
    principal: {roles: [admin]}
  - id: no-contractor-orders
    effect: deny
    actions: [read, subscribe]
    principal: {roles: [contractor]}
    resource: {entity_types: [order]}
"""

ADA = {
    "id": "c-1",
    "name": "Ada",
    "email": "ada.lovelace@example.com",
    "phone": "+44 20 7946 0958",
    "nickname": "Countess",
    "country": "GB",
    "credit_score": 812,
    "cards": [{"brand": "visa", "number": "4111 1111 1111 1234"}],
}
BOB = {
    "id": "c-2",
    "name": "Bob",
    "email": "bob@example.org",
    "phone": None,
    "nickname": "B",
    "country": "FR",
    "credit_score": 640,
    "cards": [],
}
ORDERS = [{"id": "o-1", "total": 12.5, "customer_id": "c-1"}]


CUSTOMER_QUERY = """
query($id: ID!) {
  customer(id: $id) {
    id name email phone nickname country creditScore cards { brand number }
  }
}"""
"""Every field of a customer: 5 classified ones (email, phone, nickname, creditScore,
cards.number)."""


def token(*roles: str, sub: str = "alice") -> dict[str, str]:
    return bearer(hs_token(sub=sub, roles=list(roles), tenant_id=None))


class GovernedNode:
    """The app, its registry and catalog, and the governance with a fast audit writer."""

    def __init__(self, catalog: CatalogService, *, batch_size: int = 500) -> None:
        self.catalog = catalog
        self.customers = MemoryAdapter(CUSTOMER, [ADA, BOB], system="crm")
        self.orders = MemoryAdapter(ORDER, ORDERS, system="shop")
        self.registry = MemoryRegistry([self.customers, self.orders])
        self.audit_log = AuditLog(catalog)
        self.writer = AuditWriter(self.audit_log, batch_size=batch_size, flush_interval=0.05)
        self.governance = Governance(
            PolicyEngine.from_yaml(POLICY), audit=self.writer, audit_log=self.audit_log
        )
        self.ctx = ApiContext(
            registry=self.registry, catalog=catalog, auth=settings(), governance=self.governance
        )
        self.app = create_app(self.ctx)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )

    async def seed_catalog(self) -> None:
        for adapter in (self.customers, self.orders):
            await self.catalog.register_schema(adapter.schema)
            for entity_id in adapter.records:
                entity = await adapter.get_entity(entity_id)
                await self.catalog.register_entity(entity)
                event = ChangeEvent.for_change(EventType.CREATED, entity)
                await self.catalog.record_event(event, event.topic)

    async def audit(self, **filters: Any) -> list[AuditRow]:
        await self.writer.flush()
        return await self.audit_log.query(limit=1000, **filters)


@contextlib.asynccontextmanager
async def governed_node(catalog_url: str, **options: Any) -> AsyncIterator[GovernedNode]:
    """A :class:`GovernedNode` over the migrated catalog at ``catalog_url`` (seeded here)."""
    async with await CatalogService.open(catalog_url, migrate=False) as catalog:
        node = GovernedNode(catalog, **options)
        await node.seed_catalog()
        try:
            yield node
        finally:
            await node.writer.aclose()


async def graphql(
    http: httpx.AsyncClient,
    headers: Mapping[str, str],
    query: str,
    variables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": query, "variables": dict(variables or {})}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_paths(body: Mapping[str, Any]) -> dict[str, str]:
    """``"customer.email"`` → error code, for every error of a GraphQL answer."""
    return {
        ".".join(str(p) for p in e.get("path") or []): e["extensions"]["code"]
        for e in body.get("errors") or []
    }
