"""A governed node's API over a real catalog (SQLite or PostgreSQL) with real embeddings:
customers, products, invoices and a payroll type only admins may read; the catalog indexed
by the search indexer with the wordllama provider, then searched over REST and GraphQL.

Shared by the SQLite tests (``tests/unit/search``) and the PostgreSQL ones
(``tests/integration/postgres``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
from tests.unit.auth.support import bearer, hs_token, settings
from tests.unit.gateway.fakes import MemoryAdapter, MemoryRegistry

from dictamesh.api import ApiContext, create_app
from dictamesh.catalog.service import CatalogService
from dictamesh.core.context import current_tenant
from dictamesh.core.models import Classification, Entity, EntitySchema, FieldSpec, FieldType
from dictamesh.core.settings import EmbeddingSettings, SearchSettings
from dictamesh.embeddings.base import EmbeddingProvider
from dictamesh.embeddings.registry import provider_from_settings
from dictamesh.governance.enforce import Governance
from dictamesh.governance.policy import PolicyEngine
from dictamesh.search.fields import FieldChooser
from dictamesh.search.indexer import SearchIndexer
from dictamesh.search.store import VectorStore

S = FieldType.STRING

CUSTOMER = EntitySchema(
    entity_type="customer",
    domain="crm",
    fields=[
        FieldSpec(name="name", type=S, required=True),
        FieldSpec(name="company", type=S),
        FieldSpec(name="city", type=S),
        FieldSpec(name="email", type=S, classification=Classification.PII_EMAIL),
    ],
)
PRODUCT = EntitySchema(
    entity_type="product",
    domain="catalog",
    fields=[
        FieldSpec(name="name", type=S, required=True),
        FieldSpec(name="category", type=S),
    ],
)
INVOICE = EntitySchema(
    entity_type="invoice",
    domain="billing",
    fields=[
        FieldSpec(name="invoice_number", type=S, required=True),
        FieldSpec(name="status", type=S),
        FieldSpec(name="customer_name", type=S),
    ],
)
PAYROLL = EntitySchema(
    entity_type="payroll",
    domain="hr",
    fields=[FieldSpec(name="employee", type=S), FieldSpec(name="note", type=S)],
)

POLICY = """
version: 1
rules:
  - id: admins-see-everything
    effect: allow
    actions: [read, read_unmasked, subscribe, admin]
    principal: {roles: [admin]}
  - id: payroll-is-hr-only
    effect: deny
    actions: [read, subscribe]
    principal: {roles: [support]}
    resource: {entity_types: [payroll]}
