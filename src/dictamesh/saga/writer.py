"""Saga steps' writes: to the adapter serving an entity type, governed and audited.

:class:`GovernedWriters` is the engine's :class:`~dictamesh.saga.engine.WriterFactory` over a
node's adapter registry and its :class:`~dictamesh.governance.writes.WriteGuard`: every
write of a step is checked against the rights of the principal who started the saga (also
when the saga is resumed by another node, hours later) and lands in the audit log.

Example::

    writers = GovernedWriters(node.registry, WriteGuard(governance))
    writers.check(principal, ["product", "invoice", "payment"])   # PermissionDenied?
    result = await writers.writer(principal).command("payment", "charge", {...},
                                                     idempotency_key="saga:..:a")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dictamesh.adapters.contract import DataProductAdapter, WriteResult
from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.core.models import Entity
from dictamesh.core.principal import Principal
from dictamesh.governance.writes import WriteGuard

__all__ = ["GovernedWriters", "PrincipalWriter"]


@dataclass(frozen=True, slots=True)
class PrincipalWriter:
    """Writes as one principal (a :class:`~dictamesh.saga.definition.Writer`)."""

    registry: AdapterRegistry
    guard: WriteGuard
    principal: Principal | None

    def _adapter(self, entity_type: str) -> DataProductAdapter:
        return self.registry.for_type(entity_type)

    async def get(self, entity_type: str, entity_id: str) -> Entity:
        return await self._adapter(entity_type).get_entity(entity_id)

    async def command(
        self, entity_type: str, command: str, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult:
        return await self.guard.run_command(
            self._adapter(entity_type),
            command,
            payload,
            idempotency_key=idempotency_key,
            principal=self.principal,
        )

    async def create(
        self, entity_type: str, attributes: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult:
        return await self.guard.create_entity(
            self._adapter(entity_type),
            attributes,
            idempotency_key=idempotency_key,
            principal=self.principal,
        )


@dataclass(frozen=True, slots=True)
class GovernedWriters:
    registry: AdapterRegistry
    guard: WriteGuard

    def writer(self, principal: Principal | None) -> PrincipalWriter:
        return PrincipalWriter(self.registry, self.guard, principal)

    async def check(self, principal: Principal | None, entity_types: Sequence[str]) -> None:
        """Every type must be served here (else 404 before anything starts) and writable
        by ``principal`` (else :class:`~dictamesh.core.errors.PermissionDenied`)."""
        targets = [(t, self.registry.for_type(t).source.domain) for t in entity_types]
        await self.guard.check(principal, targets)
