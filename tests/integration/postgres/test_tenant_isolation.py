"""Tenant isolation on real PostgreSQL: tenant A never sees tenant B's catalog data.

Tenants ``acme`` (A) and ``globex`` (B) get entities, relationships, events, lineage and
schemas through one mixed ingest batch. A then looks for B's data every way there is: the
catalog service, the REST and GraphQL APIs with a JWT of tenant A, and raw SQL as the
application role — where row-level security (migration 0004) answers even a
``SELECT count(*)`` without any WHERE clause with A's rows only, and no rows at all when no
tenant is set.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dictamesh.api import ApiContext, create_app
from dictamesh.catalog import CatalogIngestor, CatalogService
from dictamesh.catalog.records import Compatibility
from dictamesh.core.errors import EntityNotFound
from dictamesh.core.models import (
    ChangeEvent,
    Classification,
    Entity,
    EntityRef,
    EventType,
    SourceRef,
)
from dictamesh.core.notification_config import Priority
from dictamesh.governance.audit import AuditLog
from dictamesh.governance.consent_store import ConsentChange, ConsentStore
from dictamesh.notifications.inbox_store import InboxStore
from dictamesh.notifications.store import (
    Attempt,
    NewNotification,
    NotificationStatus,
    NotificationStore,
)
from dictamesh.quality.store import QualityStore, RuleResult, Run
from dictamesh.saga.store import NewSaga, SagaStore, StepLog
from dictamesh.search.store import EntityVectors, VectorStore
from dictamesh.tenancy import tenant_context
from dictamesh.tenancy.rls import TENANT_TABLES
from tests.contract.catalog_contract import CUSTOMER, INVOICE, PRODUCT, SCHEMAS, invoice_event
from tests.contract.governance_store_contract import Who, decision
from tests.unit.auth.support import SECRET, hs_token
from tests.unit.auth.support import settings as auth_settings
from tests.unit.gateway.fakes import MemoryRegistry, shop

pytestmark = pytest.mark.postgres

A, B = "acme", "globex"
CUSTOMERS = SourceRef(domain="customers", system="directus")
TOPIC = "billing.shop.entity_changed"
CUSTOMER_TOPIC = "customers.directus.entity_changed"
#: what each tenant has after seeding (active entities)
A_ENTITIES = {"customer:c-1", "invoice:i-1", "invoice_item:i-1:1", "invoice_item:i-1:2"}
B_ENTITIES = {"customer:c-1", "customer:c-2", "invoice:i-9", "invoice_item:i-9:1"}


def customer_event(customer_id: str, name: str, tenant: str) -> ChangeEvent:
    entity = Entity(
        type="customer",
        id=customer_id,
        source=CUSTOMERS,
        tenant_id=tenant,
        attributes={"name": name, "email": f"{customer_id}@{tenant}.example"},
    )
    return ChangeEvent.for_change(EventType.CREATED, entity)


async def seed(catalog: CatalogService) -> None:
    for tenant in (A, B):
        with tenant_context(tenant):
            for schema in (CUSTOMER, PRODUCT, INVOICE):
                await catalog.register_schema(schema)
    with tenant_context(B):
        await catalog.register_schema_text("globex_private", "JSON", '{"type": "object"}')
    shared = customer_event("c-1", "Ada Acme", A)
    batch = [
        (shared, CUSTOMER_TOPIC),
        # the same event id in another tenant is another event (ids carry no tenant)
        (shared.model_copy(update={"tenant_id": B, "after": {"name": "Zed"}}), CUSTOMER_TOPIC),
        (customer_event("c-2", "Bertha Globexclusive", B), CUSTOMER_TOPIC),
        (invoice_event("i-1", customer="c-1", tenant_id=A), TOPIC),
        (invoice_event("i-9", customer="c-1", items=[("1", "p-7")], tenant_id=B), TOPIC),
    ]
    assert await CatalogIngestor(catalog, SCHEMAS).handle_batch(batch) == 5
    for tenant in (A, B):
        with tenant_context(tenant):
            await catalog.set_compatibility(Compatibility.FULL, "customer")
            await catalog.set_cache_status(
                EntityRef(type="customer", id="c-1"),
                "l1",
                cached_at=catalog.database.now(),
                expires_at=None,
            )
    # one audit batch for both tenants
    entries = [decision("email", Classification.PII_EMAIL, Who(tenant=t)) for t in (A, B, B)]
    assert await AuditLog(catalog).record(entries) == 3
    # a saga each, with a line in its step log (layer 7's tenant tables)
    sagas = SagaStore(catalog.database)
    for n, tenant in enumerate((A, B)):
        saga = NewSaga(
            id=str(uuid.UUID(int=n + 1)),
            tenant_id=tenant,
            saga_type="create_invoice",
            input={"customer_id": "c-1"},
            request_hash="h",
        )
        await sagas.create(saga, owner="seed/1", lease_seconds=30)
        await sagas.record_step(
            saga.id, tenant, "seed/1", [StepLog("reserve_inventory", "action", "started", 1)],
            lease_seconds=30,
        )  # fmt: skip
    # a notification each, tried once, in the user's inbox, with preferences (migration 0009)
    outbox, inbox = NotificationStore(catalog.database), InboxStore(catalog.database)
    for tenant in (A, B):
        item = NewNotification(
            tenant_id=tenant, kind="message", rule="r1", dedupe_key=f"k-{tenant}",
            recipient="alice", channels=["inbox"], priority=Priority.NORMAL,
            status=NotificationStatus.PENDING, subject="s", text="t",
        )  # fmt: skip
        await outbox.enqueue([item])
        [record] = [r for r in await outbox.claim_records("seed/1", lease_seconds=30, limit=10)
                    if r.id == item.id]  # fmt: skip
        await outbox.finish(
            record.claimed(),
            "seed/1",
            Attempt(channel="inbox", outcome="sent", node="seed", duration_ms=1.0),
        )
        await inbox.add_to_inbox(record.message(address="alice"))
        await inbox.set_preferences("alice", {"min_priority": "low"}, tenant=tenant)
    # vectors of a customer each (migration 0012)
    vectors = VectorStore(catalog.database, provider="p", model="m", dimensions=3)
    await vectors.upsert(
        [EntityVectors(t, "customer", "c-1", "crm", "s", "h", [[1.0, 0.0, 0.0]]) for t in (A, B)]
    )
    # a quality run with one result each (migration 0014), a consent record each (0015)
    quality = QualityStore(catalog.database)
    consents = ConsentStore(catalog.database)
    now = catalog.database.now()
    for tenant in (A, B):
        run_id = str(uuid.uuid4())
        result = RuleResult(
            rule_id="email_present", entity_type="customer", rule_type="not_null",
            severity="error", passed=True, checked=1, failing=0, message="ok",
            evaluated_at=now, run_id=run_id,
        )  # fmt: skip
        await quality.save(
            Run(run_id, tenant, "schedule", "seed", now, now, results=[result]), keep=10
        )
        await consents.append(
            ConsentChange("customer:c-1", "sale", "withdrawn", "api", "seed"), tenant=tenant
        )


@pytest.fixture
async def catalog(postgres_catalog: CatalogService) -> CatalogService:
    await seed(postgres_catalog)
    return postgres_catalog


@pytest.fixture
async def app_engine(empty_catalog_url: str) -> AsyncIterator[AsyncEngine]:
    """Raw connections as the application role (``dictamesh``)."""
    engine = create_async_engine(empty_catalog_url, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def owner_engine(postgres_owner_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(postgres_owner_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def keys(locations: Any) -> set[str]:
    return {f"{x.entity_type}:{x.entity_id}" for x in locations}


async def guc(conn: AsyncConnection, tenant: str) -> None:
    await conn.execute(text("SELECT set_config('dictamesh.tenant_id', :t, true)"), {"t": tenant})


async def count(conn: AsyncConnection, table: str, where: str = "") -> int:
    return int((await conn.execute(text(f"SELECT count(*) FROM {table} {where}"))).scalar_one())


# --- the service ----------------------------------------------------------------------------


async def test_catalog_reads_see_only_the_current_tenant(catalog: CatalogService) -> None:
    with tenant_context(A):
        items, _ = await catalog.list_entities(limit=100)
        assert keys(items) == A_ENTITIES
        assert await catalog.count_entities() == len(A_ENTITIES)
        assert (await catalog.get_entity_location("customer", "c-1")).tenant_id == A
        with pytest.raises(EntityNotFound):
            await catalog.get_entity_location("customer", "c-2")
        with pytest.raises(EntityNotFound):
            await catalog.get_entity_location("invoice", "i-9")
        assert await catalog.search_entities("Bertha") == []
        assert await catalog.search_entities("Globex") == []
        assert [h.entity_id for h in await catalog.search_entities("Ada")] == ["c-1"]
        events = await catalog.get_event_log(limit=100)
        assert {e.entity_id for e in events} == {"c-1", "i-1"}
        assert "globex_private" not in await catalog.list_subjects()
        lineage = await catalog.get_lineage("invoice", "i-9")
        # the invoice data product's dataset lineage (A has one), but nothing of B's i-9
        records = lineage.upstream + lineage.downstream
        assert not any(r.upstream_entity or r.downstream_entity for r in records)
        stats = await catalog.stats()
        assert stats["entities"] == len(A_ENTITIES)
        assert stats["events"] == 2
    with tenant_context(B):
        assert keys((await catalog.list_entities(limit=100))[0]) == B_ENTITIES
        assert "globex_private" in await catalog.list_subjects()


async def test_the_same_event_id_is_logged_and_applied_for_each_tenant(
    catalog: CatalogService,
) -> None:
    with tenant_context(A):
        ada = await catalog.get_entity_location("customer", "c-1")
    with tenant_context(B):
        zed = await catalog.get_entity_location("customer", "c-1")
    assert ada.last_event_id == zed.last_event_id  # one id, two events
    # redelivering the mixed batch changes nothing in either tenant
    again = [
        (customer_event("c-1", "Ada Acme", A), CUSTOMER_TOPIC),
        (invoice_event("i-1", customer="c-1", tenant_id=A), TOPIC),
    ]
    ingestor = CatalogIngestor(catalog, SCHEMAS)
    assert await ingestor.handle_batch(again) == 2  # new ids: applied once
    assert await ingestor.handle_batch(again) == 0


async def test_graph_traversal_never_crosses_tenants(catalog: CatalogService) -> None:
    with tenant_context(A):
        graph = await catalog.query_relationship_graph(
            EntityRef(type="customer", id="c-1"), max_depth=5
        )
        found = {f"{n.type}:{n.id}" for n in graph.nodes}
        # B's invoice also points at "customer:c-1" -- but at B's c-1
        assert "invoice:i-9" not in found
        assert "product:p-7" not in found
        assert {"invoice:i-1", "invoice_item:i-1:1", "product:p-1"} <= found
        with pytest.raises(EntityNotFound):
            await catalog.query_relationship_graph(EntityRef(type="invoice", id="i-9"))
        assert await catalog.list_relationships(EntityRef(type="invoice", id="i-9")) == []


async def test_a_query_forgetting_the_tenant_filter_still_sees_one_tenant(
    catalog: CatalogService, owner_engine: AsyncEngine
) -> None:
    """What row-level security is for: a bug (or an extension's raw SQL) with no WHERE."""
    with tenant_context(A):
        async with catalog.database.read() as conn:
            assert await count(conn, "dictamesh_entity_catalog") == len(A_ENTITIES)
            assert await count(conn, "dictamesh_event_log") == 2
    async with owner_engine.connect() as conn:  # the owner is exempt: both tenants are there
        assert await count(conn, "dictamesh_entity_catalog") == len(A_ENTITIES) + len(B_ENTITIES)


async def test_cross_tenant_jobs_see_every_tenant(catalog: CatalogService) -> None:
    assert await catalog.tenants() == [A, B]
    assert await catalog.prune_event_log(catalog.database.now()) == 5  # both tenants' events
    for tenant in (A, B):
        with tenant_context(tenant):
            assert await catalog.get_event_log() == []


# --- raw SQL as the application role ----------------------------------------------------------


async def test_raw_sql_as_the_app_role_sees_only_the_tenant_it_sets(
    catalog: CatalogService, app_engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    expected: dict[str, int] = {}
    async with owner_engine.connect() as conn:
        for table in TENANT_TABLES:
            expected[table] = await count(conn, table, f"WHERE tenant_id = '{A}'")
            assert await count(conn, table, f"WHERE tenant_id = '{B}'") > 0, table
    async with app_engine.connect() as conn:
        await guc(conn, A)
        for table in TENANT_TABLES:
            assert await count(conn, table) == expected[table], table
            assert await count(conn, table, f"WHERE tenant_id = '{B}'") == 0, table
    async with app_engine.connect() as conn:  # no tenant set: nothing at all
        for table in TENANT_TABLES:
            assert await count(conn, table) == 0, table


async def test_the_app_role_cannot_write_into_or_change_another_tenant(
    catalog: CatalogService, app_engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    async with app_engine.connect() as conn:
        await guc(conn, A)
        updated = await conn.execute(
            text("UPDATE dictamesh_entity_catalog SET status = 'deleted' WHERE tenant_id = :b"),
            {"b": B},
        )
        deleted = await conn.execute(
            text("DELETE FROM dictamesh_event_log WHERE tenant_id = :b"), {"b": B}
        )
        assert (updated.rowcount, deleted.rowcount) == (0, 0)
        await conn.commit()
    for statement in (
        # a row for B
        "INSERT INTO dictamesh_schema_config (tenant_id, subject, compatibility, updated_at)"
        " VALUES ('globex', 'x', 'NONE', now())",
        # moving A's row to B
        "UPDATE dictamesh_entity_catalog SET tenant_id = 'globex' WHERE entity_id = 'i-1'",
    ):
        async with app_engine.connect() as conn:
            await guc(conn, A)
            with pytest.raises(DBAPIError, match="row-level security"):
                await conn.execute(text(statement))
    async with owner_engine.connect() as conn:
        assert await count(conn, "dictamesh_entity_catalog", "WHERE status = 'deleted'") == 0
        assert await count(conn, "dictamesh_event_log", f"WHERE tenant_id = '{B}'") == 3


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("ALTER TABLE dictamesh_entity_catalog DISABLE ROW LEVEL SECURITY", "must be owner"),
        ("ALTER TABLE dictamesh_entity_catalog NO FORCE ROW LEVEL SECURITY", "must be owner"),
        ("DROP POLICY dictamesh_tenant_isolation ON dictamesh_event_log", "must be owner"),
        ("CREATE POLICY open ON dictamesh_event_log USING (true)", "must be owner"),
        ("ALTER TABLE dictamesh_event_log OWNER TO dictamesh", "must be owner"),
        ("TRUNCATE dictamesh_entity_catalog", "permission denied"),
        ("CREATE TRIGGER spy BEFORE INSERT ON dictamesh_event_log FOR EACH ROW"
         " EXECUTE FUNCTION suppress_redundant_updates_trigger()", "permission denied"),
        ("CREATE TABLE dictamesh_copy (x int)", "permission denied"),
        ("SET ROLE dictamesh_owner", "permission denied"),
        ("SET ROLE dictamesh_admin", "permission denied"),
        ("SET SESSION AUTHORIZATION dictamesh_owner", "permission denied"),
    ],
)  # fmt: skip
async def test_the_app_role_cannot_switch_row_level_security_off(
    app_engine: AsyncEngine, statement: str, refusal: str
) -> None:
    async with app_engine.connect() as conn:
        with pytest.raises(DBAPIError, match=refusal):
            await conn.execute(text(statement))


async def test_the_search_function_answers_for_the_transactions_tenant_only(
    catalog: CatalogService, app_engine: AsyncEngine
) -> None:
    """It runs as the owner (so its trigram index is usable), enforcing the policy itself."""
    search = "SELECT entity_id FROM dictamesh_search_entities('Bertha', :t)"
    async with app_engine.connect() as conn:
        assert (await conn.execute(text(search), {"t": B})).all() == []  # no tenant set
        await guc(conn, A)
        assert (await conn.execute(text(search), {"t": B})).all() == []  # not A's
        await conn.commit()
        await guc(conn, B)
        assert [r.entity_id for r in await conn.execute(text(search), {"t": B})] == ["c-2"]
    async with app_engine.connect() as conn:
        with pytest.raises(DBAPIError, match="permission denied"):
            await conn.execute(
                text("SELECT * FROM dictamesh_search_entities_any_tenant('Bertha', 'globex')")
            )


async def test_row_security_off_is_an_error_not_a_bypass(
    catalog: CatalogService, app_engine: AsyncEngine
) -> None:
    async with app_engine.connect() as conn:
        await conn.execute(text("SET row_security = off"))
        with pytest.raises(DBAPIError, match="row-level security"):
            await count(conn, "dictamesh_entity_catalog")


async def test_the_tenant_setting_never_outlives_its_transaction(
    catalog: CatalogService, app_engine: AsyncEngine
) -> None:
    # one pooled connection: the second checkout is the same server session
    async with app_engine.connect() as conn:
        await guc(conn, A)
        assert await count(conn, "dictamesh_entity_catalog") == len(A_ENTITIES)
        await conn.commit()
        assert await count(conn, "dictamesh_entity_catalog") == 0  # next transaction
    async with app_engine.connect() as conn:
        setting = await conn.execute(text("SELECT current_setting('dictamesh.tenant_id', true)"))
        assert setting.scalar() in (None, "")
        assert await count(conn, "dictamesh_entity_catalog") == 0


# --- HTTP: REST and GraphQL with a JWT of tenant A --------------------------------------------


@pytest.fixture
async def http(catalog: CatalogService) -> AsyncIterator[httpx.AsyncClient]:
    registry = MemoryRegistry(list(shop()))
    app = create_app(ApiContext(registry=registry, catalog=catalog, auth=auth_settings()))
    token = hs_token(SECRET, tenant_id=A, roles=["reader"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


async def test_rest_with_a_tenant_a_token_never_returns_tenant_b(http: httpx.AsyncClient) -> None:
    ada = await http.get("/api/v1/entities/customer/c-1")
    assert ada.status_code == 200
    assert ada.json()["tenant_id"] == A
    for path in ("/api/v1/entities/customer/c-2", "/api/v1/entities/invoice/i-9/graph"):
        response = await http.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "ENTITY_NOT_FOUND"
    for q in ("Bertha", "Globex", "globex"):
        found = await http.get("/api/v1/search", params={"q": q})
        assert found.status_code == 200, q
        assert found.json()["results"] == [], q
    # an exact id of B's ranks first when visible; here only A's look-alikes come back
    hits = (await http.get("/api/v1/search", params={"q": "c-2"})).json()["results"]
    assert "c-2" not in {h["entity_id"] for h in hits}
    graph = (await http.get("/api/v1/entities/customer/c-1/graph", params={"depth": 5})).json()
    assert {f"{n['type']}:{n['id']}" for n in graph["nodes"]} >= {"invoice:i-1"}
    assert "invoice:i-9" not in {f"{n['type']}:{n['id']}" for n in graph["nodes"]}
    events = await http.get("/api/v1/entities/invoice/i-9/events")
    assert events.status_code == 200
    assert events.json()["events"] == []
    lineage = (await http.get("/api/v1/lineage/invoice/i-9")).json()
    assert all(not r.get("downstream_entity") for r in lineage["upstream"] + lineage["downstream"])
    subjects = await http.get("/schema-registry/subjects")
    assert subjects.status_code == 200
    assert "globex_private" not in subjects.json()
    # naming tenant B next to a token of tenant A is refused outright
    other = await http.get("/api/v1/entities/customer/c-1", headers={"X-Tenant-ID": B})
    assert other.status_code == 403


async def test_graphql_with_a_tenant_a_token_never_returns_tenant_b(
    http: httpx.AsyncClient,
) -> None:
    query = """{
      catalogEntries(limit: 100) { items { entityType entityId } }
      hidden: catalogEntry(type: "customer", id: "c-2") { entityId }
      search: catalogSearch(text: "Bertha Globexclusive") { entityId }
      relationshipGraph(type: "customer", id: "c-1", depth: 5) { nodes { type id } }
    }"""
    response = await http.post("/graphql", json={"query": query})
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body
    data = body["data"]
    assert {f"{i['entityType']}:{i['entityId']}" for i in data["catalogEntries"]["items"]} == (
        A_ENTITIES
    )
    assert data["hidden"] is None
    assert data["search"] == []
    nodes = {f"{n['type']}:{n['id']}" for n in data["relationshipGraph"]["nodes"]}
    assert "invoice:i-9" not in nodes
    assert "invoice:i-1" in nodes
