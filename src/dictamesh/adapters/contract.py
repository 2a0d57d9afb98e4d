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

from dictamesh.core.errors import OperationNotSupported, QueryLimitExceeded, SourceResponseError
from dictamesh.core.lifecycle import AsyncResource
from dictamesh.core.models import (
    MAX_QUERY_LIMIT,
    SLA,
    AdapterMetrics,
    ChangeEvent,
    Entity,
    EntitySchema,
    FieldFilter,
    FieldType,
    FilterOp,
    HealthStatus,
    Lineage,
    Page,
    Query,
    SourceRef,
)

__all__ = ["DEFAULT_MAX_RELATED_ITEMS", "AdapterCapability", "DataProductAdapter", "WriteResult"]

DEFAULT_MAX_RELATED_ITEMS = 10_000
"""Most entities one :meth:`DataProductAdapter.get_related` call may gather across pages."""


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

    async def get_related(
        self,
        via_field: str,
        keys: Sequence[str],
        *,
        key_type: FieldType | None = None,
        max_items: int = DEFAULT_MAX_RELATED_ITEMS,
    ) -> list[list[Entity]]:
        """The inverse lookup: per key (aligned with ``keys``), the entities whose
        ``via_field`` equals it, in source order (at most ``MAX_QUERY_LIMIT`` keys).

        One :meth:`query_entities` call with an ``in`` filter on the via field and
        ``limit=MAX_QUERY_LIMIT``; a ``next_cursor`` is followed (same query, next cursor)
        up to ``max_items`` entities, beyond which it raises ``QUERY_LIMIT_EXCEEDED``
        rather than answer with a silently truncated list. ``key_type`` is the via field's
        declared type: keys are strings, but an ``integer`` field is filtered with integers
        so strict sources match. :class:`~dictamesh.adapters.base.AdapterBase` caches the
        answers per key (``docs/adapters.md``).
        """
        groups: dict[str, list[Entity]] = {key: [] for key in keys}
        values: list[Any] = [_filter_value(key, key_type) for key in groups]
        query = Query(
            filters=[FieldFilter(field=via_field, op=FilterOp.IN, value=values)],
            limit=MAX_QUERY_LIMIT,
        )
        fetched = 0
        while True:
            page = await self.query_entities(query)
            fetched += len(page.items)
            for entity in page.items:
                for key in _keys_of(entity.attributes.get(via_field)):
                    group = groups.get(key)
                    if group is not None:
                        group.append(entity)
            if not page.next_cursor:
                break
            if fetched >= max_items:
                raise QueryLimitExceeded(
                    f"more than {max_items} {self.entity_type} entities match"
                    f" {via_field} for one batch; query {self.entity_type} with filters instead",
                    entity_type=self.entity_type,
                    via_field=via_field,
                    limit=max_items,
                )
            if page.next_cursor == query.cursor:
                raise SourceResponseError(
                    f"adapter {self.name!r} returned the same cursor twice",
                    adapter=self.name,
                )
            query = query.model_copy(update={"cursor": page.next_cursor})
        return [groups[key] for key in keys]

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


def _filter_value(key: str, key_type: FieldType | None) -> str | int:
    if key_type is FieldType.INTEGER and key.lstrip("-").isdigit():
        return int(key)
    return key


def _keys_of(value: Any) -> Sequence[str]:
    if value is None:
        return ()
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return (str(value),)
