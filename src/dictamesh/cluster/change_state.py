"""The change-detection state in the catalog database, shared by every node, fenced.

:class:`CatalogChangeStateStore` is a :class:`~dictamesh.adapters.state.ChangeStateStore`
over ``dictamesh_change_watermarks`` / ``dictamesh_change_seen`` (migration
``0011_cluster``): a new capture leader reads the watermark and seen rows the old one
committed. With a :class:`~dictamesh.cluster.leases.LeaseStore`, commits are **fenced**:
each runs only if the adapter's capture lease (:meth:`hold`) is still the current
acquisition, checked in the commit's own transaction, so a deposed leader cannot move the
watermark (:class:`~dictamesh.cluster.leases.LeaseLost`).

What the old leader emitted after its last commit is emitted again by the new one, with
the same deterministic event ids (``change_event_id``), and the catalog ingest keeps one
copy per event id: every change reaches the catalog exactly once (``docs/scale-out.md``).

Example::

    state = CatalogChangeStateStore(catalog.database, leases=LeaseStore(catalog.database))
    state.hold("crm", lease)                       # the lease of ``capture:crm``
    await state.commit("crm", "2026-01-01T00:00:00Z", [("c-1", 3, {"email": "a@b.io"})])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.tables import insert_for
from dictamesh.cluster.leases import Lease, LeaseLost, LeaseStore
from dictamesh.cluster.tables import SEEN, WATERMARKS

__all__ = ["CatalogChangeStateStore"]

# the shapes of dictamesh.adapters.state (a layer above: the protocol is structural)
Snapshot = dict[str, Any] | None
SeenRow = tuple[str, int, Snapshot]


class CatalogChangeStateStore:
    def __init__(self, database: CatalogDatabase, *, leases: LeaseStore | None = None) -> None:
        """``leases``: fence every commit with the adapter's held lease (None: unfenced)."""
        self.database = database
        self.leases = leases
        self._held: dict[str, Lease] = {}

    async def initialize(self) -> None:
        """Nothing to create: the tables come with the catalog's migrations."""

    def hold(self, adapter: str, lease: Lease) -> None:
        """Commits for ``adapter`` run under ``lease`` from now on."""
        self._held[adapter] = lease

    def drop(self, adapter: str, lease: Lease | None = None) -> None:
        """``adapter``'s lease is gone (``lease``: only if it is still that one)."""
        if lease is None or self._held.get(adapter) == lease:
            self._held.pop(adapter, None)

    async def get_watermark(self, adapter: str) -> str | None:
        query = select(WATERMARKS.c.watermark).where(WATERMARKS.c.adapter == adapter)
        async with self.database.read() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        return None if found is None else str(found)

    async def get_seen(self, adapter: str, entity_id: str) -> tuple[int, Snapshot] | None:
        query = select(SEEN.c.version, SEEN.c.snapshot).where(
            SEEN.c.adapter == adapter, SEEN.c.entity_id == entity_id
        )
        async with self.database.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return int(row.version), row.snapshot

    async def commit(self, adapter: str, watermark: str | None, seen: Sequence[SeenRow]) -> None:
        lease = None
        if self.leases is not None:
            lease = self._held.get(adapter)
            if lease is None:
                raise LeaseLost(f"{adapter}: no capture lease held", adapter=adapter)
        rows = [
            {"adapter": adapter, "entity_id": entity_id, "version": version, "snapshot": snap}
            for entity_id, version, snap in seen
        ]
        dialect = self.database.dialect
        async with self.database.write() as conn:
            if self.leases is not None and lease is not None:
                await self.leases.check(conn, lease)  # same transaction: the fence
            if watermark is not None:
                upsert = insert_for(dialect, WATERMARKS)
                await conn.execute(
                    upsert.on_conflict_do_update(
                        index_elements=["adapter"],
                        set_={"watermark": upsert.excluded.watermark},
                    ),
                    {"adapter": adapter, "watermark": watermark},
                )
            if rows:
                upsert = insert_for(dialect, SEEN)
                await conn.execute(
                    upsert.on_conflict_do_update(
                        index_elements=["adapter", "entity_id"],
                        set_={
                            "version": upsert.excluded.version,
                            "snapshot": upsert.excluded.snapshot,
                        },
                    ),
                    rows,
                )
