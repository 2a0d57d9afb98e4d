"""CatalogDatabase: the one engine handle the catalog's stores (and governance) share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from tests.contract.catalog_contract import customer_entity, invoice_event

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.service import CatalogService
from dictamesh.catalog.tables import ENTITY
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import CatalogError
from dictamesh.core.models import EntityRef


def customer(customer_id: str) -> EntityRef:
    return EntityRef(type="customer", id=customer_id)


@pytest.fixture
async def database() -> AsyncIterator[CatalogDatabase]:
    database = await CatalogDatabase.open("sqlite+aiosqlite:///:memory:")
    try:
        yield database
    finally:
        await database.aclose()


def test_now_is_utc_and_timezone_aware(database: CatalogDatabase) -> None:
    before = datetime.now(UTC)
    now = database.now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(UTC)


async def test_a_given_clock_stamps_the_rows(database: CatalogDatabase) -> None:
    at = datetime(2024, 2, 29, 12, tzinfo=UTC)
    clocked = CatalogService(database.engine, clock=lambda: at)
    assert clocked.database.now() == at
    location = await clocked.register_entity(customer_entity("c-1"))
    assert (location.created_at, location.updated_at) == (at, at)


def test_tenant_is_explicit_then_context_then_default() -> None:
    assert CatalogDatabase.tenant() == "default"
    token = current_tenant.set("acme")
    try:
        assert CatalogDatabase.tenant() == "acme"
        assert CatalogDatabase.tenant("globex") == "globex"
    finally:
        current_tenant.reset(token)


async def test_write_commits_and_a_failed_write_rolls_back(database: CatalogDatabase) -> None:
    catalog = CatalogService.over(database)
    await catalog.register_entity(customer_entity("c-1"))
    count = select(func.count()).select_from(ENTITY)

    async def delete_all_then_fail() -> None:
        async with database.write() as conn:
            await conn.execute(ENTITY.update().values(status="deleted"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await delete_all_then_fail()
    async with database.read() as conn:
        assert (await conn.execute(count.where(ENTITY.c.status == "active"))).scalar() == 1


async def test_the_facade_and_its_stores_share_one_database(database: CatalogDatabase) -> None:
    catalog = CatalogService.over(database)
    stores = (
        catalog.entities,
        catalog.graph,
        catalog.lineage,
        catalog.events,
        catalog.cache_status,
        catalog.schemas,
    )
    assert all(store.database is database for store in stores)
    assert catalog.engine is database.engine
    # a row written through one store is seen through another and through the facade
    await catalog.events.record(invoice_event("i-1"), "billing")
    await catalog.graph.record(EntityRef(type="invoice", id="i-1"), "billed_to", customer("c-1"))
    assert [e.entity_id for e in await catalog.get_event_log()] == ["i-1"]
    stats = await database.stats()
    assert (stats["events"], stats["relationships"]) == (1, 1)


async def test_tenants_lists_every_tenant_with_rows(database: CatalogDatabase) -> None:
    catalog = CatalogService.over(database)
    assert await database.tenants() == []
    await catalog.record_event(invoice_event("i-1", tenant_id="globex"), "billing")
    token = current_tenant.set("acme")
    try:
        await catalog.register_entity(customer_entity("c-1"))
    finally:
        current_tenant.reset(token)
    assert await database.tenants() == ["acme", "globex"]


async def test_close_disposes_only_an_engine_it_owns(tmp_path: Path) -> None:
    owner = await CatalogDatabase.open(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    disposed: list[object] = []
    event.listen(owner.engine.sync_engine, "engine_disposed", disposed.append)
    await CatalogDatabase(owner.engine).aclose()
    assert disposed == []
    await owner.aclose()
    assert len(disposed) == 1


async def test_open_refuses_an_unmigrated_database_when_told_not_to_migrate(
    tmp_path: Path,
) -> None:
    with pytest.raises(CatalogError, match="not migrated"):
        await CatalogDatabase.open(f"sqlite+aiosqlite:///{tmp_path}/empty.db", migrate=False)
