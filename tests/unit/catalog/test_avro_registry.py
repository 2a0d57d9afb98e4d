"""CatalogSchemaRegistry: the events layer's registry protocol over the catalog, in-process,
with the answers ``/schema-registry`` gives (validation, compatibility, ids)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from dictamesh.catalog import CatalogService
from dictamesh.catalog.avro_registry import AvroLimits, CatalogSchemaRegistry
from dictamesh.core.errors import NotFoundError, SchemaCompatibilityError, ValidationError
from dictamesh.events.schema_registry import SchemaRegistryClient

V1 = {"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}]}
V2 = {
    **V1,
    "fields": [*V1["fields"], {"name": "nick", "type": ["null", "string"], "default": None}],
}
BREAKING = {**V1, "fields": [*V1["fields"], {"name": "age", "type": "long"}]}


@pytest.fixture
async def catalog(sqlite_catalog_url: str) -> AsyncIterator[CatalogService]:
    async with await CatalogService.open(sqlite_catalog_url) as catalog:
        yield catalog


async def test_registers_reads_and_checks(catalog: CatalogService) -> None:
    registry = CatalogSchemaRegistry(catalog, AvroLimits(check_timeout_seconds=20))
    assert isinstance(registry, SchemaRegistryClient)
    first = await registry.register("users-value", json.dumps(V1))
    assert await registry.register("users-value", json.dumps(V1, indent=2)) == first  # idempotent
    assert json.loads(await registry.get_by_id(first)) == V1
    second = await registry.register("users-value", json.dumps(V2))
    assert await registry.get_latest("users-value") == (
        second,
        2,
        (await catalog.list_schemas("users-value"))[-1].schema_text,
    )
    with pytest.raises(SchemaCompatibilityError, match="age"):
        await registry.register("users-value", json.dumps(BREAKING))
    assert await catalog.list_schema_versions("users-value") == [1, 2]
    # the same text under another subject shares the id, as in Confluent's registry
    assert await registry.register("others-value", json.dumps(V1)) == first


async def test_refusals_are_typed(catalog: CatalogService) -> None:
    registry = CatalogSchemaRegistry(lambda: catalog)
    with pytest.raises(ValidationError, match="AVRO schemas only"):
        await registry.register("s", "syntax = 'proto3';", "PROTOBUF")
    with pytest.raises(ValidationError, match="refused"):
        await registry.register("s", json.dumps({"type": "record", "name": "X"}))
    with pytest.raises(NotFoundError):
        await registry.get_by_id(424242)
    with pytest.raises(NotFoundError):
        await registry.get_latest("nobody-value")
