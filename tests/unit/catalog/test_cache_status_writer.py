"""The cache status writer: reports coalesced per entity and layer, written in one
transaction per flush, bounded, and kept across a failed flush."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from dictamesh.cache import MemoryCache, TieredCache
from dictamesh.cache.keys import entity_key, lookup_key
from dictamesh.catalog import CatalogService
from dictamesh.catalog.cache_status_store import CacheStatusStore
from dictamesh.catalog.cache_status_writer import CacheStatusWriter
from dictamesh.core.errors import CatalogUnavailable
from dictamesh.core.models import EntityRef

C1 = EntityRef(type="customer", id="c-1")


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def transactions(catalog: CatalogService) -> list[int]:
    begun: list[int] = []
    event.listen(catalog.engine.sync_engine, "begin", lambda conn: begun.append(1))
    return begun


async def test_reports_are_coalesced_and_written_in_one_transaction(
    sqlite_catalog: CatalogService,
) -> None:
    writer = CacheStatusWriter(sqlite_catalog.cache_status)
    key = entity_key(None, "customer", "c-1")
    writer.stored(key, "memory", 100.0, 160.0)
    for _ in range(5):
        writer.hit(key, "memory", 100.0, 160.0)
    writer.stored(key, "memory", 90.0, 150.0)  # an older copy reported late: not the newest
    writer.invalidated(key, 170.0)
    writer.invalidated(key, 120.0)
    writer.stored(entity_key(None, "customer", "c-2"), "memory", 100.0, 160.0)
    writer.stored(lookup_key(None, "invoice", "customer_id", "c-1"), "memory", 1.0, 2.0)
    assert writer.pending == 3  # two fills and one invalidation; the lookup is no entity
    begun = transactions(sqlite_catalog)
    await writer.flush()
    assert len(begun) == 1
    assert writer.pending == 0
    assert writer.flushes == 1
    await writer.flush()  # nothing waiting: no transaction
    assert len(begun) == 1

    (memory,) = await sqlite_catalog.get_cache_status(C1)
    assert (memory.cached_at, memory.expires_at) == (at(100), at(160))
    assert (memory.hits, memory.invalidations, memory.invalidated_at) == (5, 2, at(170))


async def test_a_full_queue_drops_new_entities_not_the_cache(
    sqlite_catalog: CatalogService,
) -> None:
    writer = CacheStatusWriter(sqlite_catalog.cache_status, max_pending=2)
    cache = TieredCache([MemoryCache(ttl=60)], listener=writer)
    for n in range(5):
        await cache.set(entity_key(None, "customer", f"c-{n}"), {"id": n})
    assert (writer.pending, writer.dropped) == (2, 3)
    writer.hit(entity_key(None, "customer", "c-0"), "memory", 1.0, 2.0)  # a waiting slot
    assert writer.dropped == 3
    assert (await cache.get(entity_key(None, "customer", "c-4"))) is not None
    await writer.flush()
    assert [s.entities for s in await sqlite_catalog.cache_summary()] == [2]


class FailingOnce(CacheStatusStore):
    def __init__(self, store: CacheStatusStore) -> None:
        super().__init__(store.database)
        self.failures = 1

    async def apply(self, *args: Any, **kwargs: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise CatalogUnavailable("catalog down")
        await super().apply(*args, **kwargs)


async def test_a_failed_flush_keeps_its_reports_for_the_next(
    sqlite_catalog: CatalogService,
) -> None:
    writer = CacheStatusWriter(FailingOnce(sqlite_catalog.cache_status))
    key = entity_key(None, "customer", "c-1")
    writer.stored(key, "memory", 100.0, 160.0)
    writer.hit(key, "memory", 100.0, 160.0)
    writer.invalidated(key, 130.0)
    with pytest.raises(CatalogUnavailable):
        await writer.flush()
    writer.hit(key, "memory", 140.0, 200.0)  # a report made while the catalog was down
    writer.invalidated(key, 150.0)
    await writer.flush()
    (memory,) = await sqlite_catalog.get_cache_status(C1)
    assert (memory.cached_at, memory.hits) == (at(140), 2)
    assert (memory.invalidations, memory.invalidated_at) == (2, at(150))


async def test_run_flushes_in_the_background_and_aclose_writes_the_rest(
    sqlite_catalog: CatalogService,
) -> None:
    writer = CacheStatusWriter(sqlite_catalog.cache_status, interval=0.02)
    task = asyncio.create_task(writer.run())
    try:
        writer.stored(entity_key(None, "customer", "c-1"), "memory", 100.0, 160.0)
        for _ in range(200):
            if writer.flushes:
                break
            await asyncio.sleep(0.01)
        assert writer.flushes == 1
    finally:
        task.cancel()
    writer.stored(entity_key(None, "customer", "c-2"), "memory", 100.0, 160.0)
    await writer.aclose()
    assert len(await sqlite_catalog.get_cache_status(EntityRef(type="customer", id="c-2"))) == 1


def test_bad_settings_are_refused(sqlite_catalog_url: str) -> None:
    store: Any = object()
    with pytest.raises(ValueError, match="interval"):
        CacheStatusWriter(store, interval=0)
    with pytest.raises(ValueError, match="max_pending"):
        CacheStatusWriter(store, max_pending=0)


async def test_an_invalidation_before_a_fill_does_not_count_against_the_new_copy(
    sqlite_catalog: CatalogService,
) -> None:
    writer = CacheStatusWriter(sqlite_catalog.cache_status)
    key = entity_key(None, "customer", "c-1")
    writer.invalidated(key, 90.0)  # the entity changed while nothing held it
    writer.stored(key, "memory", 100.0, 160.0)
    writer.invalidated(key, 110.0)  # ...and then the copy was dropped
    writer.stored(entity_key(None, "customer", "c-2"), "memory", 100.0, 160.0)
    writer.invalidated(entity_key(None, "customer", "c-2"), 120.0)
    await writer.flush()
    (c1,) = await sqlite_catalog.get_cache_status(C1)
    # 90 came before the copy existed (no row then); 110 dropped the copy read at 100
    assert (c1.invalidations, c1.invalidated_at) == (1, at(110))
    assert not c1.is_fresh(at(111))

    writer.invalidated(key, 200.0)  # before the re-fill below: counts on the old row
    writer.stored(key, "memory", 210.0, 270.0)
    await writer.flush()
    (c1,) = await sqlite_catalog.get_cache_status(C1)
    assert (c1.invalidations, c1.cached_at) == (2, at(210))
    assert c1.is_fresh(at(211))
