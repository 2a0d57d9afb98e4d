"""Audit log, retention and erasure against one catalog backend: subclasses provide the
``catalog`` fixture (a fresh, migrated, empty catalog) — ``test_governance_store_sqlite.py``
and, under the ``postgres`` marker, ``test_governance_store_postgres.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dictamesh.catalog import CatalogService
from dictamesh.catalog.ingest import CatalogIngestor
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import EntityNotFound, ValidationError
from dictamesh.core.models import Classification, EntityRef, EventType
from dictamesh.events.publisher import EventPublisher
from dictamesh.governance.audit import AuditEntry, AuditLog
from dictamesh.governance.erasure import erase_entity
from dictamesh.governance.policy import Action, PolicyEngine, Resource
from dictamesh.governance.retention import RetentionJob, RetentionRule
from dictamesh.testing.bus import InMemoryBus, capture_events
from tests.contract.catalog_contract import SCHEMAS, TOPIC, Clock, invoice_event


@dataclass(frozen=True)
class Who:
    subject: str = "alice"
    roles: tuple[str, ...] = ("support",)
    tenant: str | None = None
    method: str = "jwt"


ENGINE = PolicyEngine.from_mapping(
    {"rules": [{"id": "support-email", "effect": "allow", "actions": ["read"],
                "principal": {"roles": ["support"]},
                "resource": {"tags": ["pii_email"]}, "mask": "partial"}]}
)  # fmt: skip


def decision(field: str, tag: Classification, who: Who = Who()) -> AuditEntry:
    d = ENGINE.decide(who, Action.READ, Resource("customer", "customers", field, tag))
    return AuditEntry.of(d, who, channel="graphql", entity_id="c-1", trace_id="t" * 32)


class GovernanceStoreContract:
    @pytest.fixture
    def catalog(self) -> CatalogService:
        raise NotImplementedError

    @pytest.fixture
    def clocked(self, catalog: CatalogService) -> tuple[CatalogService, Clock]:
        clock = Clock()
        return CatalogService(catalog.engine, clock=clock), clock

    # --- audit --------------------------------------------------------------------------

    async def test_audit_records_allowed_and_denied_access(self, catalog: CatalogService) -> None:
        audit = AuditLog(catalog)
        entries = [
            decision("email", Classification.PII_EMAIL),
            decision("phone", Classification.PII_PHONE),
        ]
        assert await audit.record(entries) == 2
        rows = await audit.query()
        assert [(r.field, r.decision, r.mask) for r in rows] == [
            ("phone", "deny", None),
            ("email", "allow", "partial"),
        ]
        email = rows[1]
        assert email.subject == "alice"
        assert email.roles == ["support"]
        assert email.auth_method == "jwt"
        assert email.rules == ["support-email"]
        assert email.trace_id == "t" * 32
        assert email.tenant_id == "default"
        assert [r.field for r in await audit.query(decision="deny")] == ["phone"]
        assert await audit.query(subject="bob") == []
        page = await audit.query(limit=1)
        assert [r.field for r in await audit.query(before_id=page[0].id)] == ["email"]
        summary = await audit.summary()
        assert {(s["classification"], s["decision"], s["accesses"]) for s in summary} == {
            ("pii_email", "allow", 1),
            ("pii_phone", "deny", 1),
        }

    async def test_audit_is_tenant_scoped(self, catalog: CatalogService) -> None:
        audit = AuditLog(catalog)
        await audit.record([decision("email", Classification.PII_EMAIL, Who(tenant="acme"))])
        assert await audit.query() == []
        token = current_tenant.set("acme")
        try:
            assert len(await audit.query()) == 1
        finally:
            current_tenant.reset(token)

    async def test_audit_query_rejects_bad_input(self, catalog: CatalogService) -> None:
        audit = AuditLog(catalog)
        with pytest.raises(ValidationError):
            await audit.query(limit=0)
        with pytest.raises(ValidationError):
            await audit.query(decision="maybe")

    async def test_audit_rows_cannot_be_updated(self, catalog: CatalogService) -> None:
        await AuditLog(catalog).record([decision("email", Classification.PII_EMAIL)])
        async with catalog.engine.connect() as conn:
            await catalog.set_tenant(conn)  # row-level security: see the rows to update
            with pytest.raises(DBAPIError, match="append-only"):
                await conn.execute(text("UPDATE dictamesh_audit_log SET decision = 'allow'"))
        assert (await AuditLog(catalog).query())[0].decision == "allow"

    # --- retention ----------------------------------------------------------------------

    async def test_retention_longest_rule_wins_and_unselected_rows_stay(
        self, clocked: tuple[CatalogService, Clock]
    ) -> None:
        catalog, clock = clocked
        start = clock.now
        await catalog.record_event(invoice_event("old-inv", items=[]), TOPIC)
        await catalog.record_event(invoice_event("old-other", items=[]), "other.topic.changed")
        await AuditLog(catalog).record([decision("email", Classification.PII_EMAIL)])
        clock.now = start + timedelta(days=40)
        await catalog.record_event(invoice_event("new-inv", items=[]), TOPIC)
        rules = [
            RetentionRule(target="event_log", topics=["billing.*"], max_age="30d"),
            RetentionRule(target="event_log", entity_types=["invoice"], max_age="1d"),
            RetentionRule(target="audit", max_age="35d"),
        ]
        # "billing.*" keeps invoice events 30 days although "invoice" says 1 day
        clock.now = start + timedelta(days=20)
        assert await RetentionJob(catalog, rules).run_once() == {"event_log": 1, "audit": 0}
        ids = {e.entity_id for e in await catalog.get_event_log(limit=10)}
        assert ids == {"old-inv", "new-inv"}  # old-other: only the 1-day rule selected it
        clock.now = start + timedelta(days=41)
        assert await RetentionJob(catalog, rules).run_once() == {"event_log": 1, "audit": 1}
        assert {e.entity_id for e in await catalog.get_event_log(limit=10)} == {"new-inv"}
        assert await AuditLog(catalog).query() == []

    def test_retention_rules_validate(self) -> None:
        with pytest.raises(ValueError, match="age"):
            RetentionRule(target="event_log", max_age="soon")
        with pytest.raises(ValueError, match="no topic"):
            RetentionRule(target="audit", topics=["x"], max_age="1d")
        assert RetentionRule(target="audit", max_age="2w").max_age == timedelta(days=14)

    # --- erasure ------------------------------------------------------------------------

    async def test_erasure_scrubs_catalog_and_emits_deleted(self, catalog: CatalogService) -> None:
        ingestor = CatalogIngestor(catalog, SCHEMAS)
        await ingestor.handle(invoice_event("i-9", version=3), TOPIC)
        at = await catalog.get_entity_location("invoice", "i-9")
        await catalog.set_cache_status(
            EntityRef(type="invoice", id="i-9"), "l1", cached_at=at.updated_at, expires_at=None
        )
        bus = InMemoryBus()
        async with bus, capture_events(bus) as captured:
            report = await erase_entity(
                catalog, EventPublisher(bus), EntityRef(type="invoice", id="i-9")
            )
        assert report.event_log_rows_scrubbed == 1
        assert report.cache_rows_removed == 1
        [event] = captured.events
        assert event.event_type is EventType.DELETED
        assert (event.entity.version, event.before, event.after) == (4, None, None)

        erased = await catalog.get_entity_location("invoice", "i-9")
        assert (erased.status, erased.attributes) == ("deleted", {})
        [logged] = await catalog.get_event_log(entity_id="i-9")
        assert "customer_id" not in str(logged.payload)
        assert await catalog.get_cache_status(EntityRef(type="invoice", id="i-9")) == []
        assert not any(
            e.relationship_type == "billed_to"
            for e in (await catalog.list_relationships(EntityRef(type="invoice", id="i-9")))
        )
        # the DELETED event reaching the ingest, or an old snapshot replayed, writes no PII back
        await ingestor.handle(event, TOPIC)
        await ingestor.handle(invoice_event("i-9", version=3), TOPIC)
        assert (await catalog.get_entity_location("invoice", "i-9")).attributes == {}

    async def test_erasing_an_unknown_entity_is_not_found(self, catalog: CatalogService) -> None:
        with pytest.raises(EntityNotFound):
            await erase_entity(catalog, None, EntityRef(type="invoice", id="nope"))
