"""Degraded GraphQL answers: stale entities in extensions, SOURCE_UNAVAILABLE per field,
partial batches, and a schema that keeps source failures local (nullable fields)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from graphql import GraphQLNonNull, GraphQLObjectType
from tests.unit.gateway.fakes import MemoryRegistry, shop

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.cache import MemoryCache, TieredCache
from dictamesh.gateway import GatewayContext, GatewaySchema, build_schema
from dictamesh.testing.adapters import FakeAdapter, fake_config

RECORDS = [{"id": f"w-{i}", "name": f"Widget {i}", "color": "red"} for i in range(1, 6)]


class WallClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Mesh:
    def __init__(self, adapter: FakeAdapter, wall: WallClock) -> None:
        self.adapter = adapter
        self.wall = wall
        self.registry = AdapterRegistry(plugins=[])
        self.registry.register(adapter)
        self.schema: GatewaySchema = build_schema(self.registry)

    async def run(self, query: str) -> Any:
        return await self.schema.execute(query, context_value=GatewayContext(self.registry))


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    wall = WallClock()
    cache = TieredCache([MemoryCache(ttl=10, stale_ttl=600, clock=wall)], clock=wall)
    config = fake_config(
        resilience={
            "timeout_seconds": 0.5,
            "max_attempts": 1,
            "breaker_failure_threshold": 1,
            "breaker_reset_seconds": 30,
        }
    )
    async with FakeAdapter(config, records=RECORDS, cache=cache) as adapter:
        yield Mesh(adapter, wall)


async def test_cached_fields_answer_stale_and_the_rest_fail_alone(mesh: Mesh) -> None:
    warm = await mesh.run('{ widget(id: "w-1") { name } }')
    assert warm.errors is None
    assert not warm.extensions
    mesh.wall.now += 42  # past the 10 s TTL: only a stale copy is left
    mesh.adapter.fail(times=100)

    result = await mesh.run(
        '{ a: widget(id: "w-1") { name } b: widget(id: "w-2") { name } entityTypes }'
    )

    assert result.data == {"a": {"name": "Widget 1"}, "b": None, "entityTypes": ["widget"]}
    [error] = result.errors
    assert error.path == ["b"]
    ext = error.extensions
    assert ext["code"] == "SOURCE_UNAVAILABLE"
    assert ext["adapter"] == "fake_widgets"
    # the failure opened the breaker (threshold 1): it knows when to try again
    assert ext["retryAfterSeconds"] == pytest.approx(30, abs=1)
    [stale] = result.extensions["dictamesh"]["stale"]
    assert stale == {
        "type": "widget",
        "id": "w-1",
        "ageSeconds": pytest.approx(42),
        "reason": "SOURCE_UNAVAILABLE",
        "adapter": "fake_widgets",
    }
    assert mesh.adapter.get_metrics().stale_served == 1


async def test_open_breaker_answers_from_cache_without_calling_the_source(mesh: Mesh) -> None:
    await mesh.run('{ a: widget(id: "w-1") { name } b: widget(id: "w-2") { name } }')
    mesh.wall.now += 20
    mesh.adapter.fail(times=1)
    first = await mesh.run('{ widget(id: "w-3") { name } }')  # opens the breaker
    assert first.data == {"widget": None}
    calls = mesh.adapter.calls["fetch_many"] + mesh.adapter.calls["fetch_one"]

    result = await mesh.run(
        '{ a: widget(id: "w-1") { name } b: widget(id: "w-2") { name }'
        ' c: widget(id: "w-3") { name } }'
    )
    assert mesh.adapter.calls["fetch_many"] + mesh.adapter.calls["fetch_one"] == calls
    assert result.data == {"a": {"name": "Widget 1"}, "b": {"name": "Widget 2"}, "c": None}
    [error] = result.errors
    assert error.path == ["c"]
    assert error.extensions["code"] == "SOURCE_UNAVAILABLE"
    assert 0 < error.extensions["retryAfterSeconds"] <= 30
    stale = result.extensions["dictamesh"]["stale"]
    assert [(s["id"], s["reason"]) for s in stale] == [
        ("w-1", "SOURCE_UNAVAILABLE"),
        ("w-2", "SOURCE_UNAVAILABLE"),
    ]
    metrics = mesh.adapter.get_metrics()
    assert metrics.breaker_state == "open"
    assert metrics.circuit_rejected >= 1
    assert metrics.breaker_opened == 1


async def test_an_uncached_page_fails_alone(mesh: Mesh) -> None:
    mesh.adapter.fail(times=100)
    result = await mesh.run("{ widgets(limit: 2) { items { name } } entityTypes }")
    assert result.data == {"widgets": None, "entityTypes": ["widget"]}
    [error] = result.errors
    assert error.path == ["widgets"]
    assert error.extensions["code"] == "SOURCE_UNAVAILABLE"
    assert error.extensions["adapter"] == "fake_widgets"
    assert not result.extensions


async def test_fresh_answers_carry_no_staleness(mesh: Mesh) -> None:
    result = await mesh.run('{ widget(id: "w-1") { name } }')
    assert result.errors is None
    assert "dictamesh" not in (result.extensions or {})


def test_every_field_that_calls_a_source_is_nullable() -> None:
    """A failing source nulls its field, never a parent or the whole response."""
    schema = build_schema(MemoryRegistry(list(shop())))
    gql = schema._schema
    query = gql.query_type
    assert query is not None
    for name, field in query.fields.items():
        if name != "entityTypes":
            assert not isinstance(field.type, GraphQLNonNull), f"Query.{name}"
    sources = {  # fields resolved with a loader (another data product's source)
        ("Invoice", "customer"),
        ("Customer", "invoices"),
        ("InvoiceItem", "product"),
    }
    for type_name, field_name in sources:
        owner = gql.type_map[type_name]
        assert isinstance(owner, GraphQLObjectType)
        assert not isinstance(owner.fields[field_name].type, GraphQLNonNull), (
            f"{type_name}.{field_name}"
        )
