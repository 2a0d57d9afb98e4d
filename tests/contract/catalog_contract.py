"""Behaviour every catalog database must show, whatever engine runs it.

Subclass :class:`CatalogContract` in a ``test_*.py`` module and provide a ``catalog`` fixture
yielding a :class:`CatalogService` over a **fresh, migrated, empty** database::

    @pytest.mark.postgres
    class TestPostgresCatalog(CatalogContract):
        @pytest.fixture
        async def catalog(self, postgres_url: str) -> AsyncIterator[CatalogService]:
            # e.g. a throwaway database per test (the dictamesh role has CREATEDB):
            # CREATE DATABASE dm_<random>; open it (migrates); DROP DATABASE … WITH (FORCE)
            async with await CatalogService.open(fresh_database_url) as catalog:
                yield catalog

Every test passed against PostgreSQL 15 that way when this was written.

Tests use only the public service/ingestor API (plus ``clock`` for time travel).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dictamesh.catalog import CatalogIngestor, CatalogService, Compatibility
from dictamesh.catalog.ingest import _Batch
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import (
    EntityNotFound,
    NotFoundError,
    QueryLimitExceeded,
    SchemaCompatibilityError,
    ValidationError,
)
from dictamesh.core.models import (
    Cardinality,
    ChangeEvent,
    DatasetRef,
    Entity,
    EntityRef,
    EntitySchema,
    EntityVersionRef,
    EventType,
    FieldSpec,
    FieldType,
    RelationshipSpec,
    SourceRef,
    TraceContext,
)
from dictamesh.events.serde import JsonEventSerializer

__all__ = [
    "CUSTOMER",
    "INVOICE",
    "INVOICE_ITEM",
    "PRODUCT",
    "SCHEMAS",
    "CatalogContract",
    "invoice_event",
]

CUSTOMER = EntitySchema(
    entity_type="customer",
    domain="customers",
    fields=[
        FieldSpec(name="name", type=FieldType.STRING, required=True),
        FieldSpec(name="email", type=FieldType.STRING),
    ],
)
PRODUCT = EntitySchema(
    entity_type="product",
    domain="catalog",
    fields=[FieldSpec(name="sku", type=FieldType.STRING, required=True)],
)
INVOICE_ITEM = EntitySchema(
    entity_type="invoice_item",
    domain="billing",
    fields=[
        FieldSpec(name="product_id", type=FieldType.STRING, required=True),
        FieldSpec(name="quantity", type=FieldType.INTEGER, required=True),
    ],
    relationships=[RelationshipSpec(name="product", target_type="product", via_field="product_id")],
)
INVOICE = EntitySchema(
    entity_type="invoice",
    domain="billing",
    fields=[
        FieldSpec(name="customer_id", type=FieldType.STRING, required=True),
        FieldSpec(name="total", type=FieldType.NUMBER),
    ],
    relationships=[
        RelationshipSpec(
            name="customer",
            target_type="customer",
            via_field="customer_id",
            inverse="invoices",
            relationship_type="billed_to",
        )
    ],
    nested={"items": INVOICE_ITEM},
)
SCHEMAS = {s.entity_type: s for s in (CUSTOMER, PRODUCT, INVOICE)}

BILLING = SourceRef(domain="billing", system="shop")
CUSTOMERS = SourceRef(domain="customers", system="directus")
TOPIC = "billing.shop.entity_changed"


def ref(entity_type: str, entity_id: str) -> EntityRef:
    return EntityRef(type=entity_type, id=entity_id)


def invoice_event(
    invoice_id: str = "i-1",
    *,
    customer: str = "c-1",
    items: list[tuple[str, str]] | None = None,
    version: int = 1,
    event_type: EventType = EventType.CREATED,
    timestamp: int | None = None,
    tenant_id: str | None = None,
) -> ChangeEvent:
    """An invoice change; ``items`` as ``(item id, product id)``."""
    items = [("1", "p-1"), ("2", "p-2")] if items is None else items
    entity = Entity(
        type="invoice",
        id=invoice_id,
        version=version,
        source=BILLING,
        tenant_id=tenant_id,
        attributes={
            "customer_id": customer,
            "total": 10.5,
            "items": [{"id": i, "product_id": p, "quantity": 1} for i, p in items],
        },
    )
    extra: dict[str, Any] = {} if timestamp is None else {"timestamp": timestamp}
    return ChangeEvent.for_change(event_type, entity, **extra)


def customer_entity(customer_id: str = "c-1", version: int = 1, **attrs: Any) -> Entity:
    return Entity(
        type="customer",
        id=customer_id,
        version=version,
        source=CUSTOMERS,
        attributes={"name": "Ada", **attrs},
    )


def links(graph: Any) -> set[tuple[str, str, str]]:
    return {(str(e.subject), e.relationship_type, str(e.object)) for e in graph.edges}


def depths(graph: Any) -> dict[str, int]:
    return {f"{n.type}:{n.id}": n.depth for n in graph.nodes}


class Clock:
    """A settable clock for ``CatalogService(clock=...)``."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class CatalogContract:
    @pytest.fixture
    def catalog(self) -> CatalogService:
        raise NotImplementedError("provide a `catalog` fixture")

    @pytest.fixture
    def ingestor(self, catalog: CatalogService) -> CatalogIngestor:
        return CatalogIngestor(catalog, SCHEMAS)

    @pytest.fixture
    def clocked(self, catalog: CatalogService) -> tuple[CatalogService, Clock]:
        clock = Clock()
        return CatalogService(catalog.engine, clock=clock), clock

    async def relate(self, catalog: CatalogService, *edges: str, rel: str = "links") -> None:
        """``"a>b"`` edges between ``node`` entities."""
        for edge in edges:
            a, b = edge.split(">")
            await catalog.record_relationship(ref("node", a), rel, ref("node", b))

    # --- lifecycle ---------------------------------------------------------------------------

    async def test_ping_and_empty_stats(self, catalog: CatalogService) -> None:
        assert await catalog.ping() is True
        stats = await catalog.stats()
        assert set(stats) >= {"entities", "relationships", "schemas", "events", "lineage"}
        assert all(v == 0 for v in stats.values())

    # --- registry ----------------------------------------------------------------------------

    async def test_register_and_locate_entity(self, catalog: CatalogService) -> None:
        location = await catalog.register_entity(customer_entity(email="a@b.io"), event_id="e-1")
        assert location.domain == "customers"
        assert location.source_system == "directus"
        assert location.api_path == "/api/v1/entities/customer/c-1"
        assert location.attributes == {"name": "Ada", "email": "a@b.io"}
        assert location.status == "active"
        assert location.last_event_id == "e-1"
        assert location.created_at.tzinfo is not None
        assert await catalog.get_entity_location("customer", "c-1") == location

    async def test_register_entity_is_an_upsert_that_never_goes_back(
        self, catalog: CatalogService
    ) -> None:
        await catalog.register_entity(customer_entity(version=1))
        newer = await catalog.register_entity(
            customer_entity(version=3, email="new@b.io"), api_base_path="/custom", schema_version=2
        )
        assert (newer.version, newer.attributes["email"]) == (3, "new@b.io")
        assert newer.api_path == "/custom/c-1"
        assert newer.schema_version == 2
        older = await catalog.register_entity(customer_entity(version=2, email="old@b.io"))
        assert older.version == 3
        assert older.attributes["email"] == "new@b.io"
        assert await catalog.count_entities("customer") == 1

    async def test_unknown_entity_is_not_found(self, catalog: CatalogService) -> None:
        with pytest.raises(EntityNotFound) as info:
            await catalog.get_entity_location("customer", "nope")
        assert info.value.http_status == 404

    async def test_mark_deleted_keeps_row_and_ends_outgoing_relationships(
        self, catalog: CatalogService
    ) -> None:
        await catalog.register_entity(customer_entity())
        await catalog.record_relationship(ref("customer", "c-1"), "prefers", ref("product", "p"))
        await catalog.record_relationship(ref("invoice", "i"), "billed_to", ref("customer", "c-1"))
        await catalog.mark_entity_deleted(ref("customer", "c-1"), event_id="e-9")
        location = await catalog.get_entity_location("customer", "c-1")
        assert (location.status, location.last_event_id) == ("deleted", "e-9")
        assert await catalog.count_entities() == 0
        assert await catalog.count_entities(include_deleted=True) == 1
        assert await catalog.list_relationships(ref("customer", "c-1")) == []
        incoming = await catalog.list_relationships(ref("customer", "c-1"), direction="in")
        assert [r.relationship_type for r in incoming] == ["billed_to"]
        with pytest.raises(EntityNotFound):
            await catalog.mark_entity_deleted(ref("customer", "ghost"))

    async def test_list_entities_pages_with_a_cursor(self, catalog: CatalogService) -> None:
        for i in range(5):
            await catalog.register_entity(customer_entity(f"c-{i}"))
        await catalog.register_entity(
            Entity(type="product", id="p-1", source=SourceRef(domain="catalog", system="rest"))
        )
        seen: list[str] = []
        cursor = None
        while True:
            page, cursor = await catalog.list_entities(limit=2, cursor=cursor)
            seen += [f"{loc.entity_type}:{loc.entity_id}" for loc in page]
            if cursor is None:
                break
        assert seen == [f"customer:c-{i}" for i in range(5)] + ["product:p-1"]
        only, nxt = await catalog.list_entities("product")
        assert [loc.entity_id for loc in only] == ["p-1"]
        assert nxt is None
        await catalog.mark_entity_deleted(ref("product", "p-1"))
        assert (await catalog.list_entities("product"))[0] == []
        deleted, _ = await catalog.list_entities("product", include_deleted=True)
        assert [loc.status for loc in deleted] == ["deleted"]

    async def test_list_entities_rejects_bad_input(self, catalog: CatalogService) -> None:
        with pytest.raises(ValidationError):
            await catalog.list_entities(cursor="not-a-cursor!!")
        with pytest.raises(QueryLimitExceeded):
            await catalog.list_entities(limit=501)
        with pytest.raises(ValidationError):
            await catalog.list_entities(limit=0)

    # --- relationships -----------------------------------------------------------------------

    async def test_record_relationship_is_idempotent_and_keeps_history(
        self, catalog: CatalogService
    ) -> None:
        a, b = ref("invoice", "i-1"), ref("customer", "c-1")
        assert await catalog.record_relationship(a, "billed_to", b, metadata={"k": 1}) is True
        assert await catalog.record_relationship(a, "billed_to", b) is False
        await catalog.end_relationship(a, "billed_to", b)
        await catalog.end_relationship(a, "billed_to", b)  # not current: a no-op
        assert await catalog.list_relationships(a) == []
        assert await catalog.record_relationship(a, "billed_to", b) is True
        history = await catalog.list_relationships(a, include_history=True)
        assert [(r.metadata, r.valid_to is None) for r in history] == [
            ({"k": 1}, False),
            ({}, True),
        ]
        assert history[0].subject == a
        assert history[0].object == b

    async def test_relationship_type_is_validated(self, catalog: CatalogService) -> None:
        with pytest.raises(ValidationError):
            await catalog.record_relationship(ref("a", "1"), "Bad Type", ref("b", "2"))

    # --- graph -------------------------------------------------------------------------------

    async def test_graph_terminates_on_cycles(self, catalog: CatalogService) -> None:
        await self.relate(catalog, "a>b", "b>c", "c>a")
        for direction in ("out", "in", "both"):
            graph = await catalog.query_relationship_graph(
                ref("node", "a"), max_depth=10, direction=direction
            )
            assert len(graph.nodes) == 3
            assert links(graph) == {
                ("node:a", "links", "node:b"),
                ("node:b", "links", "node:c"),
                ("node:c", "links", "node:a"),
            }
            assert not graph.truncated

    async def test_graph_depth_direction_and_minimum_depth(self, catalog: CatalogService) -> None:
        # a→b→c→d, plus a shortcut a→d and an incoming x→a
        await self.relate(catalog, "a>b", "b>c", "c>d", "a>d", "x>a")
        out1 = await catalog.query_relationship_graph(
            ref("node", "a"), max_depth=1, direction="out"
        )
        assert depths(out1) == {"node:a": 0, "node:b": 1, "node:d": 1}
        out3 = await catalog.query_relationship_graph(
            ref("node", "a"), max_depth=3, direction="out"
        )
        assert depths(out3) == {"node:a": 0, "node:b": 1, "node:d": 1, "node:c": 2}
        assert [n.depth for n in out3.nodes] == sorted(n.depth for n in out3.nodes)
        into = await catalog.query_relationship_graph(ref("node", "a"), direction="in")
        assert depths(into) == {"node:a": 0, "node:x": 1}
        both = await catalog.query_relationship_graph(ref("node", "d"), max_depth=2)
        assert depths(both) == {"node:d": 0, "node:a": 1, "node:c": 1, "node:b": 2, "node:x": 2}
        assert both.max_depth == 2
        assert both.root == ref("node", "d")
        # edges among the nodes, whichever way they point
        assert ("node:x", "links", "node:a") in links(both)

    async def test_graph_direction_aliases_and_validation(self, catalog: CatalogService) -> None:
        await self.relate(catalog, "a>b")
        outgoing = await catalog.query_relationship_graph(ref("node", "a"), direction="outgoing")
        assert outgoing.direction == "out"
        assert len(outgoing.nodes) == 2
        incoming = await catalog.query_relationship_graph(ref("node", "a"), direction="incoming")
        assert len(incoming.nodes) == 1
        for bad in ({"max_depth": 0}, {"max_depth": 11}, {"direction": "sideways"}):
            with pytest.raises(ValidationError):
                await catalog.query_relationship_graph(ref("node", "a"), **bad)
        with pytest.raises(QueryLimitExceeded):
            await catalog.query_relationship_graph(ref("node", "a"), limit=10_001)

    async def test_graph_root_must_be_known(self, catalog: CatalogService) -> None:
        with pytest.raises(EntityNotFound):
            await catalog.query_relationship_graph(ref("node", "ghost"))
        await catalog.register_entity(customer_entity())
        lonely = await catalog.query_relationship_graph(ref("customer", "c-1"))
        assert depths(lonely) == {"customer:c-1": 0}
        assert lonely.edges == []
        await self.relate(catalog, "r>s")
        related_only = await catalog.query_relationship_graph(ref("node", "s"))  # not registered
        assert depths(related_only) == {"node:s": 0, "node:r": 1}

    async def test_graph_limit_truncates_nearest_first(self, catalog: CatalogService) -> None:
        await self.relate(catalog, *[f"hub>leaf{i}" for i in range(8)], "leaf0>far")
        graph = await catalog.query_relationship_graph(ref("node", "hub"), limit=5)
        assert graph.truncated
        assert len(graph.nodes) == 5
        assert graph.nodes[0] == graph.nodes[0].model_copy(update={"id": "hub", "depth": 0})
        assert all(n.depth <= 1 for n in graph.nodes)
        kept = {f"{n.type}:{n.id}" for n in graph.nodes}
        assert all(s in kept and o in kept for s, _, o in links(graph))
        full = await catalog.query_relationship_graph(ref("node", "hub"), limit=10)
        assert not full.truncated
        assert len(full.nodes) == 10

    async def test_graph_ignores_ended_relationships(self, catalog: CatalogService) -> None:
        await self.relate(catalog, "a>b", "b>c")
        await catalog.end_relationship(ref("node", "b"), "links", ref("node", "c"))
        graph = await catalog.query_relationship_graph(ref("node", "a"))
        assert depths(graph) == {"node:a": 0, "node:b": 1}

    async def test_graph_ids_are_exact_not_patterns(self, catalog: CatalogService) -> None:
        # Neither case nor LIKE wildcards ('_') may make a new node look already visited.
        await self.relate(catalog, "A>aXb", "aXb>a_b", "a_b>a")
        graph = await catalog.query_relationship_graph(ref("node", "A"), max_depth=5)
        assert depths(graph) == {"node:A": 0, "node:aXb": 1, "node:a_b": 2, "node:a": 3}

    async def test_three_level_traversal_customer_invoice_item_product(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        await ingestor.handle(invoice_event(), TOPIC)
        graph = await catalog.query_relationship_graph(ref("customer", "c-1"), max_depth=3)
        assert depths(graph) == {
            "customer:c-1": 0,
            "invoice:i-1": 1,
            "invoice_item:i-1:1": 2,
            "invoice_item:i-1:2": 2,
            "product:p-1": 3,
            "product:p-2": 3,
        }
        assert ("invoice_item:i-1:1", "references", "product:p-1") in links(graph)
        shallow = await catalog.query_relationship_graph(ref("customer", "c-1"), max_depth=2)
        assert {n.type for n in shallow.nodes} == {"customer", "invoice", "invoice_item"}

    # --- lineage -----------------------------------------------------------------------------

    async def test_track_lineage_counts_occurrences(self, catalog: CatalogService) -> None:
        await catalog.register_entity(customer_entity())
        src = DatasetRef(namespace="directus", name="customers")
        product = DatasetRef(namespace="dictamesh", name="customers.customer")
        report = DatasetRef(namespace="warehouse", name="customer_report")
        for _ in range(3):
            await catalog.track_lineage(src, product, "adapter:customers.directus", event_id="e")
        await catalog.track_lineage(product, report, "etl:nightly")
        await catalog.track_lineage(
            product, report, "etl:nightly", upstream_entity=ref("customer", "c-1")
        )
        view = await catalog.get_lineage("customer")
        assert view.dataset == product
        assert [(r.upstream, r.occurrences, r.last_event_id) for r in view.upstream] == [
            (src, 3, "e")
        ]
        assert [(r.downstream, r.upstream_entity) for r in view.downstream] == [(report, None)]
        entity_view = await catalog.get_lineage("customer", "c-1")
        assert [r.upstream_entity for r in entity_view.downstream] == [
            None,
            ref("customer", "c-1"),
        ]
        with pytest.raises(ValidationError):
            await catalog.track_lineage(src, product, "")

    async def test_lineage_of_an_unknown_type_is_empty(self, catalog: CatalogService) -> None:
        view = await catalog.get_lineage("nothing")
        assert (view.dataset, view.upstream, view.downstream) == (None, [], [])

    # --- schemas -----------------------------------------------------------------------------

    async def test_register_schema_versions_and_reads(self, catalog: CatalogService) -> None:
        v1 = await catalog.register_schema(INVOICE)
        assert (v1.subject, v1.version, v1.compatibility) == ("invoice", 1, Compatibility.BACKWARD)
        again = await catalog.register_schema(INVOICE.model_copy(update={"version": 7}))
        assert again == v1  # same content: same version, no new row
        assert (await catalog.stats())["schemas"] == 1
        extra = FieldSpec(name="currency", type=FieldType.STRING)
        v2 = await catalog.register_schema(
            INVOICE.model_copy(update={"fields": [*INVOICE.fields, extra]})
        )
        assert v2.version == 2
        assert v2.id != v1.id
        assert await catalog.list_schema_versions("invoice") == [1, 2]
        latest = await catalog.get_schema("invoice")
        assert latest.version == 2
        assert latest.field("currency") is not None
        first = await catalog.get_schema("invoice", 1)
        assert first == INVOICE
        assert first.nested["items"].relationships[0].target_type == "product"
        with pytest.raises(NotFoundError):
            await catalog.get_schema("invoice", 9)
        with pytest.raises(NotFoundError):
            await catalog.get_schema("unknown")
        assert await catalog.list_schema_versions("unknown") == []

    async def test_incompatible_schema_is_refused_with_reasons(
        self, catalog: CatalogService
    ) -> None:
        await catalog.register_schema(INVOICE)
        required = FieldSpec(name="currency", type=FieldType.STRING, required=True)
        breaking = INVOICE.model_copy(update={"fields": [*INVOICE.fields, required]})
        with pytest.raises(SchemaCompatibilityError) as info:
            await catalog.register_schema(breaking)
        assert info.value.http_status == 409
        reasons = info.value.details["reasons"]
        assert any("currency" in r and "version 1" in r for r in reasons)
        assert await catalog.list_schema_versions("invoice") == [1]
        forced = await catalog.register_schema(breaking, compatibility=Compatibility.NONE)
        assert (forced.version, forced.compatibility) == (2, Compatibility.NONE)

    async def test_declared_schema_version_is_kept_when_free(self, catalog: CatalogService) -> None:
        v5 = await catalog.register_schema(CUSTOMER.model_copy(update={"version": 5}))
        assert v5.version == 5
        changed = CUSTOMER.model_copy(update={"version": 2, "description": "people"})
        assert (await catalog.register_schema(changed)).version == 6
        assert (await catalog.get_schema("customer")).version == 6

    async def test_subject_and_global_compatibility(self, catalog: CatalogService) -> None:
        assert await catalog.get_compatibility() is Compatibility.BACKWARD
        await catalog.set_compatibility(Compatibility.FULL)
        await catalog.set_compatibility(Compatibility.NONE, "customer")
        assert await catalog.get_compatibility("invoice") is Compatibility.FULL
        assert await catalog.get_compatibility("customer") is Compatibility.NONE
        assert (await catalog.register_schema(INVOICE)).compatibility is Compatibility.FULL
        # FULL refuses deleting a required field (old readers need it)
        with pytest.raises(SchemaCompatibilityError):
            await catalog.register_schema(INVOICE.model_copy(update={"fields": INVOICE.fields[1:]}))
        await catalog.register_schema(CUSTOMER)
        loose = CUSTOMER.model_copy(update={"fields": CUSTOMER.fields[1:]})
        assert (await catalog.register_schema(loose)).version == 2

    async def test_register_schema_text_shares_global_ids(self, catalog: CatalogService) -> None:
        calls: list[tuple[list[str], str, Compatibility]] = []

        def check(previous: Any, new: str, level: Compatibility) -> list[str]:
            calls.append((list(previous), new, level))
            return ["nope"] if "bad" in new else []

        a1 = await catalog.register_schema_text("a-value", "AVRO", '{"type": "string"}', check)
        b1 = await catalog.register_schema_text("b-value", "AVRO", '{ "type":"string" }', check)
        assert (a1.version, b1.version) == (1, 1)
        assert a1.id == b1.id  # same canonical text and type: one global id
        assert calls == []  # nothing to check against yet
        a2 = await catalog.register_schema_text("a-value", "AVRO", '{"type": "long"}', check)
        assert a2.version == 2
        assert a2.id != a1.id
        assert calls == [(['{"type":"string"}'], '{"type":"long"}', Compatibility.BACKWARD)]
        with pytest.raises(SchemaCompatibilityError):
            await catalog.register_schema_text("a-value", "AVRO", '{"type": "bad"}', check)
        await catalog.set_compatibility(Compatibility.BACKWARD_TRANSITIVE, "a-value")
        await catalog.register_schema_text("a-value", "AVRO", '{"type": "int"}', check)
        assert len(calls[-1][0]) == 2  # transitive: every earlier version
        stored = await catalog.get_schema_by_id(a1.id)
        assert (stored.subject, stored.schema_text) == ("a-value", '{"type":"string"}')
        assert (await catalog.get_schema_text("a-value")).version == 3
        assert await catalog.list_subjects() == ["a-value", "b-value"]
        await catalog.delete_schema_version("a-value", 3)
        assert await catalog.list_schema_versions("a-value") == [1, 2]
        again = await catalog.register_schema_text("a-value", "AVRO", '{"type": "int"}')
        assert again.version == 4  # numbers of deleted versions are not reused
        with pytest.raises(NotFoundError):
            await catalog.delete_schema_version("a-value", 3)
        with pytest.raises(NotFoundError):
            await catalog.get_schema_by_id(999)
        with pytest.raises(ValidationError):
            await catalog.register_schema_text("x", "XML", "<a/>")
        with pytest.raises(ValidationError):
            await catalog.register_schema_text("", "AVRO", "{}")

    # --- event log ---------------------------------------------------------------------------

    async def test_record_event_once_and_read_newest_first(self, catalog: CatalogService) -> None:
        first = invoice_event(timestamp=1_000)
        first = first.model_copy(update={"trace_context": TraceContext(trace_id="t1", span_id="s")})
        second = invoice_event(version=2, event_type=EventType.UPDATED, timestamp=2_000)
        other = invoice_event("i-2", timestamp=1_500)
        assert await catalog.record_event(first, TOPIC) is True
        assert await catalog.record_event(first, TOPIC) is False
        assert await catalog.record_event(second, TOPIC) is True
        assert await catalog.record_event(other, TOPIC) is True
        log = await catalog.get_event_log(entity_type="invoice", entity_id="i-1")
        assert [e.timestamp for e in log] == [2_000, 1_000]
        oldest = log[-1]
        assert (oldest.event_id, oldest.trace_id, oldest.topic) == (
            str(first.event_id),
            "t1",
            TOPIC,
        )
        assert ChangeEvent.model_validate(oldest.payload) == first
        assert oldest.recorded_at.tzinfo is not None
        assert [e.timestamp for e in await catalog.get_event_log()] == [2_000, 1_500, 1_000]
        assert len(await catalog.get_event_log(limit=1)) == 1
        assert [e.timestamp for e in await catalog.get_event_log(since_ms=1_500)] == [2_000, 1_500]
        with pytest.raises(QueryLimitExceeded):
            await catalog.get_event_log(limit=1001)

    async def test_prune_event_log(self, clocked: tuple[CatalogService, Clock]) -> None:
        catalog, clock = clocked
        await catalog.record_event(invoice_event("i-old"), TOPIC)
        clock.now += timedelta(days=10)
        await catalog.record_event(invoice_event("i-new"), TOPIC)
        assert await catalog.prune_event_log(timedelta(days=5)) == 1
        assert [e.entity_id for e in await catalog.get_event_log()] == ["i-new"]
        assert await catalog.prune_event_log(clock.now + timedelta(seconds=1)) == 1

    # --- cache status ------------------------------------------------------------------------

    async def test_cache_status_lifecycle(self, clocked: tuple[CatalogService, Clock]) -> None:
        catalog, clock = clocked
        c1 = ref("customer", "c-1")
        cached, expires = clock.now, clock.now + timedelta(minutes=5)
        await catalog.set_cache_status(c1, "l1", cached_at=cached, expires_at=expires)
        await catalog.set_cache_status(c1, "l2", cached_at=cached, expires_at=None, event_id="e1")
        status = await catalog.get_cache_status(c1)
        assert [(s.layer, s.expires_at, s.last_event_id) for s in status] == [
            ("l1", expires, None),
            ("l2", None, "e1"),
        ]
        assert all(s.is_fresh(clock.now) for s in status)
        assert not status[0].is_fresh(clock.now + timedelta(minutes=6))
        clock.now += timedelta(seconds=1)
        assert await catalog.mark_cache_invalidated(c1, event_id="e2") == 2
        status = await catalog.get_cache_status(c1)
        assert all(not s.is_fresh(clock.now) and s.last_event_id == "e2" for s in status)
        await catalog.set_cache_status(c1, "l1", cached_at=clock.now, expires_at=None)
        refreshed = (await catalog.get_cache_status(c1))[0]
        assert refreshed.invalidated_at is None
        assert refreshed.is_fresh(clock.now)
        assert await catalog.get_cache_status(ref("customer", "none")) == []
        with pytest.raises(ValidationError):
            await catalog.set_cache_status(c1, "", cached_at=cached, expires_at=None)

    # --- tenancy -----------------------------------------------------------------------------

    async def test_rows_are_scoped_to_the_tenant(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        await ingestor.handle(invoice_event(tenant_id="acme"), TOPIC)
        assert await catalog.count_entities() == 0
        with pytest.raises(EntityNotFound):
            await catalog.get_entity_location("invoice", "i-1")
        token = current_tenant.set("acme")
        try:
            location = await catalog.get_entity_location("invoice", "i-1")
            assert location.tenant_id == "acme"
            graph = await catalog.query_relationship_graph(ref("invoice", "i-1"))
            assert len(graph.nodes) == 6
            assert len(await catalog.get_event_log()) == 1
        finally:
            current_tenant.reset(token)

    # --- ingest ------------------------------------------------------------------------------

    async def test_ingest_is_idempotent(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        event = invoice_event()
        assert await ingestor.handle(event, TOPIC) is True
        before = await catalog.get_entity_location("invoice", "i-1")
        stats = await catalog.stats()
        assert await ingestor.handle(event, TOPIC) is False
        assert await ingestor.handle_batch([(event, TOPIC), (event, TOPIC)]) == 0
        assert await catalog.get_entity_location("invoice", "i-1") == before
        assert await catalog.stats() == stats
        assert len(await catalog.get_event_log()) == 1
        assert ingestor.stats.duplicates == 3
        assert ingestor.stats.events == 1

    async def test_ingest_registers_entity_children_and_relationships(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        event = invoice_event()
        await ingestor.handle(event, TOPIC)
        invoice = await catalog.get_entity_location("invoice", "i-1")
        assert (invoice.domain, invoice.source_system, invoice.version) == ("billing", "shop", 1)
        assert invoice.last_event_id == str(event.event_id)
        assert invoice.attributes["customer_id"] == "c-1"
        item = await catalog.get_entity_location("invoice_item", "i-1:1")
        assert (item.source_entity_id, item.attributes["product_id"]) == ("1", "p-1")
        out = await catalog.list_relationships(ref("invoice", "i-1"))
        assert {(r.relationship_type, str(r.object)) for r in out} == {
            ("billed_to", "customer:c-1"),
            ("has_item", "invoice_item:i-1:1"),
            ("has_item", "invoice_item:i-1:2"),
        }
        billed = next(r for r in out if r.relationship_type == "billed_to")
        assert billed.created_by_event_id == str(event.event_id)
        assert billed.valid_from == datetime.fromtimestamp(event.timestamp / 1000, UTC)
        item_rels = await catalog.list_relationships(ref("invoice_item", "i-1:2"))
        assert [(r.relationship_type, str(r.object)) for r in item_rels] == [
            ("references", "product:p-2")
        ]

    async def test_ingest_repoints_and_removes_items(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        await ingestor.handle(invoice_event(), TOPIC)
        moved = invoice_event(
            customer="c-2", items=[("1", "p-9")], version=2, event_type=EventType.UPDATED
        )
        await ingestor.handle(moved, TOPIC)
        out = await catalog.list_relationships(ref("invoice", "i-1"))
        assert {(r.relationship_type, str(r.object)) for r in out} == {
            ("billed_to", "customer:c-2"),
            ("has_item", "invoice_item:i-1:1"),
        }
        history = await catalog.list_relationships(ref("invoice", "i-1"), include_history=True)
        ended = {str(r.object) for r in history if r.valid_to is not None}
        assert ended == {"customer:c-1", "invoice_item:i-1:2"}
        item1 = await catalog.list_relationships(ref("invoice_item", "i-1:1"))
        assert [str(r.object) for r in item1] == ["product:p-9"]
        removed = await catalog.get_entity_location("invoice_item", "i-1:2")
        assert removed.status == "deleted"
        assert await catalog.list_relationships(ref("invoice_item", "i-1:2")) == []
        with pytest.raises(EntityNotFound):  # unregistered and no longer related
            await catalog.query_relationship_graph(ref("customer", "c-1"), max_depth=3)
        c2 = await catalog.query_relationship_graph(ref("customer", "c-2"), max_depth=3)
        assert set(depths(c2)) == {
            "customer:c-2",
            "invoice:i-1",
            "invoice_item:i-1:1",
            "product:p-9",
        }

    async def test_ingest_leaves_relationships_it_does_not_manage(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        await ingestor.handle(invoice_event(), TOPIC)
        manual = ref("invoice", "i-1"), "audited_by", ref("auditor", "a-1")
        await catalog.record_relationship(*manual)
        await ingestor.handle(
            invoice_event(customer="c-2", version=2, event_type=EventType.UPDATED), TOPIC
        )
        current = {
            r.relationship_type for r in await catalog.list_relationships(ref("invoice", "i-1"))
        }
        assert current == {"billed_to", "has_item", "audited_by"}
        await ingestor.handle(invoice_event(version=3, event_type=EventType.DELETED), TOPIC)
        assert await catalog.list_relationships(ref("invoice", "i-1")) == []  # deleted: all end

    async def test_ingest_deleted_event(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        await ingestor.handle(invoice_event(), TOPIC)
        await ingestor.handle(invoice_event("i-2", customer="c-1"), TOPIC)
        gone = invoice_event(version=2, event_type=EventType.DELETED)
        await ingestor.handle(gone, TOPIC)
        invoice = await catalog.get_entity_location("invoice", "i-1")
        assert (invoice.status, invoice.version) == ("deleted", 2)
        assert invoice.attributes["customer_id"] == "c-1"  # last snapshot kept
        assert await catalog.list_relationships(ref("invoice", "i-1")) == []
        for item in ("i-1:1", "i-1:2"):
            assert (await catalog.get_entity_location("invoice_item", item)).status == "deleted"
            assert await catalog.list_relationships(ref("invoice_item", item)) == []
        graph = await catalog.query_relationship_graph(ref("customer", "c-1"), max_depth=1)
        assert depths(graph) == {"customer:c-1": 0, "invoice:i-2": 1}
        recreated = invoice_event(items=[], version=3)
        await ingestor.handle(recreated, TOPIC)
        assert (await catalog.get_entity_location("invoice", "i-1")).status == "active"

    async def test_deleted_event_for_an_unknown_entity(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        event = ChangeEvent(
            event_type=EventType.DELETED,
            entity=EntityVersionRef(type="invoice", id="i-x", version=4),
            source=BILLING,
            before={"customer_id": "c-1"},
        )
        assert await ingestor.handle(event, TOPIC)
        location = await catalog.get_entity_location("invoice", "i-x")
        assert (location.status, location.attributes) == ("deleted", {"customer_id": "c-1"})

    async def test_out_of_order_events_are_logged_but_not_applied(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        newer = invoice_event(customer="c-2", version=2, event_type=EventType.UPDATED)
        older = invoice_event(customer="c-1", version=1)
        assert await ingestor.handle(newer, TOPIC)
        assert await ingestor.handle(older, TOPIC)
        location = await catalog.get_entity_location("invoice", "i-1")
        assert (location.version, location.attributes["customer_id"]) == (2, "c-2")
        billed = await catalog.list_relationships(ref("invoice", "i-1"), include_history=True)
        assert {str(r.object) for r in billed if r.relationship_type == "billed_to"} == {
            "customer:c-2"
        }
        assert len(await catalog.get_event_log(entity_id="i-1")) == 2
        assert ingestor.stats.stale == 1

    async def test_batch_keeps_intermediate_history(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        events = [
            invoice_event(customer=f"c-{v}", version=v, event_type=EventType.UPDATED)
            for v in (1, 2, 3)
        ]
        assert await ingestor.handle_batch([(e, TOPIC) for e in events]) == 3
        history = await catalog.list_relationships(ref("invoice", "i-1"), include_history=True)
        billed = [
            (str(r.object), r.valid_to is None)
            for r in history
            if r.relationship_type == "billed_to"
        ]
        assert billed == [("customer:c-1", False), ("customer:c-2", False), ("customer:c-3", True)]
        assert (await catalog.get_entity_location("invoice", "i-1")).version == 3

    async def test_batch_reopens_an_edge_it_ended(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        # The stored edge is ended and an equal one opened in one batch: ending must reach
        # the database before the insert, or the current-edge index would refuse it.
        await ingestor.handle(invoice_event(customer="c-1"), TOPIC)
        events = [
            invoice_event(customer=f"c-{n}", version=v, event_type=EventType.UPDATED)
            for v, n in ((2, 2), (3, 1))
        ]
        assert await ingestor.handle_batch([(e, TOPIC) for e in events]) == 2
        history = await catalog.list_relationships(ref("invoice", "i-1"), include_history=True)
        billed = [
            (str(r.object), r.valid_to is None)
            for r in history
            if r.relationship_type == "billed_to"
        ]
        assert billed == [("customer:c-1", False), ("customer:c-2", False), ("customer:c-1", True)]

    async def test_batch_skips_stale_versions_in_order(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        await ingestor.handle(invoice_event(customer="c-1", version=2), TOPIC)
        events = [
            invoice_event(customer=f"c-{v}", version=v, event_type=EventType.UPDATED)
            for v in (1, 3, 2, 4)
        ]
        assert await ingestor.handle_batch([(e, TOPIC) for e in events]) == 4
        assert ingestor.stats.stale == 2  # v1 < v2 stored, v2 < v3 applied earlier
        location = await catalog.get_entity_location("invoice", "i-1")
        assert (location.version, location.attributes["customer_id"]) == (4, "c-4")
        assert location.last_event_id == str(events[-1].event_id)
        history = await catalog.list_relationships(ref("invoice", "i-1"), include_history=True)
        assert [str(r.object) for r in history if r.relationship_type == "billed_to"] == [
            "customer:c-1",
            "customer:c-3",
            "customer:c-4",
        ]
        assert len(await catalog.get_event_log(entity_id="i-1")) == 5

    async def test_batch_mixes_new_and_known_events(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        known = invoice_event("i-1")
        await ingestor.handle(known, TOPIC)
        fresh = [invoice_event(f"i-{n}", customer=f"c-{n % 3}") for n in range(2, 300)]
        batch = [(known, TOPIC), *[(e, TOPIC) for e in fresh], (fresh[0], TOPIC)]
        assert await ingestor.handle_batch(batch) == len(fresh)
        assert await catalog.count_entities("invoice") == 299
        assert await catalog.count_entities("invoice_item") == 2 * 299
        stats = await catalog.stats()
        assert stats["events"] == 299
        assert stats["relationships"] == 299 * 5
        lineage = await catalog.get_lineage("invoice")
        assert lineage.upstream[0].occurrences == 299
        assert lineage.upstream[0].upstream == DatasetRef(namespace="shop", name="invoice")
        assert lineage.upstream[0].transformation == "adapter:billing.shop"

    async def test_batch_is_all_or_nothing(
        self,
        catalog: CatalogService,
        ingestor: CatalogIngestor,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        original: Callable[[_Batch], Any] = _Batch.flush

        async def flush_then_crash(self: _Batch) -> None:
            await original(self)
            raise RuntimeError("crash after writing")

        monkeypatch.setattr(_Batch, "flush", flush_then_crash)
        events = [(invoice_event(f"i-{n}"), TOPIC) for n in range(3)]
        with pytest.raises(RuntimeError):
            await ingestor.handle_batch(events)
        monkeypatch.undo()
        assert all(v == 0 for v in (await catalog.stats()).values())
        assert await ingestor.handle_batch(events) == 3  # redelivery applies it all

    async def test_batch_applies_delete_and_metadata_only_after_create(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        # Created, deleted and touched (no after) in one batch: one final row, the snapshot
        # of the creation kept through both; the log has all three.
        created = invoice_event(customer="c-7")
        deleted = invoice_event(version=2, event_type=EventType.DELETED)
        touched = ChangeEvent(
            event_type=EventType.UPDATED,
            entity=EntityVersionRef(type="invoice", id="i-1", version=3),
            source=BILLING,
        )
        batch = [(created, TOPIC), (deleted, TOPIC), (touched, TOPIC)]
        assert await ingestor.handle_batch(batch) == 3
        location = await catalog.get_entity_location("invoice", "i-1")
        assert (location.version, location.status) == (3, "active")
        assert location.attributes["customer_id"] == "c-7"
        assert location.last_event_id == str(touched.event_id)
        assert len(await catalog.get_event_log(entity_id="i-1")) == 3

        gone = invoice_event(version=4, event_type=EventType.DELETED)
        stale = invoice_event(customer="c-8", version=1, event_type=EventType.UPDATED)
        assert await ingestor.handle_batch([(gone, TOPIC), (stale, TOPIC)]) == 2
        location = await catalog.get_entity_location("invoice", "i-1")
        assert (location.version, location.status) == (4, "deleted")
        assert location.attributes["customer_id"] == "c-7"

    async def test_batch_keeps_tenants_apart_with_equal_ids(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        # The same event id and entity in two tenants, interleaved in one batch: two events.
        acme = invoice_event(customer="c-acme", tenant_id="acme")
        globex = acme.model_copy(
            update={"tenant_id": "globex", "after": {**(acme.after or {}), "customer_id": "c-g"}}
        )
        newer = invoice_event(customer="c-acme-2", version=2, tenant_id="acme")
        batch = [(acme, TOPIC), (globex, TOPIC), (newer, TOPIC), (globex, TOPIC)]
        assert await ingestor.handle_batch(batch) == 3
        assert await ingestor.handle_batch(batch) == 0
        for tenant, customer, version in (("acme", "c-acme-2", 2), ("globex", "c-g", 1)):
            token = current_tenant.set(tenant)
            try:
                location = await catalog.get_entity_location("invoice", "i-1")
                assert (location.attributes["customer_id"], location.version) == (
                    customer,
                    version,
                )
                logged = await catalog.get_event_log()
                assert {e.event_id for e in logged} >= {str(acme.event_id)}
            finally:
                current_tenant.reset(token)

    async def test_batch_stores_received_payloads(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        serde = JsonEventSerializer()
        sent = [invoice_event(f"i-{n}") for n in range(3)]
        values = [serde.encode(e)[0] for e in sent]
        received = [serde.decode(v) for v in values]
        # one without id and timestamp: their defaults differ per decode, so it is re-encoded
        bare = invoice_event("i-9").model_dump(mode="json", exclude={"event_id", "timestamp"})
        raw_bare = json.dumps(bare).encode()
        decoded_bare = ChangeEvent.model_validate_json(raw_bare)
        events = [(e, TOPIC) for e in [*received, decoded_bare]]
        assert await ingestor.handle_batch(events, payloads=[*values, raw_bare]) == 4
        logged = {e.event_id: e.payload for e in await catalog.get_event_log()}
        for value, event in zip(values, received, strict=True):
            assert logged[str(event.event_id)] == json.loads(value)
        stored_bare = logged[str(decoded_bare.event_id)]
        assert stored_bare["event_id"] == str(decoded_bare.event_id)
        assert stored_bare["timestamp"] == decoded_bare.timestamp
        # the snapshot comes from the event all the same
        location = await catalog.get_entity_location("invoice", "i-1")
        assert location.attributes == received[1].after
        with pytest.raises(ValueError, match="parallel"):
            await ingestor.handle_batch(events, payloads=values)

    async def test_ingest_lineage_of_nested_items(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        await ingestor.handle(invoice_event(), TOPIC)
        items = await catalog.get_lineage("invoice_item")
        invoice_ds = DatasetRef(namespace="dictamesh", name="billing.invoice")
        assert items.dataset == DatasetRef(namespace="dictamesh", name="billing.invoice_item")
        assert [(r.upstream, r.transformation) for r in items.upstream] == [
            (invoice_ds, "nested:invoice.items")
        ]
        one = await catalog.get_lineage("invoice_item", "i-1:1")
        assert ref("invoice", "i-1") in [r.upstream_entity for r in one.upstream]
        invoice = await catalog.get_lineage("invoice", "i-1")
        assert {str(r.downstream_entity) for r in invoice.downstream} >= {
            "invoice_item:i-1:1",
            "invoice_item:i-1:2",
        }

    async def test_ingest_without_schema_and_metadata_only_events(
        self, catalog: CatalogService, ingestor: CatalogIngestor
    ) -> None:
        entity = Entity(
            type="shipment",
            id="s-1",
            source=SourceRef(domain="logistics", system="wms"),
            attributes={"invoice_id": "i-1"},
        )
        await ingestor.handle(ChangeEvent.for_change(EventType.CREATED, entity), "t")
        assert (await catalog.get_entity_location("shipment", "s-1")).domain == "logistics"
        assert await catalog.list_relationships(ref("shipment", "s-1")) == []
        await ingestor.handle(invoice_event(), TOPIC)
        touch = ChangeEvent(
            event_type=EventType.UPDATED,
            entity=EntityVersionRef(type="invoice", id="i-1", version=2),
            source=BILLING,
        )
        await ingestor.handle(touch, TOPIC)
        location = await catalog.get_entity_location("invoice", "i-1")
        assert location.version == 2
        assert location.attributes["customer_id"] == "c-1"
        assert len(await catalog.list_relationships(ref("invoice", "i-1"))) == 3

    async def test_many_and_dotted_relationships(self, catalog: CatalogService) -> None:
        bundle = EntitySchema(
            entity_type="bundle",
            domain="catalog",
            fields=[FieldSpec(name="product_ids", type=FieldType.STRING, many=True)],
            relationships=[
                RelationshipSpec(
                    name="products",
                    target_type="product",
                    via_field="product_ids",
                    cardinality=Cardinality.MANY,
                    relationship_type="contains",
                ),
                RelationshipSpec(
                    name="parts",
                    target_type="product",
                    via_field="parts.sku",
                    cardinality=Cardinality.MANY,
                    relationship_type="made_of",
                ),
            ],
        )
        ingestor = CatalogIngestor(catalog, {"bundle": bundle})
        entity = Entity(
            type="bundle",
            id="b-1",
            source=SourceRef(domain="catalog", system="rest"),
            attributes={"product_ids": ["p-1", "p-2", None, "bad id"], "parts": [{"sku": "p-3"}]},
        )
        await ingestor.handle(ChangeEvent.for_change(EventType.CREATED, entity), "t")
        out = await catalog.list_relationships(ref("bundle", "b-1"))
        assert sorted((r.relationship_type, r.object.id) for r in out) == [
            ("contains", "p-1"),
            ("contains", "p-2"),
            ("made_of", "p-3"),
        ]

    async def test_unique_event_ids_per_call(self) -> None:
        # guards the helpers above: every built event is distinct
        assert invoice_event().event_id != invoice_event().event_id
        assert isinstance(invoice_event().event_id, uuid.UUID)
