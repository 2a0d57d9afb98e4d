"""The ingest's PostgreSQL write path: two statements per tenant and batch (arrays + unnest).

The behaviour is the catalog contract's (``test_catalog_postgres``); these check what only
this path could get wrong: statements per batch, custom plans only until the registry has
statistics, too long values refused rather than cut, naive clock values taken as UTC, the
engine's JSON serializer used, the payload stored as received, and the semantics the
batched statements must keep (duplicates and versions inside one batch, tenants side by
side, deletes).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine

from dictamesh.catalog import CatalogIngestor, CatalogService
from dictamesh.core.errors import CatalogError
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.events.serde import JsonEventSerializer
from tests.contract.catalog_contract import SCHEMAS, TOPIC, invoice_event

pytestmark = pytest.mark.postgres

SETTINGS = "set_config('plan_cache_mode'"


def customer_event(n: int, *, tenant_id: str | None = None) -> ChangeEvent:
    entity = Entity(
        type="customer",
        id=f"c-{n}",
        source=SourceRef(domain="customers", system="crm"),
        tenant_id=tenant_id,
        attributes={"name": f"Customer {n}"},
    )
    return ChangeEvent.for_change(EventType.CREATED, entity)


@pytest.fixture
async def catalog(empty_catalog_url: str) -> AsyncIterator[CatalogService]:
    async with await CatalogService.open(empty_catalog_url, migrate=False) as opened:
        yield opened


@pytest.fixture
def statements(catalog: CatalogService) -> list[str]:
    """What the catalog sends: each statement's first word, ``PLANS`` for the plan settings."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        statement: str = args[2]
        sent.append("PLANS" if SETTINGS in statement else statement.split(None, 1)[0].upper())

    event.listen(catalog.engine.sync_engine, "before_cursor_execute", record)
    return sent


async def test_a_batch_costs_a_few_statements_whatever_its_size(
    catalog: CatalogService, statements: list[str]
) -> None:
    ingestor = CatalogIngestor(catalog, SCHEMAS)
    for size in (1, 300):
        statements.clear()
        batch = [(invoice_event(f"i-{size}-{n}"), TOPIC) for n in range(size)]
        assert await ingestor.handle_batch(batch) == size
        # tenant, [plans], log + registry, current edges (invoices and items at once),
        # entities + lineage, relationships
        assert [s for s in statements if s != "PLANS"] == (
            ["SELECT", "WITH", "SELECT", "WITH", "INSERT"]
        )
    assert await catalog.count_entities("invoice_item") == 2 * 301


async def test_mixed_tenants_are_written_per_tenant(
    catalog: CatalogService, statements: list[str]
) -> None:
    ingestor = CatalogIngestor(catalog, SCHEMAS)
    batch = [(customer_event(n, tenant_id=t), "t") for t in ("acme", "globex") for n in range(3)]
    assert await ingestor.handle_batch(batch) == 6
    # each tenant: its setting, log + registry, entities + lineage
    per_tenant = ["SELECT", "WITH", "WITH"]
    assert [s for s in statements if s != "PLANS"] == per_tenant * 2
    assert await ingestor.handle_batch(batch) == 0


async def test_custom_plans_until_the_registry_has_statistics(
    catalog: CatalogService, statements: list[str], postgres_owner_url: str
) -> None:
    ingestor = CatalogIngestor(catalog, SCHEMAS)
    await ingestor.handle(customer_event(1), "t")
    assert statements.count("PLANS") == 1  # a new ingestor does not know yet
    owner = create_async_engine(postgres_owner_url)  # only the owner may ANALYZE
    try:
        async with owner.begin() as conn:
            await conn.execute(text("ANALYZE dictamesh_entity_catalog"))
    finally:
        await owner.dispose()
    await ingestor.handle(customer_event(2), "t")  # learns it here (if not before)
    settled = statements.count("PLANS")
    await ingestor.handle(customer_event(3), "t")
    assert statements.count("PLANS") == settled
    assert await catalog.count_entities("customer") == 3


async def test_too_long_values_are_refused_not_cut(catalog: CatalogService) -> None:
    ingestor = CatalogIngestor(catalog, SCHEMAS)
    with pytest.raises(CatalogError, match="too long"):
        await ingestor.handle(customer_event(1), "t" * 256)  # topic is VARCHAR(255)
    assert (await catalog.stats())["events"] == 0
    assert await ingestor.handle(customer_event(1), "t" * 255)


