"""Sagas defined in code: steps with an action, a compensation, a timeout and a retry policy.

A step's action and compensation are async functions of a :class:`StepContext`. They act on
sources through ``ctx.command`` / ``ctx.create`` (governed, audited writes with the step's
idempotency key) and return a JSON object, the step's *output*, which later steps and the
compensation read from ``ctx.outputs``. The key of each call is derived from the saga id,
the step and the phase, so a step that is retried or resumed after a crash never acts twice.

Example::

    async def reserve(ctx: StepContext) -> dict[str, Any]:
        result = await ctx.command("product", "reserve", {"product_id": "prd_1", "quantity": 1})
        return result.data

    async def release(ctx: StepContext) -> dict[str, Any]:
        reservation = ctx.output("reserve")          # None: the reserve's outcome is unknown
        payload = {"reservation_id": reservation["id"]} if reservation else {"reserve_key":
                   ctx.action_key}
        return (await ctx.command("product", "release", payload)).data

    ORDER = SagaDefinition(
        name="place_order",
        input_model=OrderInput,
        steps=[SagaStep("reserve", reserve, release, timeout_seconds=5)],
    )
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from dictamesh.adapters.contract import WriteResult
from dictamesh.core.models import TYPE_NAME_PATTERN, Entity
from dictamesh.core.principal import Principal

__all__ = [
    "SagaDefinition",
    "SagaStep",
    "StepContext",
    "StepFunction",
    "StepRetry",
    "Writer",
    "request_hash",
]

_NAME = re.compile(TYPE_NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class StepRetry:
    """How often a failing call is tried again (transient failures only), with capped
    exponential backoff: ``initial_backoff * multiplier**(attempt-1)``, at most ``max_backoff``."""

    max_attempts: int = 5
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("retry needs max_attempts >= 1 and non-negative backoffs")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1)))


class Writer(Protocol):
    """Governed writes for one principal (what :class:`StepContext` calls), and reads."""

    async def get(self, entity_type: str, entity_id: str) -> Entity: ...

    async def command(
        self, entity_type: str, command: str, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult: ...

    async def create(
        self, entity_type: str, attributes: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult: ...


@dataclass(frozen=True, slots=True)
class StepContext:
    """What a step's action or compensation sees."""

    saga_id: str
    saga: str
    step: str
    #: ``action`` or ``compensation``
    phase: str
    #: the saga's validated input, as JSON
    input: Mapping[str, Any]
    #: outputs of the steps that completed so far, by step name
    outputs: Mapping[str, Any]
    #: 1 for the first try of this phase of this step
    attempt: int
    principal: Principal | None
    writer: Writer
    #: operator retries of the saga so far (compensation keys change with it)
    generation: int = 0

    @property
    def idempotency_key(self) -> str:
        """The key of this phase's source calls: the same on every retry and resume (a
        compensation's changes when an operator retries the saga, see ``generation``)."""
        return step_key(self.saga_id, self.step, self.phase, self.generation)

    @property
    def action_key(self) -> str:
        """The key the step's *action* used (a compensation finds what it created by it)."""
        return step_key(self.saga_id, self.step, "action")

    def output(self, step: str) -> Any:
        """The output of ``step``, ``None`` if it has none (not run, or outcome unknown)."""
        return self.outputs.get(step)

    async def command(
        self, entity_type: str, command: str, payload: Mapping[str, Any], *, call: str = ""
    ) -> WriteResult:
        """Run ``command`` on the adapter serving ``entity_type`` with this phase's key
        (``call`` tells apart several calls of one step: it is appended to the key)."""
        return await self.writer.command(
            entity_type, command, payload, idempotency_key=_keyed(self.idempotency_key, call)
        )

    async def create(
        self, entity_type: str, attributes: Mapping[str, Any], *, call: str = ""
    ) -> WriteResult:
        return await self.writer.create(
            entity_type, attributes, idempotency_key=_keyed(self.idempotency_key, call)
        )


def step_key(saga_id: str, step: str, phase: str, generation: int = 0) -> str:
    if phase != "compensation":
        return f"saga:{saga_id}:{step}:a"  # never changes: compensations look it up
    return f"saga:{saga_id}:{step}:c{generation or ''}"


def _keyed(key: str, call: str) -> str:
    return f"{key}:{call}" if call else key


StepFunction = Callable[[StepContext], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class SagaStep:
    """One step: ``action``, and ``compensation`` undoing it (``None``: nothing to undo)."""

    name: str
    action: StepFunction
    compensation: StepFunction | None = None
    #: bound on one try of the action (or compensation); an expired try is a transient failure
    timeout_seconds: float = 10.0
    retry: StepRetry = field(default_factory=StepRetry)
    #: compensations must finish: retried longer, then the saga needs attention
    compensation_retry: StepRetry = field(
        default_factory=lambda: StepRetry(max_attempts=10, initial_backoff=0.2, max_backoff=10.0)
    )
    #: entity types this step writes (checked against the starter's rights before it starts)
    writes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"step name {self.name!r} must match {TYPE_NAME_PATTERN}")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")


@dataclass(frozen=True, slots=True)
class SagaDefinition:
    """A saga type: its name, its input model and its steps, run in order."""

    name: str
    input_model: type[BaseModel]
    steps: Sequence[SagaStep]
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"saga name {self.name!r} must match {TYPE_NAME_PATTERN}")
        names = [s.name for s in self.steps]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"saga {self.name!r} needs steps with distinct names")

    @property
    def writes(self) -> tuple[str, ...]:
        """Every entity type the saga may write, in step order."""
        return tuple(dict.fromkeys(t for s in self.steps for t in s.writes))

    def step(self, index: int) -> SagaStep:
        return self.steps[index]


def request_hash(saga: str, payload: Mapping[str, Any]) -> str:
    """Fingerprint of a start request: the same idempotency key with other input is refused."""
    text = json.dumps({"saga": saga, "input": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
