"""What the catalog records for the running node, on every engine: the system-topic outbox
(``entity_registered`` / ``relationship_created`` notices written with the ingest) and the
cache status (batched fills and invalidations, the per-type summary).

Subclass :class:`SystemStatusContract` with a ``catalog`` fixture (a fresh, migrated, empty
catalog), as ``catalog_contract.py`` is used. On PostgreSQL the catalog connects as the
application role, so row-level security applies to every write here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from dictamesh.catalog import CatalogIngestor, CatalogService
from dictamesh.catalog.cache_status_store import CacheFill, CacheInvalidation
from dictamesh.catalog.system_outbox import ENTITY_REGISTERED, RELATIONSHIP_CREATED, OutboxNotice
from dictamesh.catalog.tables import RELS
from dictamesh.core.context import current_tenant
from dictamesh.core.models import EntityRef, EventType, FieldSpec, FieldType
from tests.contract.catalog_contract import CUSTOMER, SCHEMAS, TOPIC, invoice_event

__all__ = ["SystemStatusContract"]

SECOND = timedelta(seconds=1)
MINUTE = timedelta(seconds=60)

Edge = tuple[str, str, str, str, str, str]
"""(tenant, subject type, subject id, relationship, object type, object id)"""


async def stored_edges(catalog: CatalogService, tenant: str = "default") -> set[Edge]:
    """Every relationship row the catalog holds for ``tenant`` (history included)."""
    async with catalog.database.read(tenant) as conn:
        rows = await conn.execute(
            select(
                RELS.c.tenant_id,
                RELS.c.subject_type,
                RELS.c.subject_id,
                RELS.c.relationship_type,
                RELS.c.object_type,
                RELS.c.object_id,
            ).where(RELS.c.tenant_id == tenant)
        )
        return {tuple(r) for r in rows}  # type: ignore[misc]


def edge_of(notice: OutboxNotice) -> Edge:
    p = notice.payload
    return (
        p["tenant_id"],
        p["subject"]["type"],
        p["subject"]["id"],
        p["relationship_type"],
        p["object"]["type"],
        p["object"]["id"],
    )


def of_kind(notices: list[OutboxNotice], kind: str) -> list[OutboxNotice]:
    return [n for n in notices if n.kind == kind]


def entities(notices: list[OutboxNotice]) -> list[tuple[str, str]]:
    return [
        (n.payload["entity_type"], n.payload["entity_id"])
        for n in of_kind(notices, ENTITY_REGISTERED)
    ]


class SystemStatusContract:
    # --- system-topic notices ---------------------------------------------------------------

    async def test_a_new_invoice_registers_it_its_items_and_their_relationships_once(
        self, catalog: CatalogService
    ) -> None:
        ingestor = CatalogIngestor(catalog, SCHEMAS, outbox=True)
        created = invoice_event("i-1", customer="c-1", items=[("1", "p-1"), ("2", "p-2")])
        outcome = await ingestor.apply_batch([(created, TOPIC)])

        assert outcome.applied == 1
        assert [(r.type, r.id) for r in outcome.registered] == [
            ("invoice", "i-1"),
            ("invoice_item", "i-1:1"),
            ("invoice_item", "i-1:2"),
        ]
        assert outcome.registered[1].parent == EntityRef(type="invoice", id="i-1")
        notices = await catalog.outbox.pending()
        assert outcome.notices == len(notices)
        assert entities(notices) == [r[:2] for r in [(r.type, r.id) for r in outcome.registered]]
        # one notice per relationship row the ingest stored, and nothing else
        relationship_notices = of_kind(notices, RELATIONSHIP_CREATED)
        assert sorted(edge_of(n) for n in relationship_notices) == sorted(
            await stored_edges(catalog)
        )
        assert ("default", "invoice", "i-1", "billed_to", "customer", "c-1") in {
            edge_of(n) for n in relationship_notices
        }
        assert len(relationship_notices) == len(outcome.relationships) == 5

        # a redelivered batch: nothing new, no notice
        again = await ingestor.apply_batch([(created, TOPIC)])
        assert (again.applied, again.duplicates, again.registered, again.notices) == (
            0,
            1,
            (),
            0,
        )
        assert len(await catalog.outbox.pending()) == len(notices)

    async def test_updates_notify_only_what_they_make_new(self, catalog: CatalogService) -> None:
        ingestor = CatalogIngestor(catalog, SCHEMAS, outbox=True)
        await ingestor.apply_batch([(invoice_event("i-1", items=[("1", "p-1")]), TOPIC)])
        first = len(await catalog.outbox.pending())

        moved = invoice_event("i-1", customer="c-2", items=[("1", "p-1"), ("2", "p-2")], version=2)
        outcome = await ingestor.apply_batch([(moved, TOPIC)])
        new = (await catalog.outbox.pending())[first:]
        assert entities(new) == [("invoice_item", "i-1:2")]
        assert sorted(edge_of(n)[1:] for n in of_kind(new, RELATIONSHIP_CREATED)) == [
            ("invoice", "i-1", "billed_to", "customer", "c-2"),
            ("invoice", "i-1", "has_item", "invoice_item", "i-1:2"),
            ("invoice_item", "i-1:2", "references", "product", "p-2"),
        ]
        assert len(new) == outcome.notices == 4

        # the same snapshot re-sent (equal version): applied, nothing new
        resent = moved.model_copy(update={"event_id": uuid.uuid4()})
        assert (await ingestor.apply_batch([(resent, TOPIC)])).notices == 0

        # an older version arriving late is logged only: no notice either
        late = invoice_event("i-1", customer="c-9", items=[("9", "p-9")], version=1)
        stale = await ingestor.apply_batch([(late, TOPIC)])
        assert (stale.applied, stale.stale, stale.notices) == (1, 1, 0)

    async def test_an_entity_deleted_and_created_again_is_registered_again(
        self, catalog: CatalogService
    ) -> None:
        ingestor = CatalogIngestor(catalog, SCHEMAS, outbox=True)
        await ingestor.apply_batch([(invoice_event("i-1", items=[]), TOPIC)])
        deleted = invoice_event("i-1", items=[], version=2, event_type=EventType.DELETED)
        assert (await ingestor.apply_batch([(deleted, TOPIC)])).notices == 0
        back = await ingestor.apply_batch([(invoice_event("i-1", items=[], version=3), TOPIC)])
        assert [(r.type, r.id) for r in back.registered] == [("invoice", "i-1")]
        # its relationship was ended by the deletion: a new row, so a new notice
        assert [(r.relationship_type, r.object.id) for r in back.relationships] == [
            ("billed_to", "c-1")
        ]
        notices = await catalog.outbox.pending()
        assert entities(notices) == [("invoice", "i-1"), ("invoice", "i-1")]
        keys = [n.key for n in of_kind(notices, ENTITY_REGISTERED)]
        assert keys == ["default/entity/invoice/i-1"] * 2  # one key: compaction keeps the last

    async def test_payloads_and_keys(self, catalog: CatalogService) -> None:
        ingestor = CatalogIngestor(catalog, SCHEMAS, outbox=True)
        created = invoice_event("i-1", items=[("1", "p-1")], timestamp=1_767_225_600_000)
        await ingestor.apply_batch([(created, TOPIC)])
        notices = {n.key: n for n in await catalog.outbox.pending()}

        invoice = notices["default/entity/invoice/i-1"].payload
        assert invoice["schema"] == "dictamesh:entity_registered"
        assert (invoice["version"], invoice["kind"], invoice["tenant_id"]) == (
            1,
            "instance",
            "default",
        )
        assert (invoice["domain"], invoice["source_system"], invoice["entity_version"]) == (
            "billing",
            "shop",
            1,
        )
        assert invoice["event_id"] == str(created.event_id)
        assert invoice["event_time"] == "2026-01-01T00:00:00+00:00"
        assert invoice["parent"] is None
        assert datetime.fromisoformat(invoice["registered_at"]).tzinfo is not None

        item = notices["default/entity/invoice_item/i-1:1"].payload
        assert item["parent"] == {"type": "invoice", "id": "i-1"}
        assert item["entity_id"] == "i-1:1"

        billed = notices["default/relationship/invoice/i-1/billed_to/customer/c-1"]
        assert billed.kind == RELATIONSHIP_CREATED
        body: dict[str, Any] = billed.payload
        assert body["schema"] == "dictamesh:relationship_created"
        assert body["subject"] == {"type": "invoice", "id": "i-1"}
        assert body["object"] == {"type": "customer", "id": "c-1"}
        assert body["metadata"] == {"relationship": "customer", "via": "customer_id"}
        assert body["event_id"] == str(created.event_id)
        assert body["valid_to"] is None
        assert datetime.fromisoformat(body["valid_from"]) == datetime(2026, 1, 1, tzinfo=UTC)

    async def test_tenants_are_told_apart(self, catalog: CatalogService) -> None:
        ingestor = CatalogIngestor(catalog, SCHEMAS, outbox=True)
        outcome = await ingestor.apply_batch(
            [
                (invoice_event("i-1", items=[], tenant_id="acme"), TOPIC),
                (invoice_event("i-1", items=[], tenant_id="globex"), TOPIC),
            ]
        )
        assert sorted(r.tenant for r in outcome.registered) == ["acme", "globex"]
        notices = await catalog.outbox.pending()  # the relay reads every tenant's
        assert sorted(n.key for n in of_kind(notices, ENTITY_REGISTERED)) == [
            "acme/entity/invoice/i-1",
            "globex/entity/invoice/i-1",
        ]
        assert {n.tenant for n in notices} == {"acme", "globex"}
        assert all(n.payload["tenant_id"] == n.tenant for n in notices)

    async def test_without_the_outbox_the_outcome_still_tells(
        self, catalog: CatalogService
    ) -> None:
        outcome = await CatalogIngestor(catalog, SCHEMAS).apply_batch(
            [(invoice_event("i-1", items=[("1", "p-1")]), TOPIC)]
        )
        assert len(outcome.registered) == 2
        assert len(outcome.relationships) == 3
        assert outcome.notices == 0
        assert await catalog.outbox.pending() == []

    async def test_an_entity_type_is_notified_per_new_schema_version(
        self, catalog: CatalogService
    ) -> None:
        first = await catalog.register_entity_type(CUSTOMER)
        await catalog.register_entity_type(CUSTOMER)  # the same schema: no new version
        evolved = CUSTOMER.model_copy(
            update={"fields": [*CUSTOMER.fields, FieldSpec(name="vip", type=FieldType.BOOLEAN)]}
        )
        second = await catalog.register_entity_type(evolved)
        notices = await catalog.outbox.pending()
        assert [n.key for n in notices] == ["default/type/customer"] * 2
        assert [n.payload["schema_version"] for n in notices] == [first.version, second.version]
        assert [n.payload["schema_id"] for n in notices] == [first.id, second.id]
        assert notices[0].payload["kind"] == "type"
        assert notices[0].payload["domain"] == "customers"

    async def test_one_row_per_transaction_deleted_once_published(
        self, catalog: CatalogService
    ) -> None:
        ingestor = CatalogIngestor(catalog, SCHEMAS, outbox=True)
        await ingestor.apply_batch([(invoice_event("i-1", items=[("1", "p-1")]), TOPIC)])
        await ingestor.apply_batch([(invoice_event("i-2", items=[]), TOPIC)])
        notices = await catalog.outbox.pending()
        assert [n.id for n in notices] == sorted(n.id for n in notices)
        first, second = sorted({n.id for n in notices})
        assert [n.id for n in notices].count(first) == 5  # i-1, its item, three edges
        head = await catalog.outbox.pending(1)  # one row: the first transaction's
        assert head == notices[:5]
        assert await catalog.outbox.delete(n.id for n in head) == 1
        assert await catalog.outbox.pending() == notices[5:]
        assert await catalog.outbox.delete([first]) == 0
        assert await catalog.outbox.count() == 2
        assert {n.id for n in await catalog.outbox.pending()} == {second}

    # --- cache status -----------------------------------------------------------------------

    async def test_fills_hits_and_invalidations_in_one_batch(self, catalog: CatalogService) -> None:
        store = catalog.cache_status
        t0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
        await store.apply(
            [
                CacheFill("default", "customer", "c-1", "memory", t0, t0 + MINUTE, 2),
                CacheFill("default", "customer", "c-1", "redis", t0, t0 + 5 * MINUTE),
                CacheFill("default", "customer", "c-2", "memory", t0, t0 + MINUTE),
            ],
            [
                CacheInvalidation("default", "customer", "c-2", t0 + SECOND),
                # never cached: no row is made for it
                CacheInvalidation("default", "customer", "c-3", t0),
            ],
        )
        layers = await store.get(EntityRef(type="customer", id="c-1"))
        assert [(r.layer, r.hits, r.invalidations) for r in layers] == [
            ("memory", 2, 0),
            ("redis", 0, 0),
        ]
        assert layers[0].cached_at == t0
        assert layers[0].ttl_seconds == 60.0
        assert layers[0].is_fresh(t0 + timedelta(seconds=5))
        gone = (await store.get(EntityRef(type="customer", id="c-2")))[0]
        assert gone.invalidations == 1
        assert gone.invalidated_at == t0 + SECOND
        assert not gone.is_fresh(t0 + timedelta(seconds=5))
        assert await store.get(EntityRef(type="customer", id="c-3")) == []

        # filled again after the invalidation: fresh; counters add up
        later = t0 + timedelta(seconds=2)
        await store.apply(
            [CacheFill("default", "customer", "c-2", "memory", later, later + MINUTE, 1)],
            [CacheInvalidation("default", "customer", "c-1", later, count=3)],
        )
        c2 = (await store.get(EntityRef(type="customer", id="c-2")))[0]
        assert (c2.cached_at, c2.invalidations, c2.hits) == (later, 1, 1)
        assert c2.is_fresh(later + SECOND)
        c1 = await store.get(EntityRef(type="customer", id="c-1"))
        assert [r.invalidations for r in c1] == [3, 3]

        summary = {(s.entity_type, s.layer): s for s in await store.summary(at=later + SECOND)}
        memory = summary[("customer", "memory")]
        assert (memory.entities, memory.fresh, memory.invalidated) == (2, 1, 1)
        assert (memory.invalidations, memory.hits) == (4, 3)
        assert memory.last_cached_at == later
        assert memory.last_invalidated_at == later
        assert summary[("customer", "redis")].entities == 1
        assert await store.summary("invoice") == []

    async def test_rounds_order_fills_and_invalidations(self, catalog: CatalogService) -> None:
        t0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
        t1, t2 = t0 + SECOND, t0 + 2 * SECOND
        await catalog.cache_status.apply(
            [
                CacheFill("default", "customer", "c-1", "memory", t2, t2 + MINUTE, round=1),
                CacheFill("default", "customer", "c-1", "memory", t0, t0 + MINUTE, 1),
            ],
            [CacheInvalidation("default", "customer", "c-1", t1)],
        )
        (record,) = await catalog.cache_status.get(EntityRef(type="customer", id="c-1"))
        # round 0: cached at t0, dropped at t1; round 1: cached again at t2
        assert (record.cached_at, record.invalidated_at, record.invalidations) == (t2, t1, 1)
        assert record.hits == 1
        assert record.is_fresh(t2 + SECOND)

    async def test_cache_status_is_per_tenant(self, catalog: CatalogService) -> None:
        store = catalog.cache_status
        t0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
        await store.apply(
            [
                CacheFill("acme", "customer", "c-1", "memory", t0, t0 + MINUTE),
                CacheFill("globex", "customer", "c-1", "memory", t0, t0 + MINUTE, 5),
            ],
            [CacheInvalidation("acme", "customer", "c-1", t0 + SECOND)],
        )
        ref = EntityRef(type="customer", id="c-1")
        for tenant, hits, invalidations in (("acme", 0, 1), ("globex", 5, 0)):
            token = current_tenant.set(tenant)
            try:
                (record,) = await store.get(ref)
                assert (record.tenant_id, record.hits, record.invalidations) == (
                    tenant,
                    hits,
                    invalidations,
                )
                (summary,) = await store.summary()
                assert summary.hits == hits
            finally:
                current_tenant.reset(token)
        assert await store.get(ref) == []  # the default tenant has none
