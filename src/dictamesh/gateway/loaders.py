"""Per-request DataLoaders: every entity fetch of one GraphQL request is batched.

Two kinds, created lazily on first use and cached for the request:

* :meth:`Loaders.entity` — by id, one per entity type. One batch is one
  ``adapter.get_entities(ids)`` call (at most ``MAX_QUERY_LIMIT`` ids per batch).
* :meth:`Loaders.related` — "which ``invoice`` entities have ``customer_id`` = key", one
  per (entity type, via field). One batch is one ``adapter.get_related`` call: one
  ``query_entities`` call with an ``in`` filter on the via field and
  ``limit=MAX_QUERY_LIMIT``, grouped back per key, following ``next_cursor`` until the last
  page and refusing with ``QUERY_LIMIT_EXCEEDED`` beyond ``max_related_items`` entities per
  batch rather than answering with a silently truncated list. An ``AdapterBase`` answers
  the keys it has cached without a source call (``docs/adapters.md``), so a request costs
  at most one source call per entity type and relationship level, and none once cached.

Entities fetched by either loader (or primed by a page query) also fill the by-id cache,
so ``invoice.customer`` after ``customers { invoices }`` costs no further call.

Example::

    loaders = Loaders(registry)
    customer = await loaders.entity("customer").load("c-1")         # Entity | None
    invoices = await loaders.related("invoice", "customer_id").load("c-1")  # list[Entity]
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Protocol

from strawberry.dataloader import DataLoader

from dictamesh.adapters.contract import DEFAULT_MAX_RELATED_ITEMS, DataProductAdapter
from dictamesh.core.errors import SourceError, SourceResponseError
from dictamesh.core.models import MAX_QUERY_LIMIT, Entity, FieldType
from dictamesh.gateway.staleness import answer_from_cache
from dictamesh.observability.tracing import traced

__all__ = ["DEFAULT_MAX_RELATED_ITEMS", "Loaders"]


class _AdapterLookup(Protocol):
    def for_type(self, entity_type: str) -> DataProductAdapter: ...


class Loaders:
    """The DataLoaders of one request (never share an instance between requests)."""

    def __init__(
        self, registry: _AdapterLookup, *, max_related_items: int = DEFAULT_MAX_RELATED_ITEMS
    ) -> None:
        self._registry = registry
        self.max_related_items = max_related_items
        self._entity: dict[str, DataLoader[str, Entity | None]] = {}
        self._related: dict[tuple[str, str], DataLoader[str, list[Entity]]] = {}

    def entity(self, entity_type: str) -> DataLoader[str, Entity | None]:
        """Entities of ``entity_type`` by id (``None`` for ids the source does not know)."""
        loader = self._entity.get(entity_type)
        if loader is None:
            loader = DataLoader(
                partial(self._load_entities, entity_type), max_batch_size=MAX_QUERY_LIMIT
            )
            self._entity[entity_type] = loader
        return loader

    def related(
        self, entity_type: str, via_field: str, key_type: FieldType | None = None
    ) -> DataLoader[str, list[Entity]]:
        """Entities of ``entity_type`` whose ``via_field`` equals the key, in source order.

        ``key_type`` is the via field's declared type: ids are strings, but an ``integer``
        via field is filtered with integers so strict sources match.
        """
        loader = self._related.get((entity_type, via_field))
        if loader is None:
            loader = DataLoader(
                partial(self._load_related, entity_type, via_field, key_type),
                max_batch_size=MAX_QUERY_LIMIT,  # the `in` filter accepts no more values
            )
            self._related[(entity_type, via_field)] = loader
        return loader

    def prime(self, entities: Iterable[Entity]) -> None:
        """Remember entities fetched some other way, so by-id loads reuse them."""
        for entity in entities:
            self.entity(entity.type).prime(entity.id, entity)

    # --- batch functions --------------------------------------------------------------

    @traced(
        "dataloader.batch",
        attributes=lambda _self, entity_type, ids: {
            "dictamesh.entity.type": entity_type,
            "dataloader.keys": len(ids),
        },
    )
    async def _load_entities(
        self, entity_type: str, ids: list[str]
    ) -> list[Entity | BaseException | None]:
        adapter = self._registry.for_type(entity_type)
        try:
            found = list(await adapter.get_entities(ids))
        except SourceError as exc:
            # the source failed: cached ids still answer, only the others fail (per key)
            return await answer_from_cache(adapter, ids, exc)
        if len(found) != len(ids):
            raise SourceResponseError(
                f"adapter {adapter.name!r} returned {len(found)} results for {len(ids)} ids",
                adapter=adapter.name,
            )
        return list(found)

    @traced(
        "dataloader.batch",
        attributes=lambda _self, entity_type, via_field, _key_type, keys: {
            "dictamesh.entity.type": entity_type,
            "dataloader.via_field": via_field,
            "dataloader.keys": len(keys),
        },
    )
    async def _load_related(
        self, entity_type: str, via_field: str, key_type: FieldType | None, keys: list[str]
    ) -> list[list[Entity]]:
        adapter = self._registry.for_type(entity_type)
        groups = await adapter.get_related(
            via_field, keys, key_type=key_type, max_items=self.max_related_items
        )
        if len(groups) != len(keys):
            raise SourceResponseError(
                f"adapter {adapter.name!r} returned {len(groups)} groups for {len(keys)} keys",
                adapter=adapter.name,
            )
        self.prime(entity for group in groups for entity in group)
        return groups
