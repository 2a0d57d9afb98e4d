"""The data product contract every adapter fulfils.

Callers (gateway, catalog, CLI) depend only on :class:`DataProductAdapter`. Adapter authors
usually subclass :class:`dictamesh.adapters.base.AdapterBase`, which implements this contract
around a handful of source-specific fetch/transform methods.

Example::

    adapter = registry.for_type("customer")     # an AdapterRegistry: who serves "customer"
    page = await adapter.query_entities(Query(filters=[FieldFilter(field="country", value="DE")]))
    async for event in adapter.stream_changes():
        ...

**Writes** are optional capabilities (``WRITE``: create/update/delete, ``COMMANDS``: named
commands such as ``reserve`` or ``charge``). Every write carries an idempotency key: the same
key twice has one effect at the source and gives the same answer (the contract suite in
:mod:`dictamesh.testing` checks it), which is also what lets the resilience policy retry a
write. An adapter without the capability raises :class:`OperationNotSupported`::

    if AdapterCapability.COMMANDS in adapter.capabilities and "charge" in adapter.commands:
        result = await adapter.run_command("charge", {...}, idempotency_key="saga-1:charge")
        result.data["id"], result.replayed
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dictamesh.core.errors import OperationNotSupported
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

__all__ = ["AdapterCapability", "DataProductAdapter", "WriteResult"]


class AdapterCapability(StrEnum):
    """What an adapter can do beyond the mandatory reads; callers check, not catch."""

    BATCH_GET = "batch_get"
    FILTER = "filter"
    SORT = "sort"
    CHANGE_POLLING = "change_polling"
    WEBHOOKS = "webhooks"
    #: create / update / delete entities
    WRITE = "write"
    #: named commands (``adapter.commands``), e.g. ``reserve``, ``release``, ``charge``
    COMMANDS = "commands"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one write did at the source."""

    #: the source's answer (for commands, what the command returned, e.g. the reservation)
    data: dict[str, Any] = field(default_factory=dict)
    #: the entity after the write, when the answer is one (``None`` for deletes, most commands)
    entity: Entity | None = None
    #: the source had seen this idempotency key: this is the first call's answer, replayed
    replayed: bool = False

    def same_effect(self, other: WriteResult) -> bool:
        """The same answer, whether or not it was replayed (what the contract suite checks)."""
        return self.data == other.data and self.entity == other.entity


class DataProductAdapter(AsyncResource, ABC):
    """One source system exposed as one data product (one canonical entity type)."""

    #: unique adapter name in a node, e.g. ``customers_directus``
    name: str
    #: canonical entity type served, e.g. ``customer``
    entity_type: str
    source: SourceRef
    capabilities: frozenset[AdapterCapability] = frozenset()
    #: named commands offered (with :attr:`AdapterCapability.COMMANDS`)
    commands: frozenset[str] = frozenset()

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

    async def create_entity(
        self, attributes: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult:
        """Create one entity at the source (capability ``WRITE``)."""
        raise OperationNotSupported(f"{self.name} does not create {self.entity_type} entities")

    async def update_entity(
        self, entity_id: str, changes: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult:
        """Change fields of one entity (capability ``WRITE``)."""
        raise OperationNotSupported(f"{self.name} does not update {self.entity_type} entities")

    async def delete_entity(self, entity_id: str, *, idempotency_key: str) -> WriteResult:
        """Delete one entity (capability ``WRITE``)."""
        raise OperationNotSupported(f"{self.name} does not delete {self.entity_type} entities")

    async def run_command(
        self, command: str, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult:
        """Run a named command (capability ``COMMANDS``, ``command in self.commands``)."""
        raise OperationNotSupported(f"{self.name} has no command {command!r}")

    async def connect(self) -> None:
        """Open clients; idempotent."""

    async def aclose(self) -> None:
        """Release clients; idempotent."""
