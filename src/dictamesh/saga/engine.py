"""The saga engine: durable execution of :class:`SagaDefinition` steps with compensation.

Per saga, a state machine::

    running ──every step done──▶ completed
       │ a step failed
       ▼
    compensating ──every done step undone──▶ compensated
       │ a compensation failed for good
       ▼
    failed (needs attention) ──saga retry──▶ compensating      ──saga abort──▶ aborted

**Durability.** The step log gets a ``started`` row *before* each try of an action or a
compensation and a ``completed``/``failed`` row *after* it, in the same transaction that
moves the saga's cursor (:class:`~dictamesh.saga.store.SagaStore`). A node that dies mid-step
leaves the cursor on that step; whoever resumes the saga runs the step again with the same
idempotency key (saga id + step + phase), which the source answers with its stored result —
so every source effect happens once.

**Failures.** A step's failure is *permanent* when the source refused the request
(:class:`~dictamesh.core.errors.SourceRejectedRequest`, e.g. ``card_declined``) or the call
was invalid or forbidden: the step had no effect, compensation starts with the step before
it. Anything else (timeouts, 5xx, an open breaker, an unreachable source) is *transient*:
retried with backoff under the step's :class:`StepRetry`. When a step fails for good,
compensation runs from that step backwards — the failed step's own compensation too, since
one of its calls may have acted or its outcome is unknown: compensations find what the
action created by the action's idempotency key and do nothing when they find nothing. A
compensation failing permanently, or transiently beyond its retries, parks the saga as
``failed`` for an operator.

**Recovery and scale-out.** Sagas are worked on under a lease (the queue table): the node
that starts a saga holds it and runs it at once; a background loop claims due sagas nobody
holds (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), renews the leases of the sagas it runs,
and at start frees the leases of its own previous process, so unfinished sagas resume on
restart at once and a dead node's sagas are taken over by another when their leases expire.
Every write of progress checks the lease: a node that lost it stops (``LeaseLost``).

Example::

    engine = SagaEngine(store, [CREATE_INVOICE], writers, node="node-1")
    await engine.connect()                                       # recovery loop running
    record, created = await engine.start("create_invoice", payload, principal=p,
                                         idempotency_key="order-42")
    await engine.wait(record.id, record.tenant_id, timeout=30)   # until it ends
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import pydantic

from dictamesh.core.context import bind
from dictamesh.core.errors import (
    DictaMeshError,
    NotFoundError,
    PermissionDenied,
    SourceError,
    SourceRejectedRequest,
    ValidationError,
)
from dictamesh.core.lifecycle import AsyncResource
from dictamesh.core.models import validate_idempotency_key
from dictamesh.core.principal import Principal
from dictamesh.observability.tracing import context_from_traceparent, current_traceparent, span
from dictamesh.saga.definition import (
    SagaDefinition,
    SagaStep,
    StepContext,
    StepRetry,
    Writer,
    request_hash,
)
from dictamesh.saga.store import (
    ACTIVE_STATUSES,
    ClaimedSaga,
    LeaseLost,
    NewSaga,
    SagaRecord,
    SagaStatus,
    SagaStore,
    StepLog,
    StepRecord,
)

__all__ = ["SagaEngine", "SagaListener", "SagaStateError", "WriterFactory"]

log = logging.getLogger("dictamesh.saga")

ACTION = "action"
COMPENSATION = "compensation"


class SagaStateError(DictaMeshError):
    """The operation does not apply to the saga in its current status."""

    code = "SAGA_STATE_CONFLICT"
    http_status = 409


class WriterFactory(Protocol):
    """Governed writers for a principal, and the check made before a saga starts."""

    def writer(self, principal: Principal | None) -> Writer: ...

    async def check(self, principal: Principal | None, entity_types: Sequence[str]) -> None:
        """:class:`PermissionDenied` unless ``principal`` may write every one of them."""


class SagaListener(Protocol):
    """Told of every saga transition after it is stored (events, metrics)."""

    def saga_event(
        self, record: SagaRecord, event: str, *, step: str | None = None, duration: float = 0.0
    ) -> Awaitable[None]:
        """``event``: started, step_completed, step_failed, step_compensated, completed,
        compensated, failed, aborted; ``duration``: the saga's age when it ended."""

    def step_finished(self, saga: str, step: str, phase: str, seconds: float) -> None:
        """One try of a step's action or compensation ended (success or not)."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    ok: bool
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    attempt: int = 1


def _error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, DictaMeshError):
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        reason = exc.details.get("reason")
        if isinstance(reason, str):
            body["reason"] = reason
        return body
    if isinstance(exc, TimeoutError):
        return {"code": "STEP_TIMEOUT", "message": "the step did not finish in its timeout"}
    return {"code": "INTERNAL", "message": type(exc).__name__}


def is_transient(exc: BaseException) -> bool:
    """Whether trying again may give another answer (and the first try may have acted)."""
    if isinstance(exc, TimeoutError):
        return True
    if isinstance(exc, SourceRejectedRequest):
        return False  # the source answered: no
    if isinstance(exc, SourceError):
        return True  # unavailable, rate-limited, open breaker, a garbled answer
    # invalid, forbidden, unknown: no; the catalog, the bus, a bug: may pass
    return not isinstance(exc, ValidationError | PermissionDenied | NotFoundError)


class SagaEngine(AsyncResource):
    """Runs sagas of ``definitions`` for one node."""

    def __init__(
        self,
        store: SagaStore,
        definitions: Sequence[SagaDefinition],
        writers: WriterFactory,
        *,
        node: str,
        lease_seconds: float = 30.0,
        poll_interval_seconds: float = 1.0,
        max_concurrent: int = 32,
        listeners: Sequence[SagaListener] = (),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        run_workers: bool = True,
    ) -> None:
        """``run_workers`` False: submit only (an API node beside saga-role nodes): new
        sagas are stored unleased and run by whichever node's workers claim them first;
        this engine claims and runs none."""
        self.store = store
        self.run_workers = run_workers
        self.definitions = {d.name: d for d in definitions}
        self.writers = writers
        self.node = node
        #: this process's lease owner id: the node name and a per-process suffix
        self.owner = f"{node}/{uuid.uuid4().hex[:12]}"
        self.lease_seconds = lease_seconds
        self.poll_interval_seconds = poll_interval_seconds
        self.max_concurrent = max_concurrent
        self.listeners = list(listeners)
        self._sleep = sleep
        self._running: dict[str, asyncio.Task[None]] = {}
        self._wakeup = asyncio.Event()
        self._changed: dict[str, asyncio.Event] = {}
        #: the newest state of sagas run here, for waiters (saves them a read)
        self._latest: dict[str, SagaRecord] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._closing = False

    # --- public ------------------------------------------------------------------------

    def definition(self, saga: str) -> SagaDefinition:
        try:
            return self.definitions[saga]
        except KeyError:
            raise NotFoundError(f"no saga type {saga!r}", saga=saga) from None

    def validate(self, saga: str, payload: Any) -> dict[str, Any]:
        """The saga's input, validated by its model, as JSON; :class:`ValidationError`."""
        definition = self.definition(saga)
        try:
            model = definition.input_model.model_validate(payload)
        except pydantic.ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors(include_url=False, include_input=False)[:20]
            ]
            raise ValidationError(f"invalid {saga} input", errors=problems) from None
        return model.model_dump(mode="json")

    async def start(
        self,
        saga: str,
        payload: Any,
        *,
        principal: Principal | None = None,
        tenant: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[SagaRecord, bool]:
        """Validate, check the caller may make every write of the saga, store it and run it.

        ``(record, False)``: the key was used before for the same input (that saga).
        Bad input → :class:`ValidationError`, no right → :class:`PermissionDenied`; in
        both cases nothing was stored and no source called."""
        definition = self.definition(saga)
        data = self.validate(saga, payload)
        if idempotency_key is not None:
            try:
                validate_idempotency_key(idempotency_key)
            except ValueError as exc:
                raise ValidationError(str(exc), field="idempotency_key") from None
        await self.writers.check(principal, definition.writes)
        tenant = self.store.database.tenant(tenant or (principal.tenant if principal else None))
        saga_id = str(uuid.uuid4())
        with span(
            f"saga {saga}", attributes={"dictamesh.saga": saga, "dictamesh.saga_id": saga_id}
        ):
            traceparent = current_traceparent()
        record, created = await self.store.create(
            NewSaga(
                id=saga_id,
                tenant_id=tenant,
                saga_type=saga,
                input=data,
                request_hash=request_hash(saga, data),
                idempotency_key=idempotency_key,
                principal=_principal_json(principal),
                traceparent=traceparent,
            ),
            owner=self.owner if self.run_workers else None,
            lease_seconds=self.lease_seconds,
            entries=[StepLog(definition.steps[0].name, ACTION, "started", 1)],
            node=self.node,
        )
        if created:
            await self._notify(record, "started")
            if not self.run_workers:
                return record, created  # a worker node's claim loop picks it up
            self._launch(ClaimedSaga(record.id, record.tenant_id, record.saga_type), announced=True)
        return record, created

    async def get(self, saga_id: str, tenant: str | None = None) -> SagaRecord:
        return await self.store.get(saga_id, self.store.database.tenant(tenant))

    async def steps(self, saga_id: str, tenant: str | None = None) -> list[StepRecord]:
        return await self.store.steps(saga_id, self.store.database.tenant(tenant))

    async def retry(self, saga_id: str, tenant: str | None = None) -> SagaRecord:
        """Compensate again a saga that needs attention (after the cause was fixed)."""
        record = await self._needing_attention(saga_id, tenant, "retried")
        reopened = await self.store.reopen(record.id, record.tenant_id, SagaStatus.COMPENSATING)
        self._wakeup.set()
        return reopened

    async def abort(self, saga_id: str, tenant: str | None = None) -> SagaRecord:
        """Give up on a saga that needs attention (an operator settled it by hand)."""
        record = await self._needing_attention(saga_id, tenant, "aborted")
        aborted = await self.store.reopen(record.id, record.tenant_id, SagaStatus.ABORTED)
        await self._notify(aborted, "aborted")
        return aborted

    async def wait(
        self,
        saga_id: str,
        tenant: str | None = None,
        *,
        timeout: float = 30.0,
        known: SagaRecord | None = None,
    ) -> SagaRecord:
        """The saga once it is no longer running or compensating (or when ``timeout``
        ends); ``known``: its state as the caller has it (saves reading it first)."""
        deadline = time.monotonic() + timeout
        record = known if known is not None else await self.get(saga_id, tenant)
        while record.status in ACTIVE_STATUSES:
            left = deadline - time.monotonic()
            if left <= 0:
                return record
            latest = await self.changed(saga_id, timeout=min(left, self.poll_interval_seconds))
            # run here: the state as stored; run elsewhere: read it
            record = latest if latest is not None else await self.get(saga_id, tenant)
        return record

    async def changed(self, saga_id: str, *, timeout: float) -> SagaRecord | None:
        """Until this node stores a change of ``saga_id`` (then its new state), at most
        ``timeout`` seconds (then ``None``: a saga run by another node is seen by asking
        again, so callers poll with this)."""
        event = self._changed.setdefault(saga_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return None
        record = self._latest.get(saga_id)
        if record is not None and record.status not in ACTIVE_STATUSES:
            del self._latest[saga_id]  # ended: handed over once
        return record

    @property
    def in_flight(self) -> dict[str, int]:
        """Sagas this node is running now, by saga type."""
        counts: dict[str, int] = {name: 0 for name in self.definitions}
        for task in self._running.values():
            saga = task.get_name().split(":", 2)[1]
            counts[saga] = counts.get(saga, 0) + 1
        return counts

    # --- lifecycle ---------------------------------------------------------------------

    async def connect(self) -> None:
        """Free this node's earlier leases and start claiming sagas (idempotent; submit
        only: nothing to claim)."""
        if self._loop_task is not None or not self.run_workers:
            return
        self._closing = False
        freed = await self.store.release_previous_lives(self.node, self.owner)
        if freed:
            log.info("resuming %d saga(s) left by this node's previous process", freed)
        self._loop_task = asyncio.create_task(self._claim_loop(), name="saga-claims")

    async def aclose(self) -> None:
        """Stop claiming, stop the running sagas and give their leases back (they resume
        where they stopped on whichever node claims them next)."""
        self._closing = True
        tasks = [t for t in (self._loop_task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None
        self._running.clear()
        await self.store.aclose()  # a cancelled saga's commit may still be in flight
        with contextlib.suppress(Exception):
            await self.store.release(self.owner)

    # --- claiming and leases ----------------------------------------------------------

    async def _claim_loop(self) -> None:
        renew_every = max(0.05, self.lease_seconds / 3)
        next_renewal = time.monotonic() + renew_every
        while not self._closing:
            try:
                free = self.max_concurrent - len(self._running)
                for claimed in await self.store.claim(
                    self.owner, lease_seconds=self.lease_seconds, limit=free
                ):
                    self._launch(claimed)
                if time.monotonic() >= next_renewal:
                    await self._renew()
                    next_renewal = time.monotonic() + renew_every
            except asyncio.CancelledError:
                raise
            except Exception:  # the catalog is down: try again next round
                log.warning("saga claim round failed", exc_info=True)
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wakeup.wait(), min(self.poll_interval_seconds, renew_every)
                )

    async def _renew(self) -> None:
        held = list(self._running)
        kept = await self.store.renew(self.owner, held, lease_seconds=self.lease_seconds)
        owners = await self.store.lease_owners(list(set(held) - kept))
        # not renewed: ended meanwhile (no row, or parked), or really taken by another node
        for saga_id in [i for i, owner in owners.items() if owner not in (None, self.owner)]:
            log.warning("lost the lease on saga %s: another node runs it now", saga_id)
            task = self._running.pop(saga_id, None)
            if task is not None:
                task.cancel()

    def _launch(
        self, claimed: ClaimedSaga, *, announced: bool = False, record: SagaRecord | None = None
    ) -> None:
        """Run a saga we hold; ``record``: its state when we have it (just stored)."""
        if claimed.saga_id in self._running or self._closing:
            return
        task = asyncio.create_task(
            self._execute(claimed, announced=announced, record=record),
            name=f"saga:{claimed.saga_type}:{claimed.saga_id}",
        )
        self._running[claimed.saga_id] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._running.get(claimed.saga_id) is t:
                del self._running[claimed.saga_id]
            self._wakeup.set()  # a slot is free

        task.add_done_callback(done)

    # --- execution ---------------------------------------------------------------------

    async def _execute(
        self, claimed: ClaimedSaga, *, announced: bool = False, record: SagaRecord | None = None
    ) -> None:
        try:
            if record is None:
                record = await self.store.get(claimed.saga_id, claimed.tenant_id)
            definition = self.definitions.get(record.saga_type)
            if definition is None:
                log.error("saga %s is of unknown type %r", record.id, record.saga_type)
                await self.store.release(self.owner, [record.id])
                return
            who = _principal_of(record.principal)
            with (
                bind(who, record.tenant_id),
                span(
                    f"saga {record.saga_type} run",
                    attributes={"dictamesh.saga": record.saga_type, "dictamesh.saga_id": record.id},
                    parent=context_from_traceparent(record.traceparent),
                ),
            ):
                await self._advance(definition, record, who, announced=announced)
        except LeaseLost:
            log.warning("saga %s: lease lost, stopping here", claimed.saga_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            # progress could not be stored (the catalog is down): give the lease back; the
            # saga resumes from its last stored step when it is claimed again
            log.exception("saga %s stopped; it resumes when claimed again", claimed.saga_id)
            with contextlib.suppress(Exception):
                await self.store.release(self.owner, [claimed.saga_id])

    async def _advance(
        self,
        definition: SagaDefinition,
        record: SagaRecord,
        who: Principal | None,
        *,
        announced: bool = False,
    ) -> None:
        """Run ``record`` to its end. ``announced``: the current step's first ``started``
        line is stored already (with the saga, or with the previous step's completion:
        one transaction fewer per step, and still stored before the step acts)."""
        writer = self.writers.writer(who)
        steps = definition.steps
        while record.status in ACTIVE_STATUSES:
            if record.status is SagaStatus.RUNNING:
                if record.step_index >= len(steps):
                    record = await self._save(record, status=SagaStatus.COMPLETED)
                    await self._notify(record, "completed", duration=self._age(record))
                    return
                step = steps[record.step_index]
                outcome = await self._run_phase(
                    record, step, ACTION, writer, who, announced=announced
                )
                announced = False
                if outcome.ok:
                    done = StepLog(
                        step.name, ACTION, "completed", outcome.attempt, output=outcome.output
                    )
                    following = record.step_index + 1
                    changes: dict[str, Any] = {
                        "step_index": following,
                        "outputs": {**record.outputs, step.name: outcome.output},
                    }
                    if following < len(steps):
                        announce = StepLog(steps[following].name, ACTION, "started", 1)
                        record = await self._save(record, done, announce, **changes)
                        announced = True
                        await self._notify(record, "step_completed", step=step.name)
                        continue
                    record = await self._save(record, done, status=SagaStatus.COMPLETED, **changes)
                    await self._notify(record, "step_completed", step=step.name)
                    await self._notify(record, "completed", duration=self._age(record))
                    return
                else:
                    # The failed step is compensated too: one of several calls may have
                    # acted, or its outcome is unknown; compensations undo nothing when
                    # they find nothing (they look up what the action's key created).
                    record = await self._save(
                        record,
                        StepLog(step.name, ACTION, "failed", outcome.attempt, error=outcome.error),
                        status=SagaStatus.COMPENSATING,
                        compensate_index=record.step_index,
                        failed_step=step.name,
                        error=outcome.error,
                    )
                    await self._notify(record, "step_failed", step=step.name)
            else:
                index = record.compensate_index if record.compensate_index is not None else -1
                if index < 0:
                    record = await self._save(record, status=SagaStatus.COMPENSATED)
                    await self._notify(record, "compensated", duration=self._age(record))
                    return
                step = steps[index]
                if step.compensation is None:
                    record = await self._save(
                        record,
                        StepLog(step.name, COMPENSATION, "skipped", 1),
                        compensate_index=index - 1,
                    )
                    continue
                outcome = await self._run_phase(record, step, COMPENSATION, writer, who)
                if outcome.ok:
                    record = await self._save(
                        record,
                        StepLog(
                            step.name,
                            COMPENSATION,
                            "completed",
                            outcome.attempt,
                            output=outcome.output,
                        ),
                        compensate_index=index - 1,
                    )
                    await self._notify(record, "step_compensated", step=step.name)
                else:
                    record = await self._save(
                        record,
                        StepLog(
                            step.name, COMPENSATION, "failed", outcome.attempt, error=outcome.error
                        ),
                        status=SagaStatus.FAILED,
                        error={**(outcome.error or {}), "compensating": step.name},
                    )
                    await self._notify(record, "failed", step=step.name, duration=self._age(record))
                    return

    async def _run_phase(
        self,
        record: SagaRecord,
        step: SagaStep,
        phase: str,
        writer: Writer,
        who: Principal | None,
        *,
        announced: bool = False,
    ) -> _Outcome:
        """Try one phase of one step under its timeout and retry policy (``announced``:
        the first try's ``started`` line is stored already)."""
        function = step.action if phase == ACTION else step.compensation
        assert function is not None
        retry: StepRetry = step.retry if phase == ACTION else step.compensation_retry
        attempt = 0
        while True:
            attempt += 1
            if not (announced and attempt == 1):
                await self._save(record, StepLog(step.name, phase, "started", attempt))
            context = StepContext(
                saga_id=record.id,
                saga=record.saga_type,
                step=step.name,
                phase=phase,
                input=record.input,
                outputs=record.outputs,
                attempt=attempt,
                principal=who,
                writer=writer,
                generation=record.generation,
            )
            started = time.monotonic()
            try:
                with span(
                    f"saga step {step.name} {phase}",
                    attributes={"dictamesh.saga_step": step.name, "dictamesh.attempt": attempt},
                ):
                    async with asyncio.timeout(step.timeout_seconds):
                        output = await function(context)
                self._observe_step(record, step.name, phase, time.monotonic() - started)
                return _Outcome(ok=True, output=dict(output or {}), attempt=attempt)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                elapsed = time.monotonic() - started
                self._observe_step(record, step.name, phase, elapsed)
                error = _error(exc)
                if not is_transient(exc):
                    log.info("saga %s: %s %s refused: %s", record.id, step.name, phase, error)
                    return _Outcome(ok=False, error=error, attempt=attempt)
                if not isinstance(exc, DictaMeshError | TimeoutError):
                    log.error("saga %s: %s %s raised", record.id, step.name, phase, exc_info=exc)
                if attempt >= retry.max_attempts:
                    # the tries ran out on a transient failure: the step may have acted
                    unknown = {**error, "outcome": "unknown"}
                    return _Outcome(ok=False, error=unknown, attempt=attempt)
                await self._save(
                    record,
                    StepLog(
                        step.name,
                        phase,
                        "retrying",
                        attempt,
                        error=error,
                        duration_ms=round(elapsed * 1000, 2),
                    ),
                )
                await self._sleep(retry.backoff(attempt))

    async def _save(self, record: SagaRecord, *entries: StepLog, **changes: Any) -> SagaRecord:
        """Store step-log lines and saga changes under our lease; the record as stored."""
        stored = await self.store.record_step(
            record.id,
            record.tenant_id,
            self.owner,
            entries,
            changes=changes,
            lease_seconds=self.lease_seconds,
            node=self.node,
        )
        record = replace(record, **stored)
        self._tell(record)
        return record

    def _tell(self, record: SagaRecord) -> None:
        """Wake whoever waits on this saga here, handing them the new state."""
        event = self._changed.pop(record.id, None)
        if record.status in ACTIVE_STATUSES or event is not None:
            self._latest[record.id] = record
        else:
            self._latest.pop(record.id, None)
        if len(self._latest) > 4 * self.max_concurrent:  # ended, and nobody read them
            for saga_id in [i for i, r in self._latest.items() if r.status not in ACTIVE_STATUSES]:
                del self._latest[saga_id]
        if event is not None:
            event.set()

    async def _needing_attention(self, saga_id: str, tenant: str | None, verb: str) -> SagaRecord:
        record = await self.get(saga_id, tenant)
        if record.status is not SagaStatus.FAILED:
            raise SagaStateError(
                f"saga {saga_id} is {record.status.value}: only a failed saga can be {verb}",
                status=record.status.value,
            )
        return record

    async def _notify(
        self, record: SagaRecord, event: str, *, step: str | None = None, duration: float = 0.0
    ) -> None:
        for listener in self.listeners:
            try:
                await listener.saga_event(record, event, step=step, duration=duration)
            except Exception:  # events and metrics never stop a saga
                log.warning("saga listener failed on %s", event, exc_info=True)

    def _observe_step(self, record: SagaRecord, step: str, phase: str, took: float) -> None:
        for listener in self.listeners:
            with contextlib.suppress(Exception):
                listener.step_finished(record.saga_type, step, phase, took)

    def _age(self, record: SagaRecord) -> float:
        return max(0.0, (self.store.database.now() - record.created_at).total_seconds())


def _principal_json(who: Principal | None) -> dict[str, Any] | None:
    if who is None:
        return None
    return {
        "subject": who.subject,
        "roles": sorted(who.roles),
        "tenant": who.tenant,
        "method": who.method,
    }


def _principal_of(data: Mapping[str, Any] | None) -> Principal | None:
    """The starter, as far as the saga needs it (subject, roles, tenant; no token claims)."""
    if not data:
        return None
    return Principal(
        subject=str(data["subject"]),
        roles=frozenset(data.get("roles") or ()),
        tenant=data.get("tenant"),
        method=data.get("method") or "jwt",
    )
