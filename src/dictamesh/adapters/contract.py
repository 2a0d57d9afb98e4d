"""The data product contract every adapter fulfils.

Callers (gateway, catalog, CLI) depend only on :class:`DataProductAdapter`. Adapter authors
usually subclass :class:`dictamesh.adapters.base.AdapterBase`, which implements this contract
around a handful of source-specific fetch/transform methods.

Example::

    adapter = registry.for_type("customer")     # an AdapterRegistry: who serves "customer"
    page = await adapter.query_entities(Query(filters=[FieldFilter(field="country", value="DE")]))
    async for event in adapter.stream_changes():
        ...
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from enum import StrEnum

from dictamesh.core.lifecycle import AsyncResource
from dictamesh.core.models import (
    SLA,
    AdapterMetrics,
    ChangeEvent,
    Entity,
    EntitySchema,
    HealthStatus,
    Lineage,
    Page,
    Query,
    SourceRef,
)

__all__ = ["AdapterCapability", "DataProductAdapter"]


class AdapterCapability(StrEnum):
    """What an adapter can do beyond the mandatory reads; callers check, not catch."""

    BATCH_GET = "batch_get"
    FILTER = "filter"
    SORT = "sort"
    CHANGE_POLLING = "change_polling"
    WEBHOOKS = "webhooks"


class DataProductAdapter(AsyncResource, ABC):
    """One source system exposed as one data product (one canonical entity type)."""

    #: unique adapter name in a node, e.g. ``customers_directus``
    name: str
    #: canonical entity type served, e.g. ``customer``
    entity_type: str
    source: SourceRef
    capabilities: frozenset[AdapterCapability] = frozenset()

    @abstractmethod
    async def get_entity(self, entity_id: str) -> Entity:
        """One entity; raises :class:`~dictamesh.core.errors.EntityNotFound`."""

    async def get_entities(self, entity_ids: Sequence[str]) -> list[Entity | None]:
        """Many entities in one source call where the source allows; ``None`` for missing ids.

        The result is aligned with ``entity_ids``. DataLoaders depend on this.
        """
        page = await self.query_entities(
            Query(ids=list(dict.fromkeys(entity_ids)), limit=max(1, len(set(entity_ids))))
        )
        by_id = {e.id: e for e in page.items}
        return [by_id.get(i) for i in entity_ids]

    @abstractmethod
    async def query_entities(self, query: Query) -> Page:
        """Filtered, sorted, cursor-paginated entities."""

    @abstractmethod
    def get_schema(self) -> EntitySchema: ...

    @abstractmethod
    def get_sla(self) -> SLA: ...

    @abstractmethod
    def get_lineage(self) -> Lineage: ...

    @abstractmethod
    def stream_changes(self) -> AsyncIterator[ChangeEvent]:
        """Change events as they are detected (polling and/or webhooks), until closed."""

    @abstractmethod
    async def health_check(self) -> HealthStatus: ...

    @abstractmethod
    def get_metrics(self) -> AdapterMetrics: ...

    async def connect(self) -> None:
        """Open clients; idempotent."""

    async def aclose(self) -> None:
        """Release clients; idempotent."""