async def test_naive_clock_values_are_utc(catalog: CatalogService) -> None:
    clocked = CatalogService(catalog.engine, clock=lambda: datetime(2026, 1, 2, 3, 4, 5))
    await CatalogIngestor(clocked, SCHEMAS).handle(invoice_event(), TOPIC)
    expected = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    (logged,) = await clocked.get_event_log()
    assert logged.recorded_at == expected
    location = await clocked.get_entity_location("invoice", "i-1")
    assert (location.created_at, location.updated_at) == (expected, expected)
    (lineage,) = (await clocked.get_lineage("invoice")).upstream
    assert lineage.first_seen_at == expected


async def test_the_engines_json_serializer_is_used(empty_catalog_url: str) -> None:
    used: list[Any] = []

    def dumps(value: Any) -> str:
        used.append(value)
        return json.dumps(value)

    async with await CatalogService.open(
        empty_catalog_url, migrate=False, json_serializer=dumps
    ) as catalog:
        await CatalogIngestor(catalog, SCHEMAS).handle(invoice_event(), TOPIC)
        location = await catalog.get_entity_location("invoice", "i-1")
    assert location.attributes["customer_id"] == "c-1"
    assert location.attributes in used


async def test_the_received_payload_is_stored_not_re_encoded(catalog: CatalogService) -> None:
    # 10.50 stays 10.50 in jsonb (numeric keeps its scale); a re-encoded event says 10.5.
    event = customer_event(1)
    raw = event.model_dump_json().replace('"name":"Customer 1"', '"name":"Customer 1","n":10.50')
    raw = raw.replace('"after":{', '"after":{"n":10.50,')
    decoded = JsonEventSerializer().decode(raw.encode())
    assert await CatalogIngestor(catalog, SCHEMAS).handle_batch(
        [(decoded, "t")], payloads=[raw.encode()]
    )
    async with catalog.database.read() as conn:
        stored = (await conn.execute(text("SELECT payload::text FROM dictamesh_event_log"))).one()
    assert '"n": 10.50' in stored[0]
    assert json.loads(stored[0]) == json.loads(raw)
    location = await catalog.get_entity_location("customer", "c-1")
    assert location.attributes == {"n": 10.5, "name": "Customer 1"}


async def test_concurrent_batches_lock_lineage_rows_in_key_order(
    catalog: CatalogService,
) -> None:
    """Two consumers whose batches count the same lineage rows in different event orders
    would deadlock if each locked them in its own order: rows are written in key order."""
    source = SourceRef(domain="zoo", system="crm")

    def animal(kind: str, n: int) -> ChangeEvent:
        entity = Entity(type=kind, id=f"{kind}-{n}", source=source, attributes={"n": n})
        return ChangeEvent.for_change(EventType.CREATED, entity)

    ingestor = CatalogIngestor(catalog, {})
    await ingestor.handle_batch([(animal("zebra", 0), TOPIC), (animal("aardvark", 0), TOPIC)])
    rows = "SELECT 1 FROM dictamesh_data_lineage WHERE upstream_name = :name FOR UPDATE"
    async with catalog.write() as holder:
        # Another transaction holds the row that sorts first ...
        held = await holder.execute(text(rows), {"name": "aardvark"})
        assert len(held.all()) == 1
        # ... while a batch counting zebra before aardvark (in event order) runs.
        batch = [(animal("zebra", 1), TOPIC), (animal("aardvark", 1), TOPIC)]
        ingest = asyncio.create_task(ingestor.handle_batch(batch))
        async with catalog.engine.connect() as watcher:
            for _ in range(500):
                # pg_stat_activity is a snapshot per transaction unless cleared
                await watcher.execute(text("SELECT pg_stat_clear_snapshot()"))
                waiting = await watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                        " current_database() AND wait_event_type = 'Lock'"
                    )
                )
                if waiting:
                    break
                await asyncio.sleep(0.01)
            assert waiting == 1, f"the ingest should wait for the held row {ingest}"
        # It waits for aardvark before it takes zebra's row: zebra is still free.
        await holder.execute(text(rows + " NOWAIT"), {"name": "zebra"})
    assert await ingest == 2
    async with catalog.database.read() as conn:
        counts = dict(
            (
                await conn.execute(
                    text("SELECT upstream_name, occurrences FROM dictamesh_data_lineage")
                )
            ).all()
        )
    assert counts == {"zebra": 2, "aardvark": 2}
