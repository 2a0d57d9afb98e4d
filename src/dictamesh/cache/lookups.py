"""Cached inverse lookups ("the invoices whose ``customer_id`` is c-1") and what drops them.

:meth:`~dictamesh.adapters.base.AdapterBase.get_related` caches, per key, the entities whose
via field equals it under :func:`~dictamesh.cache.keys.lookup_key` (tenant, entity type,
via field, value), in the same tiered cache and with the same TTL as the entities. Only
the via fields of the type's own relationships (:func:`lookup_fields`) are cached, so a
change of an entity always knows which lookups could hold it:

* the lookups keyed by the entity's via values **before** the change (it may have left
  them, or its cached copy in them is now old) and **after** it (it may have joined them);
* when the values before are unknown — an update or deletion whose event carries no
  ``before``, a write or webhook for an entity neither cached nor seen — **every** cached
  lookup of the type (:func:`lookup_prefix`; Redis scans for it, so this is the rare path).

A creation has no values before. The same drops run where entities are invalidated: the
node's invalidation consumer (every change event), the adapter's change detection (before
it emits), its writes (also failed ones) and its webhooks (before the re-fetch).

Example::

    fields = lookup_fields(invoice_schema)                      # frozenset({'customer_id'})
    await invalidate_lookups(cache, "acme", "invoice", fields, event_snapshots(event))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dictamesh.cache.keys import lookup_key, lookup_prefix
from dictamesh.cache.tiered import TieredCache
from dictamesh.core.models import ChangeEvent, EntitySchema, EventType, ids_at

__all__ = ["event_snapshots", "invalidate_lookups", "lookup_fields", "lookup_keys_of"]

Snapshot = Mapping[str, Any] | None


def lookup_fields(schema: EntitySchema) -> frozenset[str]:
    """Via fields whose inverse lookups may be cached: the type's relationships' plain
    (undotted) via fields."""
    return frozenset(r.via_field for r in schema.relationships if "." not in r.via_field)


def event_snapshots(event: ChangeEvent) -> list[Snapshot] | None:
    """The attribute snapshots whose via values a change event touched; ``None`` when the
    values before the change are unknown (so every lookup of the type must go)."""
    if event.before is None and event.event_type is not EventType.CREATED:
        return None
    return [event.before, event.after]


def lookup_keys_of(
    tenant: str | None, entity_type: str, fields: Iterable[str], snapshots: Sequence[Snapshot]
) -> list[str]:
    """The lookup keys holding an entity that had any of ``snapshots``' via values."""
    keys: set[str] = set()
    for field in fields:
        for snapshot in snapshots:
            if snapshot is not None:
                keys.update(
                    lookup_key(tenant, entity_type, field, v) for v in ids_at(snapshot, field)
                )
    return sorted(keys)


async def invalidate_lookups(
    cache: TieredCache,
    tenant: str | None,
    entity_type: str,
    fields: frozenset[str],
    snapshots: Sequence[Snapshot] | None,
) -> None:
    """Drop the cached lookups a change of an ``entity_type`` entity could alter:
    those of its via values in ``snapshots`` (before and after), or — ``snapshots`` is
    ``None`` — all of the type's. Every key is tried; the first error is raised after."""
    if not fields:
        return
    if snapshots is None:
        await cache.invalidate_prefix(lookup_prefix(tenant, entity_type))
        return
    first: Exception | None = None
    for key in lookup_keys_of(tenant, entity_type, fields, snapshots):
        try:
            await cache.invalidate(key)
        except Exception as exc:
            first = first or exc
    if first is not None:
        raise first
