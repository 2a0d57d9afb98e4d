"""Sagas in GraphQL: start them, read them, and follow one until it ends.

:class:`SagaPart` is a :class:`~dictamesh.gateway.schema_builder.SchemaPart` over the
node's :class:`~dictamesh.saga.engine.SagaEngine`; it adds::

    type Query {
      saga(id: ID!): Saga                                   # null when unknown
      sagas(status: SagaStatus, saga: String, first: Int = 20): [Saga!]!
    }
    type Mutation {
      createInvoice(input: CreateInvoiceInput!, idempotencyKey: String): SagaStarted!
      startSaga(saga: String!, input: JSON!, idempotencyKey: String): SagaStarted!
    }
    type Subscription {
      sagaStatus(id: ID!): Saga        # now, then at every change, until the saga ends
    }

``createInvoice`` exists when the engine runs ``create_invoice``; ``startSaga`` starts any
saga the engine knows by its name (``create_invoice``), with its input as JSON. Every field
acts for the caller's tenant (``current_tenant``) and starts sagas as the caller
(``GatewayContext.principal``). Bad input is ``BAD_USER_INPUT`` (with
``details.problems``), a caller who may not make every write of the saga ``FORBIDDEN``: in
both cases nothing was stored and no source called; an ``idempotencyKey`` used before for
another input is ``IDEMPOTENCY_KEY_REUSED``.

``sagaStatus`` re-reads the saga whenever this node stores a change of it, and at least every
poll interval of the engine (so it follows a saga another node runs too).

Example::

    schema = build_schema(registry, parts=[CatalogPart(catalog), SagaPart(engine)])
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from dictamesh.core.context import current_tenant
from dictamesh.core.errors import ValidationError
from dictamesh.gateway.context import gateway_context
from dictamesh.gateway.errors import bad_user_input
from dictamesh.saga.engine import SagaEngine
from dictamesh.saga.inputs import MAX_LIST_LIMIT, check_limit, check_saga_id, saga_name
from dictamesh.saga.store import ACTIVE_STATUSES, SagaNotFound, SagaRecord, StepRecord
from dictamesh.saga.store import SagaStatus as StoredStatus

__all__ = [
    "SAGA_TYPE_NAMES",
    "CreateInvoiceInput",
    "InvoiceLineInput",
    "Saga",
    "SagaPart",
    "SagaStarted",
    "SagaStatus",
    "SagaStep",
]

_CREATE_INVOICE = "create_invoice"


# the store's statuses are the GraphQL enum (one list of statuses in the code base)
strawberry.enum(StoredStatus, name="SagaStatus", description="Where a saga is in its life.")
SagaStatus = StoredStatus


@strawberry.type(name="SagaStep", description="One line of a saga's step log.")
class SagaStep:
    step: str
    phase: str = strawberry.field(description="action | compensation")
    status: str = strawberry.field(description="started | completed | failed | retrying | skipped")
    attempt: int
    error: JSON | None
    output: JSON | None
    node: str | None = strawberry.field(description="the node that ran the try")
    duration_ms: float | None
    at: datetime

    @classmethod
    def of(cls, step: StepRecord) -> SagaStep:
        return cls(
            step=step.step,
            phase=step.phase,
            status=step.status,
            attempt=step.attempt,
            error=_json(step.error),
            output=_json(step.output),
            node=step.node,
            duration_ms=step.duration_ms,
            at=step.at,
        )


async def _steps(root: Saga) -> list[SagaStep]:
    return [SagaStep.of(s) for s in await root._engine.steps(root.id, root._tenant)]


@strawberry.type(name="Saga", description="A saga: its input, progress, outputs and step log.")
class Saga:
    id: strawberry.ID
    saga: str = strawberry.field(description="the saga's name, e.g. create_invoice")
    status: SagaStatus
    failed_step: str | None = strawberry.field(description="the step whose failure undid it")
    error: JSON | None
    input: JSON
    outputs: JSON = strawberry.field(description="each completed step's output, by step")
    started_by: str | None = strawberry.field(description="the subject who started it")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    _engine: strawberry.Private[SagaEngine]
    _tenant: strawberry.Private[str]

    steps: list[SagaStep] = strawberry.field(
        resolver=_steps, description="Every try of every action and compensation, in order."
    )

    @classmethod
    def of(cls, record: SagaRecord, engine: SagaEngine) -> Saga:
        return cls(
            id=strawberry.ID(record.id),
            saga=record.saga_type,
            status=SagaStatus(record.status.value),
            failed_step=record.failed_step,
            error=_json(record.error),
            input=_json(record.input),
            outputs=_json(record.outputs),
            started_by=(record.principal or {}).get("subject"),
            created_at=record.created_at,
            updated_at=record.updated_at,
            finished_at=record.finished_at,
            _engine=engine,
            _tenant=record.tenant_id,
        )


@strawberry.type(name="SagaStarted", description="What starting a saga answers.")
class SagaStarted:
    saga_id: strawberry.ID
    status: SagaStatus
    created: bool = strawberry.field(
        description="false: the idempotencyKey was used before for this input (that saga)"
    )
    saga: Saga


@strawberry.input(name="InvoiceLineInput")
class InvoiceLineInput:
    product_id: str
    quantity: int


@strawberry.input(name="CreateInvoiceInput", description="The create_invoice saga's input.")
class CreateInvoiceInput:
    customer_id: str
    items: list[InvoiceLineInput]
    currency: str = "EUR"

    def to_payload(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "currency": self.currency,
            "items": [{"product_id": i.product_id, "quantity": i.quantity} for i in self.items],
        }


SAGA_TYPE_NAMES = frozenset(
    {"Saga", "SagaStep", "SagaStatus", "SagaStarted", "CreateInvoiceInput", "InvoiceLineInput"}
)
"""GraphQL type names the saga part defines (entity types may not use them)."""


def _json(value: Any) -> Any:
    """A JSON value as the ``JSON`` scalar takes it (typed ``Any`` for mypy)."""
    return value


def _field(
    resolver: Any,
    *,
    name: str,
    description: str,
    subscription: bool = False,
    graphql_type: Any = None,
) -> Any:
    made: Any = strawberry.field(
        resolver=resolver,
        name=name,
        description=description,
        is_subscription=subscription,
        graphql_type=graphql_type,
    )
    assert isinstance(made, StrawberryField)
    return made


def _checked_id(value: str) -> str:
    try:
        return check_saga_id(value)
    except ValidationError as exc:
        raise bad_user_input(exc.message) from None


class SagaPart:
    """The saga fields over ``engine`` (see the module docs)."""

    type_names = SAGA_TYPE_NAMES

    def __init__(self, engine: SagaEngine) -> None:
        self.engine = engine

    async def _start(
        self, info: Info, saga: str, payload: Any, idempotency_key: str | None
    ) -> SagaStarted:
        try:
            record, created = await self.engine.start(
                saga,
                payload,
                principal=gateway_context(info).principal,
                tenant=current_tenant.get(),
                idempotency_key=idempotency_key,
            )
        except ValidationError as exc:
            raise bad_user_input(exc.message, exc.details.get("errors")) from None
        return SagaStarted(
            saga_id=strawberry.ID(record.id),
            status=SagaStatus(record.status.value),
            created=created,
            saga=Saga.of(record, self.engine),
        )

    def root_fields(self) -> dict[str, StrawberryField]:
        engine = self.engine

        async def saga(id: strawberry.ID) -> Saga | None:
            try:
                record = await engine.get(_checked_id(id), current_tenant.get())
            except SagaNotFound:
                return None
            return Saga.of(record, engine)

        async def sagas(
            status: SagaStatus | None = None, saga: str | None = None, first: int | None = 20
        ) -> list[Saga]:
            first = 20 if first is None else first
            try:
                check_limit(first)
            except ValidationError as exc:
                raise bad_user_input(exc.message.replace("limit", "first")) from None
            records = await engine.store.list_sagas(
                engine.store.database.tenant(current_tenant.get()),
                status=StoredStatus(status.value) if status is not None else None,
                saga_type=saga_name(saga) if saga is not None else None,
                limit=first,
            )
            return [Saga.of(r, engine) for r in records]

        return {
            "saga": _field(saga, name="saga", description="One saga by id; null when unknown."),
            "sagas": _field(
                sagas,
                name="sagas",
                description=f"The newest sagas (at most {MAX_LIST_LIMIT}), optionally of one"
                " status or saga name.",
            ),
        }

    def entity_fields(self, entity_type: str) -> dict[str, StrawberryField]:
        return {}

    def mutation_fields(self) -> dict[str, StrawberryField]:
        part = self

        async def start_saga(
            info: Info, saga: str, input: JSON, idempotency_key: str | None = None
        ) -> SagaStarted:
            if saga not in part.engine.definitions:
                raise bad_user_input(
                    f"no saga {saga[:64]!r}; known: {', '.join(sorted(part.engine.definitions))}"
                )
            return await part._start(info, saga, input, idempotency_key)

        fields = {
            "start_saga": _field(
                start_saga,
                name="startSaga",
                description="Start a saga by name with its input; it runs in the background"
                " (follow it with `sagaStatus`).",
            )
        }
        if _CREATE_INVOICE in self.engine.definitions:

            async def create_invoice(
                info: Info, input: CreateInvoiceInput, idempotency_key: str | None = None
            ) -> SagaStarted:
                return await part._start(info, _CREATE_INVOICE, input.to_payload(), idempotency_key)

            fields["create_invoice"] = _field(
                create_invoice,
                name="createInvoice",
                description="Reserve the stock, create the invoice and charge the customer, or"
                " undo what was done (the create_invoice saga); runs in the background.",
            )
        return fields

    def subscription_fields(self) -> dict[str, StrawberryField]:
        engine = self.engine

        async def saga_status(id: strawberry.ID) -> AsyncIterator[Saga]:
            saga_id = _checked_id(id)
            first = await engine.get(saga_id, current_tenant.get())  # SAGA_NOT_FOUND
            return _follow(engine, first)

        return {
            "saga_status": _field(
                saga_status,
                name="sagaStatus",
                description="The saga now, then again each time its status or step log"
                " changes, until it ends (completed, compensated, failed or aborted).",
                subscription=True,
                graphql_type=Optional[Saga],  # noqa: UP045 (a runtime type expression)
            )
        }


def _version(record: SagaRecord) -> tuple[Any, ...]:
    return (record.status, record.step_index, record.compensate_index, record.updated_at)


async def _follow(engine: SagaEngine, record: SagaRecord) -> AsyncIterator[Saga]:
    yield Saga.of(record, engine)
    seen = _version(record)
    while record.status in ACTIVE_STATUSES:
        await engine.changed(record.id, timeout=engine.poll_interval_seconds)
        record = await engine.get(record.id, record.tenant_id)
        if _version(record) != seen:
            seen = _version(record)
            yield Saga.of(record, engine)