"""

CUSTOMERS = [
    {"id": "c-1", "name": "Ada Lovelace", "company": "Acme Corp", "city": "London",
     "email": "ada@example.com"},
    {"id": "c-2", "name": "Grace Hopper", "company": "Globex", "city": "Arlington",
     "email": "grace@navy.example"},
    {"id": "c-3", "name": "Alan Turing", "company": "Initech", "city": "Manchester",
     "email": "alan@example.org"},
]  # fmt: skip
PRODUCTS = [
    {"id": "p-1", "name": "Headset Pro", "category": "audio"},
    {"id": "p-2", "name": "Keyboard Lite", "category": "hardware"},
    {"id": "p-3", "name": "Laptop Sleeve", "category": "accessories"},
    {"id": "p-4", "name": "VPN Seat", "category": "software"},
]
INVOICES = [
    {"id": "i-1", "invoice_number": "INV-001", "status": "open", "customer_name": "Ada Lovelace"},
    {"id": "i-2", "invoice_number": "INV-002", "status": "paid", "customer_name": "Alan Turing"},
]
#: a type the support role may not read, made to compete for every query below
PAYROLL_ROWS = [
    {"id": "y-1", "employee": "Ada Lovelace", "note": "headset headphones bonus"},
    {"id": "y-2", "employee": "Grace Hopper", "note": "wireless headphones allowance"},
]

SETTINGS = SearchSettings(default_mode="hybrid")


def token(*roles: str, tenant: str | None = None, sub: str = "alice") -> dict[str, str]:
    return bearer(hs_token(sub=sub, roles=list(roles), tenant_id=tenant))


@contextlib.contextmanager
def as_tenant(tenant: str | None) -> Iterator[None]:
    reset = current_tenant.set(tenant)
    try:
        yield
    finally:
        current_tenant.reset(reset)


class SearchNode:
    """The governed app, its catalog, vector store, provider and indexer."""

    def __init__(
        self,
        catalog: CatalogService,
        provider: EmbeddingProvider | None,
        *,
        search: SearchSettings = SETTINGS,
        unavailable: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.provider = provider
        self.adapters = [
            MemoryAdapter(CUSTOMER, CUSTOMERS, system="directus"),
            MemoryAdapter(PRODUCT, PRODUCTS, system="pim"),
            MemoryAdapter(INVOICE, INVOICES, system="shop"),
            MemoryAdapter(PAYROLL, PAYROLL_ROWS, system="hris"),
        ]
        self.registry = MemoryRegistry(self.adapters)
        self.policy = PolicyEngine.from_yaml(POLICY)
        self.store = (
            None
            if provider is None
            else VectorStore.from_settings(
                catalog.database, search, provider=provider.name, model=provider.model
            )
        )
        self.indexer = (
            None
            if provider is None or self.store is None
            else SearchIndexer(
                catalog.database,
                self.store,
                provider,
                FieldChooser(self.policy, search.fields),
                self.registry.schemas,
            )
        )
        self.ctx = ApiContext(
            registry=self.registry,
            catalog=catalog,
            auth=settings(),
            governance=Governance(self.policy),
            search=search,
            embedder=provider,
            vectors=self.store,
            search_unavailable=unavailable,
        )
        self.app = create_app(self.ctx)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )

    async def seed(self, *, index: bool = True) -> None:
        """Every adapter's records into the catalog, then (``index``) embedded."""
        for adapter in self.adapters:
            await self.catalog.register_schema(adapter.schema)
            for entity_id in adapter.records:
                await self.catalog.register_entity(await adapter.get_entity(entity_id))
        if index:
            await self.reindex()

    async def register(self, entity_type: str, entity_id: str, tenant: str | None = None,
                       **attributes: Any) -> None:  # fmt: skip
        adapter = self.registry.for_type(entity_type)
        with as_tenant(tenant):
            await self.catalog.register_entity(
                Entity(type=entity_type, id=entity_id, attributes=attributes, source=adapter.source)
            )

    async def reindex(self) -> None:
        if self.indexer is not None:
            await self.indexer.reconcile()


def wordllama() -> EmbeddingProvider:
    provider = provider_from_settings(EmbeddingSettings(provider="wordllama"))
    assert provider is not None
    return provider


@contextlib.asynccontextmanager
async def search_node(catalog: CatalogService, **options: Any) -> AsyncIterator[SearchNode]:
    provider = options.pop("provider", None)
    if provider is None and not options.pop("text_only", False):
        provider = wordllama()
    node = SearchNode(catalog, provider, **options)
    try:
        yield node
    finally:
        if provider is not None:
            await provider.aclose()


async def search(
    node: SearchNode, role: str | None = "admin", *, tenant: str | None = None, **params: Any
) -> httpx.Response:
    headers = token(role, tenant=tenant) if role else {}
    async with node.client() as http:
        return await http.get("/api/v1/search", params=params, headers=headers)


async def graphql(
    node: SearchNode,
    query: str,
    variables: Mapping[str, Any] | None = None,
    role: str = "admin",
    tenant: str | None = None,
) -> dict[str, Any]:
    async with node.client() as http:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": dict(variables or {})},
            headers=token(role, tenant=tenant),
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: Mapping[str, Any]) -> list[str]:
    return [f"{h['entity_type']}:{h['entity_id']}" for h in body["results"]]
