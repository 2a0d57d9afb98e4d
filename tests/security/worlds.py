"""Two authenticated two-tenant nodes that differ only in values their callers may not read.

Tenants ``acme`` and ``globex`` each have customers (classified fields: email, phone,
nickname, credit score, card numbers) and orders, in the catalog and at a tenant-aware
source; the governance policy of ``enforce_support`` masks or hides the classified fields
for everyone but admins. Two worlds are built from two variants of acme's hidden values;
everything else, the clock included, is equal, so any difference between the worlds'
answers to a caller who may not read those values is a leak.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from dictamesh.api import ApiContext, create_app
from dictamesh.catalog.service import CatalogService
from dictamesh.core.context import current_tenant, tenant_id
from dictamesh.core.models import ChangeEvent, EventType
from dictamesh.core.settings import GraphQLSettings
from dictamesh.governance.audit import AuditLog
from dictamesh.governance.audit_writer import AuditWriter
from dictamesh.governance.enforce import Governance
from dictamesh.governance.policy import PolicyEngine
from tests.unit.auth.support import bearer, hs_token, settings
from tests.unit.gateway.fakes import MemoryAdapter, MemoryRegistry
from tests.unit.governance.enforce_support import CUSTOMER, ORDER, POLICY

TENANTS = ("acme", "globex")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
NAMESPACE = uuid.UUID("6f1c1a4e-5d7b-4c55-9d3e-0a8f1f3b2c10")


def customer(cid: str, name: str, hidden: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": cid, "name": name, "country": "GB", **hidden}


#: acme's customer c-1 in two variants; only what no non-admin may see in clear differs
#: (the partial masks keep an email's first letter and domain and a number's last 4)
HIDDEN_A = {
    "email": "ada.zebra@example.com",
    "phone": "+44 20 7946 0958",
    "nickname": "Countess",
    "credit_score": 812,
    "cards": [{"brand": "visa", "number": "4111 1111 1111 1234"}],
}
HIDDEN_B = {
    "email": "aqq@example.com",
    "phone": "+1 555 999 0958",
    "nickname": "Quokka",
    "credit_score": 3,
    "cards": [{"brand": "visa", "number": "5500 0000 0000 1234"}],
}
GLOBEX: dict[str, Any] = {
    "email": "gus@globex.test",
    "phone": None,
    "nickname": "G",
    "credit_score": 500,
    "cards": [],
}

#: words a search or filter may guess with: each variant's hidden words, and common ones
GUESSES = ["zebra", "aqq", "Countess", "Quokka", "812", "3", "0958", "4111", "5500", "ada",
           "example", "Ada", "Gus", "c-1", "c-2", "g-1", "o-1", "a", "e"]  # fmt: skip


class TenantAdapter(MemoryAdapter):
    """A source that answers each tenant from its own records (as a real multi-tenant
    source would behind the tenant's credentials)."""

    def __init__(self, *args: Any, by_tenant: Mapping[str, list[dict[str, Any]]], **kw: Any):
        super().__init__(*args, **kw)
        self._by_tenant = {
            t: {str(r["id"]): dict(r) for r in rows} for t, rows in by_tenant.items()
        }

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        return self._by_tenant.get(tenant_id() or "", {})

    @records.setter
    def records(self, value: dict[str, dict[str, Any]]) -> None:
        pass  # the base class's initial (tenant-less) records: a tenant-aware source has none


class World:
    def __init__(self, catalog: CatalogService, hidden: Mapping[str, Any]) -> None:
        self.catalog = catalog
        customers = {
            "acme": [
                customer("c-1", "Ada", hidden),
                customer("c-2", "Bob", GLOBEX | {"email": "bob@example.org"}),
            ],
            "globex": [customer("g-1", "Gus", GLOBEX)],
        }
        orders = {
            "acme": [{"id": "o-1", "total": 12.5, "customer_id": "c-1"}],
            "globex": [{"id": "o-9", "total": 3.0, "customer_id": "g-1"}],
        }
        self.customers = TenantAdapter(CUSTOMER, system="crm", by_tenant=customers)
        self.orders = TenantAdapter(ORDER, system="shop", by_tenant=orders)
        self.registry = MemoryRegistry([self.customers, self.orders])
        self.audit_log = AuditLog(catalog)
        self.writer = AuditWriter(self.audit_log, flush_interval=0.05)
        governance = Governance(
            PolicyEngine.from_yaml(POLICY), audit=self.writer, audit_log=self.audit_log
        )
        self.app = create_app(
            ApiContext(
                registry=self.registry,
                catalog=catalog,
                auth=settings(),
                governance=governance,
                # many requests a second from one client: not what is tested here
                graphql=GraphQLSettings(rate_limit_per_second=0, response_cache_size=0),
            )
        )

    async def seed(self) -> None:
        for tenant in TENANTS:
            token = current_tenant.set(tenant)
            try:
                for adapter in (self.customers, self.orders):
                    await self.catalog.register_schema(adapter.schema)
                    for entity_id in sorted(adapter.records):
                        entity = (await adapter.get_entity(entity_id)).model_copy(
                            update={"tenant_id": tenant, "updated_at": EPOCH}
                        )
                        event_id = uuid.uuid5(NAMESPACE, f"{tenant}/{entity.type}/{entity.id}")
                        await self.catalog.register_entity(entity, event_id=str(event_id))
                        event = ChangeEvent.for_change(
                            EventType.CREATED,
                            entity,
                            event_id=event_id,
                            timestamp=1_767_225_600_000,
                        )
                        await self.catalog.record_event(event, event.topic)
            finally:
                current_tenant.reset(token)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )


@contextlib.asynccontextmanager
async def world(directory: Path, hidden: Mapping[str, Any]) -> AsyncIterator[World]:
    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{directory / 'catalog.sqlite3'}"
    async with await CatalogService.open(url) as migrated:
        # one fixed clock: every stored timestamp is equal in both worlds
        built = World(CatalogService(migrated.engine, clock=lambda: EPOCH), hidden)
        await built.seed()
        try:
            yield built
        finally:
            await built.writer.aclose()


#: callers who may not read acme's c-1 hidden values in clear: the policy's masked and
#: denied roles in acme, and everyone of globex, its admin included
CALLERS: dict[str, dict[str, str]] = {
    "acme-support": bearer(hs_token(sub="sam", roles=["support"], tenant_id="acme")),
    "acme-contractor": bearer(hs_token(sub="cid", roles=["contractor"], tenant_id="acme")),
    "acme-reader": bearer(hs_token(sub="rey", roles=["reader"], tenant_id="acme")),
    "globex-admin": bearer(hs_token(sub="gia", roles=["admin"], tenant_id="globex")),
    "globex-support": bearer(hs_token(sub="gus", roles=["support"], tenant_id="globex")),
}
#: the control: acme's admin reads the hidden values, so the worlds do differ for it
ACME_ADMIN = bearer(hs_token(sub="ann", roles=["admin"], tenant_id="acme"))
