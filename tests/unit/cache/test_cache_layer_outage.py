"""TieredCache with a layer that goes down and comes back: misses, counters, one warning."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dictamesh.cache import CacheEntry, MemoryCache, TieredCache


class FlakyLayer(MemoryCache):
    """A working L2 that can be switched off (every call raises, as a dead Redis would)."""

    def __init__(self) -> None:
        super().__init__(ttl=60)
        self.name = "redis"
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("Connection refused")

    async def get(self, key: str) -> CacheEntry | None:
        self._check()
        return await super().get(key)

    async def set(self, key: str, value: Any, **kw: Any) -> None:
        self._check()
        await super().set(key, value, **kw)

    async def delete(self, key: str) -> None:
        self._check()
        await super().delete(key)


async def test_one_warning_per_outage_and_recovery(caplog: pytest.LogCaptureFixture) -> None:
    l2 = FlakyLayer()
    cache = TieredCache([l2])
    loads = 0

    async def load() -> dict[str, Any]:
        nonlocal loads
        loads += 1
        return {"n": loads}

    caplog.set_level(logging.INFO, "dictamesh.cache")
    assert (await cache.get_or_load("k", load)).layer == "source"
    assert (await cache.get_or_load("k", load)).layer == "redis"

    l2.down = True
    for _ in range(10):
        assert (await cache.get_or_load("k", load)).layer == "source"
    assert cache.failing_layers == ["redis"]
    stats = cache.stats()["redis"]
    assert stats.errors == 20  # a get and a write-back per read
    assert stats.outages == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1

    l2.down = False
    await cache.get_or_load("k", load)  # the source again (the layer lost nothing here)
    assert (await cache.get_or_load("k", load)).layer == "redis"
    assert cache.failing_layers == []
    assert any("answers again" in r.getMessage() for r in caplog.records)

    l2.down = True
    await cache.get_or_load("k", load)
    assert cache.stats()["redis"].outages == 2
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
