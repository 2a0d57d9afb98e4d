"""Cached entities never cross tenants: the tenant is part of every cache key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.unit.observability.widgets import HttpWidgets, WidgetSource, widgets_adapter

from dictamesh.cache.keys import entity_key, tenant_prefix
from dictamesh.cache.memory import MemoryCache
from dictamesh.cache.tiered import TieredCache
from dictamesh.tenancy import tenant_context


def test_keys_differ_per_tenant_and_cannot_be_forged() -> None:
    assert entity_key("acme", "widget", "w-1") != entity_key("globex", "widget", "w-1")
    # a tenant name containing the separator cannot reach into another tenant's keys
    forged = entity_key("acme:entity:widget", "w", "1")
    assert not forged.startswith(tenant_prefix("acme"))
    assert entity_key(None, "widget", "w-1") == entity_key("", "widget", "w-1")


@pytest.fixture
async def widgets() -> AsyncIterator[tuple[HttpWidgets, WidgetSource, TieredCache]]:
    source = WidgetSource()
    source.put("w-1", "original")
    cache = TieredCache([MemoryCache(max_entries=100, ttl=60)])
    adapter = widgets_adapter(source, cache=cache)
    try:
        yield adapter, source, cache
    finally:
        await adapter.client.aclose()


async def test_tenant_a_cached_entity_is_not_served_to_tenant_b(
    widgets: tuple[HttpWidgets, WidgetSource, TieredCache],
) -> None:
    adapter, source, cache = widgets
    with tenant_context("acme"):
        assert (await adapter.get_entity("w-1")).attributes["name"] == "original"
        assert (await adapter.get_entity("w-1")).attributes["name"] == "original"  # cached
    assert len(source.requests) == 1
    source.put("w-1", "changed")
    with tenant_context("globex"):
        # a miss for globex: read from the source, not acme's cached copy
        assert (await adapter.get_entity("w-1")).attributes["name"] == "changed"
    assert len(source.requests) == 2
    with tenant_context("acme"):
        assert (await adapter.get_entity("w-1")).attributes["name"] == "original"
    assert len(source.requests) == 2
    # invalidating one tenant's copy leaves the other's
    await cache.invalidate(entity_key("acme", "widget", "w-1"))
    assert await cache.get(entity_key("globex", "widget", "w-1")) is not None
    assert await cache.get(entity_key("acme", "widget", "w-1")) is None
    # no tenant at all is a tenant of its own too
    assert (await adapter.get_entity("w-1")).attributes["name"] == "changed"
    assert len(source.requests) == 3
