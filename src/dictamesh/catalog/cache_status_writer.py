"""The node's cache status: the entity cache's fills, hits and invalidations, written in batches.

A :class:`CacheStatusWriter` is the :class:`~dictamesh.cache.base.CacheListener` of the
node's :class:`~dictamesh.cache.tiered.TieredCache`. Its methods run on the request path and
only update a bounded in-memory table (one slot per entity and layer, so a hot entity costs
one slot however often it is read); :meth:`CacheStatusWriter.run` flushes that table every
``interval`` seconds in **one** transaction (:meth:`CacheStatusStore.apply`). A cache fill
never waits for the catalog. When ``max_pending`` slots are waiting, reports of further
entities are dropped and counted in :attr:`CacheStatusWriter.dropped` (the status is
advisory; the cache itself is unaffected). A failed flush keeps its reports and writes them
before the next one's.

Order: reports are coalesced per entity into **rounds**. A fill (or hit) reported after an
invalidation of the same entity starts the entity's next round; a flush writes round 0's
fills, then its invalidations, then round 1's, and so on. So an invalidation counts against
the copy it dropped, never against one cached after it, however the reports of one interval
interleave.

Example::

    writer = CacheStatusWriter(catalog.cache_status, interval=0.25)
    cache.listener = writer
    task = asyncio.create_task(writer.run())
    ...
    await writer.aclose()      # stops and writes what is left
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from dictamesh.cache.keys import parse_entity_key
from dictamesh.catalog.cache_status_store import CacheFill, CacheInvalidation, CacheStatusStore

__all__ = ["CacheStatusWriter"]

log = logging.getLogger("dictamesh.catalog.cache_status")

_Entity = tuple[str, str, str]
"""(tenant, entity type, entity id)"""
_Slot = tuple[_Entity, str, int]
"""(entity, layer, round)"""
_GoneKey = tuple[_Entity, int]
"""(entity, round)"""


@dataclass(slots=True)
class _Fill:
    stored_at: float
    expires_at: float
    hits: int = 0


@dataclass(slots=True)
class _Gone:
    at: float
    count: int = 0


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class CacheStatusWriter:
    """Batches cache reports into ``dictamesh_cache_status`` (see the module docstring)."""

    def __init__(
        self, store: CacheStatusStore, *, interval: float = 0.25, max_pending: int = 10_000
    ) -> None:
        if interval <= 0 or max_pending < 1:
            raise ValueError("interval must be > 0 and max_pending >= 1")
        self.store = store
        self.interval = interval
        self.max_pending = max_pending
        #: reports dropped because ``max_pending`` slots were already waiting
        self.dropped = 0
        #: transactions written
        self.flushes = 0
        self._fills: dict[_Slot, _Fill] = {}
        self._gone: dict[_GoneKey, _Gone] = {}
        #: each entity's current round (absent: 0)
        self._round: dict[_Entity, int] = {}
        #: a failed flush's reports, written before the next flush's own
        self._carry: tuple[list[CacheFill], list[CacheInvalidation]] = ([], [])
        self._closed = False
        self._lock = asyncio.Lock()

    # --- CacheListener: never blocks ------------------------------------------------------

    def stored(self, key: str, layer: str, stored_at: float, expires_at: float) -> None:
        self._fill(key, layer, stored_at, expires_at, 0)

    def hit(self, key: str, layer: str, stored_at: float, expires_at: float) -> None:
        self._fill(key, layer, stored_at, expires_at, 1)

    def invalidated(self, key: str, at: float) -> None:
        entity = parse_entity_key(key)
        if entity is None:
            return
        slot = (entity, self._round.get(entity, 0))
        gone = self._gone.get(slot)
        if gone is None:
            if not self._room():
                return
            gone = self._gone[slot] = _Gone(at)
        gone.at = max(gone.at, at)
        gone.count += 1

    def _fill(self, key: str, layer: str, stored_at: float, expires_at: float, hits: int) -> None:
        entity = parse_entity_key(key)
        if entity is None:  # an inverse lookup, not an entity
            return
        current = self._round.get(entity, 0)
        if (entity, current) in self._gone:  # a copy cached after that invalidation
            current += 1
        slot = (entity, layer, current)
        known = self._fills.get(slot)
        if known is None:
            if not self._room():
                return
            self._round[entity] = current
            self._fills[slot] = _Fill(stored_at, expires_at, hits)
            return
        if stored_at >= known.stored_at:  # the newest copy wins
            known.stored_at, known.expires_at = stored_at, expires_at
        known.hits += hits

    def _room(self) -> bool:
        if self.pending >= self.max_pending:
            self.dropped += 1
            return False
        return True

    @property
    def pending(self) -> int:
        """Slots (entity, layer and round) waiting for the next flush."""
        return len(self._fills) + len(self._gone) + sum(len(c) for c in self._carry)

    # --- flushing -------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write what is waiting, in one transaction (nothing: no transaction)."""
        async with self._lock:
            carried_fills, carried_gone = self._carry
            rounds = [f.round for f in carried_fills] + [g.round for g in carried_gone]
            offset = 1 + max(rounds, default=-1)
            fills = [
                *carried_fills,
                *(
                    CacheFill(
                        *entity,
                        layer,
                        _dt(f.stored_at),
                        _dt(f.expires_at),
                        f.hits,
                        round=offset + current,
                    )
                    for (entity, layer, current), f in self._fills.items()
                ),
            ]
            gone = [
                *carried_gone,
                *(
                    CacheInvalidation(*entity, _dt(g.at), g.count, round=offset + current)
                    for (entity, current), g in self._gone.items()
                ),
            ]
            self._fills, self._gone, self._round = {}, {}, {}
            self._carry = ([], [])
            if not fills and not gone:
                return
            try:
                await self.store.apply(fills, gone)
            except BaseException:
                self._carry = (fills, gone)
                raise
            self.flushes += 1

    async def run(self) -> None:
        """Flush every ``interval`` seconds until cancelled; a failed flush is logged and
        retried with the next one (its reports are kept)."""
        while not self._closed:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:
                log.warning("cache status: flush failed; retrying", exc_info=True)

    async def aclose(self) -> None:
        """Stop :meth:`run` loops and write what is left (once; errors are logged)."""
        self._closed = True
        try:
            await self.flush()
        except Exception:
            log.warning("cache status: last flush failed; %d reports lost", self.pending)
