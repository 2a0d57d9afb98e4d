"""The catalog's stores used directly, without the CatalogService facade."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.contract.catalog_contract import CUSTOMER, customer_entity

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.entity_store import EntityStore
from dictamesh.catalog.graph_store import GraphStore
from dictamesh.catalog.records import Compatibility
from dictamesh.catalog.schema_store import SchemaStore
from dictamesh.core.errors import NotFoundError
from dictamesh.core.models import EntityRef


@pytest.fixture
async def database() -> AsyncIterator[CatalogDatabase]:
    database = await CatalogDatabase.open("sqlite+aiosqlite:///:memory:")
    try:
        yield database
    finally:
        await database.aclose()


def node(node_id: str) -> EntityRef:
    return EntityRef(type="node", id=node_id)


async def test_end_outgoing_runs_in_the_callers_transaction(database: CatalogDatabase) -> None:
    graph = GraphStore(database)
    await graph.record(node("a"), "links", node("b"))
    await graph.record(node("a"), "links", node("c"))
    await graph.record(node("b"), "links", node("a"))

    async def end_then_fail() -> None:
        async with database.write() as conn:
            await GraphStore.end_outgoing(conn, database.tenant(), node("a"), database.now())
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        await end_then_fail()
    assert len(await graph.relationships(node("a"))) == 2

    async with database.write() as conn:
        await GraphStore.end_outgoing(conn, database.tenant(), node("a"), database.now())
    assert await graph.relationships(node("a")) == []
    assert len(await graph.relationships(node("a"), include_history=True)) == 2
    # edges into ``a`` are not its outgoing ones
    assert [r.subject for r in await graph.relationships(node("a"), direction="in")] == [node("b")]


async def test_entity_store_pages_with_a_cursor(database: CatalogDatabase) -> None:
    entities = EntityStore(database)
    for customer_id in ("c-3", "c-1", "c-2"):
        await entities.register(customer_entity(customer_id))
    first, cursor = await entities.page("customer", limit=2)
    assert [e.entity_id for e in first] == ["c-1", "c-2"]
    rest, end = await entities.page("customer", limit=2, cursor=cursor)
    assert ([e.entity_id for e in rest], end) == (["c-3"], None)
    assert await entities.count("customer") == 3


async def test_schema_store_registers_configures_and_deletes(database: CatalogDatabase) -> None:
    schemas = SchemaStore(database)
    assert await schemas.compatibility() is Compatibility.BACKWARD
    version = await schemas.register(CUSTOMER)
    assert (await schemas.register(CUSTOMER)).id == version.id  # same content, same version
    assert (await schemas.entity_schema("customer")).version == version.version

    await schemas.set_compatibility(Compatibility.FULL, "customer")
    assert await schemas.subject_compatibility("customer") is Compatibility.FULL
    assert await schemas.delete_compatibility("customer") is Compatibility.FULL
    assert await schemas.subject_compatibility("customer") is None

    await schemas.delete_version("customer", version.version, permanent=True)
    assert await schemas.subjects() == []
    with pytest.raises(NotFoundError):
        await schemas.by_id(version.id)
