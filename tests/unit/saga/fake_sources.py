"""An in-memory stand-in for the sources' write side, for the engine's unit tests.

It honours idempotency keys like the sample sources (same key → the stored answer, no new
effect) and counts effects per kind, so tests assert "exactly once" the way the crash tests
do at the real sources. Faults are queued per command: each call pops the next one.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dictamesh.adapters.contract import WriteResult
from dictamesh.core.errors import PermissionDenied, SourceUnavailable, WriteRejected
from dictamesh.core.models import Entity, SourceRef
from dictamesh.core.principal import Principal

_SOURCE = SourceRef(domain="products", system="fake")


@dataclass
class FakeSources:
    effects: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    answers: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    log: list[tuple[str, str]] = field(default_factory=list)
    created_by_key: dict[str, str] = field(default_factory=dict)
    denied_types: set[str] = field(default_factory=set)
    hang: asyncio.Event = field(default_factory=asyncio.Event)
    #: seconds each call takes
    delay: float = 0.0
    _n: int = 0

    def fail(self, command: str, *faults: str) -> None:
        """Queue faults for ``command``: ``decline``, ``unavailable``, ``hang``, ``reject``."""
        self.faults[command].extend(faults)

    # --- WriterFactory --------------------------------------------------------------

    def writer(self, principal: Principal | None) -> FakeSources:
        return self

    async def check(self, principal: Principal | None, entity_types: Sequence[str]) -> None:
        denied = [t for t in entity_types if t in self.denied_types]
        if denied:
            raise PermissionDenied(f"may not write {denied}")

    # --- Writer -----------------------------------------------------------------------

    async def get(self, entity_type: str, entity_id: str) -> Entity:
        return Entity(
            type=entity_type, id=entity_id, attributes={"price": 12.5}, source=_SOURCE, version=1
        )

    async def create(
        self, entity_type: str, attributes: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult:
        return await self.command(
            entity_type, "create", attributes, idempotency_key=idempotency_key
        )

    async def command(
        self, entity_type: str, command: str, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult:
        self.calls[command] += 1
        self.log.append((command, idempotency_key))
        if self.delay:
            await asyncio.sleep(self.delay)
        queued = self.faults.get(command)
        fault = queued.popleft() if queued else None
        if fault == "unavailable":
            raise SourceUnavailable(f"{command}: source down")
        if fault == "hang":
            await self.hang.wait()
        if idempotency_key in self.answers:
            stored = self.answers[idempotency_key]
            if isinstance(stored, Exception):
                raise stored
            return WriteResult(data=stored, replayed=True)
        if fault in ("decline", "reject"):
            error = WriteRejected(f"{command} refused", reason="card_declined")
            self.answers[idempotency_key] = error
            raise error
        if fault == "apply_then_unavailable":  # applied, answer lost
            self._apply(command, payload, idempotency_key)
            raise SourceUnavailable(f"{command}: answer lost")
        return WriteResult(data=self._apply(command, payload, idempotency_key))

    def _apply(self, command: str, payload: Mapping[str, Any], key: str) -> dict[str, Any]:
        lookup = next((v for k, v in payload.items() if k.endswith("_key")), None)
        if lookup is not None and lookup not in self.created_by_key:
            data: dict[str, Any] = {"found": False}
        else:
            self._n += 1
            data = {"id": f"{command}-{self._n}", **payload}
            self.effects[command] += 1
            self.created_by_key[key] = data["id"]
        self.answers[key] = data
        return data
