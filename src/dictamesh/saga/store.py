"""Saga state in the catalog database: sagas, their step log, and the lease queue.

Every change of a saga is one transaction that also proves the writer still holds the
saga's lease (``fence``): a node whose lease expired, and whose saga another node took over,
cannot write a step result any more — it gets :class:`LeaseLost` and stops. Tables are
created by catalog migration ``0006_sagas``; sagas and steps are tenant rows (row-level
security on PostgreSQL), the queue is not (ids and tenants only).

Example::

    store = SagaStore(database)
    record, created = await store.create(new_saga, owner="node-1/ab12", lease_seconds=30)
    claimed = await store.claim("node-1/ab12", lease_seconds=30, limit=8)
    await store.record_step(record.id, record.tenant_id, "node-1/ab12", StepLog(...),
                            changes={"step_index": 1, "outputs": {...}}, lease_seconds=30)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.models import UTCDateTime
from dictamesh.catalog.tables import insert_for
from dictamesh.core.errors import DictaMeshError, NotFoundError
from dictamesh.core.group_commit import GroupCommit

__all__ = [
    "ACTIVE_STATUSES",
    "QUEUE",
    "SAGAS",
    "STEPS",
    "ClaimedSaga",
    "IdempotencyConflict",
    "LeaseLost",
    "NewSaga",
    "SagaNotFound",
    "SagaRecord",
    "SagaStatus",
    "SagaStore",
    "StepLog",
    "StepRecord",
    "saga_metadata",
]


class SagaStatus(StrEnum):
    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    #: a compensation could not finish: someone must look (``dictamesh saga retry|abort``)
    FAILED = "failed"
    #: given up by an operator after a failure (no more automatic work)
    ABORTED = "aborted"


#: statuses a node works on (the queue rows it may claim)
ACTIVE_STATUSES = (SagaStatus.RUNNING, SagaStatus.COMPENSATING)
TERMINAL_STATUSES = (SagaStatus.COMPLETED, SagaStatus.COMPENSATED, SagaStatus.ABORTED)

_JSON = JSON().with_variant(postgresql.JSONB(), "postgresql")
_ID = BigInteger().with_variant(Integer(), "sqlite")
#: the saga tables (migration 0006 creates them; the migration test compares against these)
saga_metadata = MetaData()

SAGAS = Table(
    "dictamesh_sagas",
    saga_metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False, server_default="default"),
    Column("saga_type", String(63), nullable=False),
    Column("status", String(24), nullable=False),
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64), nullable=False),
    Column("input", _JSON, nullable=False),
    Column("outputs", _JSON, nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("compensate_index", Integer),
    #: operator retries so far: a retried compensation calls with a new idempotency key
    Column("generation", Integer, nullable=False, server_default="0"),
    Column("failed_step", String(63)),
    Column("error", _JSON),
    Column("principal", _JSON),
    Column("traceparent", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    UniqueConstraint(
        "tenant_id",
        "saga_type",
        "idempotency_key",
        name="uq_dictamesh_sagas_tenant_id_saga_type_idempotency_key",
    ),
    Index("ix_dictamesh_sagas_tenant_id_status_created_at", "tenant_id", "status", "created_at"),
    Index("ix_dictamesh_sagas_tenant_id_created_at", "tenant_id", "created_at"),
)
STEPS = Table(
    "dictamesh_saga_steps",
    saga_metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False, server_default="default"),
    Column(
        "saga_id",
        String(36),
        ForeignKey(
            "dictamesh_sagas.id", name="fk_dictamesh_saga_steps_saga_id", ondelete="CASCADE"
        ),
        nullable=False,
    ),
    Column("step", String(63), nullable=False),
    Column("phase", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("output", _JSON),
    Column("error", _JSON),
    Column("node", String(160)),
    Column("duration_ms", Float),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_dictamesh_saga_steps_saga_id_id", "saga_id", "id"),
)
QUEUE = Table(
    "dictamesh_saga_queue",
    saga_metadata,
    Column("saga_id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("saga_type", String(63), nullable=False),
    Column("status", String(24), nullable=False),
    Column("lease_owner", String(160)),
    Column("lease_expires_at", UTCDateTime()),
    Column("available_at", UTCDateTime(), nullable=False),
    Index("ix_dictamesh_saga_queue_status_available_at", "status", "available_at"),
    Index("ix_dictamesh_saga_queue_lease_owner", "lease_owner"),
)


class SagaNotFound(NotFoundError):
    code = "SAGA_NOT_FOUND"


class IdempotencyConflict(DictaMeshError):
    """The idempotency key was used before for a different request."""

    code = "IDEMPOTENCY_KEY_REUSED"
    http_status = 422


class LeaseLost(DictaMeshError):
    """This node no longer holds the saga's lease (it expired and another node took it)."""

    code = "SAGA_LEASE_LOST"
    http_status = 409


@dataclass(frozen=True, slots=True)
class NewSaga:
    id: str
    tenant_id: str
    saga_type: str
    input: Mapping[str, Any]
    request_hash: str
    idempotency_key: str | None = None
    principal: Mapping[str, Any] | None = None
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class SagaRecord:
    id: str
    tenant_id: str
    saga_type: str
    status: SagaStatus
    idempotency_key: str | None
    request_hash: str
    input: dict[str, Any]
    outputs: dict[str, Any]
    step_index: int
    compensate_index: int | None
    generation: int
    failed_step: str | None
    error: dict[str, Any] | None
    principal: dict[str, Any] | None
    traceparent: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> SagaRecord:
        values = dict(row)
        values["status"] = SagaStatus(values["status"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (what the API returns; the starter's claims are left out)."""
        return {
            "id": self.id,
            "saga": self.saga_type,
            "status": self.status.value,
            "tenant_id": self.tenant_id,
            "idempotency_key": self.idempotency_key,
            "input": self.input,
            "outputs": self.outputs,
            "failed_step": self.failed_step,
            "error": self.error,
            "started_by": (self.principal or {}).get("subject"),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(frozen=True, slots=True)
class StepLog:
    """One line of the step log."""

    step: str
    phase: str
    #: ``started`` | ``completed`` | ``failed`` | ``retrying`` | ``skipped``
    status: str
    attempt: int
    output: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None
    duration_ms: float | None = None


@dataclass(frozen=True, slots=True)
class StepRecord:
    id: int
    step: str
    phase: str
    status: str
    attempt: int
    output: dict[str, Any] | None
    error: dict[str, Any] | None
    node: str | None
    duration_ms: float | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "phase": self.phase,
            "status": self.status,
            "attempt": self.attempt,
            "output": self.output,
            "error": self.error,
            "node": self.node,
            "duration_ms": self.duration_ms,
            "at": self.at.isoformat(),
        }


def _step_row(
    saga_id: str, tenant: str, entry: StepLog, node: str | None, at: datetime
) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "saga_id": saga_id,
        "step": entry.step,
        "phase": entry.phase,
        "status": entry.status,
        "attempt": entry.attempt,
        "output": dict(entry.output) if entry.output is not None else None,
        "error": dict(entry.error) if entry.error is not None else None,
        "node": node,
        "duration_ms": entry.duration_ms,
        "at": at,
    }


@dataclass(frozen=True, slots=True)
class _Creation:
    """One new saga waiting for the next group commit: its rows."""

    tenant: str
    saga: dict[str, Any]
    queue: dict[str, Any]
    steps: list[dict[str, Any]]


@dataclass
class _Progress:
    """One saga's progress waiting for the next group commit."""

    saga_id: str
    tenant: str
    owner: str
    entries: tuple[StepLog, ...]
    changes: dict[str, Any]
    lease_seconds: float
    node: str | None
    at: datetime

    def saga_values(self) -> dict[str, Any]:
        now = self.at
        values = dict(self.changes)
        status = values.get("status")
        if status is not None:
            status = SagaStatus(status)
            values["status"] = status.value
            if status in TERMINAL_STATUSES or status is SagaStatus.FAILED:
                values.setdefault("finished_at", now)
        values["updated_at"] = now
        return values


@dataclass(frozen=True, slots=True)
class ClaimedSaga:
    saga_id: str
    tenant_id: str
    saga_type: str


@dataclass
class SagaStore:
    """Saga rows over the catalog's database (``CatalogDatabase``)."""

    database: CatalogDatabase
    #: the step log keeps at most this many rows per listing request
    max_steps: int = 1000
    _progress: GroupCommit = field(init=False, repr=False)
    _creations: GroupCommit = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._progress = GroupCommit(self._commit_progress)
        self._creations = GroupCommit(self._commit_creations)

    async def create(
        self,
        saga: NewSaga,
        *,
        owner: str | None,
        lease_seconds: float,
        entries: Sequence[StepLog] = (),
        node: str | None = None,
    ) -> tuple[SagaRecord, bool]:
        """Insert the saga (status running) with its queue row already leased to ``owner``
        (``None``: unleased, for whichever node claims it first);
        ``(existing, False)`` when the idempotency key was used before for the same request,
        :class:`IdempotencyConflict` when for another."""
        now = self.database.now()
        row = {
            "id": saga.id,
            "tenant_id": saga.tenant_id,
            "saga_type": saga.saga_type,
            "status": SagaStatus.RUNNING.value,
            "idempotency_key": saga.idempotency_key,
            "request_hash": saga.request_hash,
            "input": dict(saga.input),
            "outputs": {},
            "step_index": 0,
            "compensate_index": None,
            "generation": 0,
            "failed_step": None,
            "error": None,
            "principal": dict(saga.principal) if saga.principal is not None else None,
            "traceparent": saga.traceparent,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        creation = _Creation(
            tenant=saga.tenant_id,
            saga=row,
            queue={
                "saga_id": saga.id,
                "tenant_id": saga.tenant_id,
                "saga_type": saga.saga_type,
                "status": SagaStatus.RUNNING.value,
                "lease_owner": owner,
                "lease_expires_at": None
                if owner is None
                else now + timedelta(seconds=lease_seconds),
                "available_at": now,
            },
            # the first step's start, stored with the saga
            steps=[_step_row(saga.id, saga.tenant_id, e, node, now) for e in entries],
        )
        try:
            await self._creations.submit(creation)
        except IntegrityError:
            if saga.idempotency_key is None:
                raise
            existing = await self.by_key(saga.tenant_id, saga.saga_type, saga.idempotency_key)
            if existing is None:  # pragma: no cover - a key row cannot vanish (no deletes)
                raise
            if existing.request_hash != saga.request_hash:
                raise IdempotencyConflict(
                    "this Idempotency-Key was used for a different request",
                    saga_id=existing.id,
                ) from None
            return existing, False
        return SagaRecord.from_row(row), True

    async def _commit_creations(self, batch: list[_Creation]) -> list[BaseException | None]:
        """New sagas in one transaction; when one of them breaks a constraint (a reused
        idempotency key), each is tried alone so only that one fails."""
        try:
            await self._insert(batch)
        except IntegrityError:
            if len(batch) == 1:
                raise
            outcomes: list[BaseException | None] = []
            for creation in batch:
                try:
                    await self._insert([creation])
                except IntegrityError as exc:
                    outcomes.append(exc)
                else:
                    outcomes.append(None)
            return outcomes
        return [None] * len(batch)

    async def _insert(self, batch: list[_Creation]) -> None:
        by_tenant: dict[str, list[_Creation]] = {}
        for c in batch:
            by_tenant.setdefault(c.tenant, []).append(c)
        async with self.database.write() as conn:
            for tenant, items in by_tenant.items():
                await self.database.set_tenant(conn, tenant)
                await conn.execute(SAGAS.insert(), [c.saga for c in items])
                await conn.execute(QUEUE.insert(), [c.queue for c in items])
                steps = [row for c in items for row in c.steps]
                if steps:
                    await conn.execute(STEPS.insert(), steps)

    async def by_key(self, tenant: str, saga_type: str, key: str) -> SagaRecord | None:
        query = select(SAGAS).where(
            SAGAS.c.tenant_id == tenant,
            SAGAS.c.saga_type == saga_type,
            SAGAS.c.idempotency_key == key,
        )
        async with self.database.read(tenant) as conn:
            row = (await conn.execute(query)).mappings().first()
        return SagaRecord.from_row(row) if row else None

    async def get(self, saga_id: str, tenant: str) -> SagaRecord:
        query = select(SAGAS).where(SAGAS.c.id == saga_id, SAGAS.c.tenant_id == tenant)
        async with self.database.read(tenant) as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            raise SagaNotFound(f"no saga {saga_id!r}", saga_id=saga_id)
        return SagaRecord.from_row(row)

    async def steps(self, saga_id: str, tenant: str) -> list[StepRecord]:
        query = (
            select(
                STEPS.c.id,
                STEPS.c.step,
                STEPS.c.phase,
                STEPS.c.status,
                STEPS.c.attempt,
                STEPS.c.output,
                STEPS.c.error,
                STEPS.c.node,
                STEPS.c.duration_ms,
                STEPS.c.at,
            )
            .where(STEPS.c.saga_id == saga_id, STEPS.c.tenant_id == tenant)
            .order_by(STEPS.c.id)
            .limit(self.max_steps)
        )
        async with self.database.read(tenant) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [StepRecord(**dict(r)) for r in rows]

    async def list_sagas(
        self,
        tenant: str,
        *,
        status: SagaStatus | None = None,
        saga_type: str | None = None,
        limit: int = 50,
        before: datetime | None = None,
    ) -> list[SagaRecord]:
        """Newest first; ``before`` pages on ``created_at``."""
        query = select(SAGAS).where(SAGAS.c.tenant_id == tenant)
        if status is not None:
            query = query.where(SAGAS.c.status == status.value)
        if saga_type is not None:
            query = query.where(SAGAS.c.saga_type == saga_type)
        if before is not None:
            query = query.where(SAGAS.c.created_at < before)
        query = query.order_by(SAGAS.c.created_at.desc(), SAGAS.c.id.desc()).limit(limit)
        async with self.database.read(tenant) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [SagaRecord.from_row(r) for r in rows]

    # --- leases ------------------------------------------------------------------------

    async def claim(self, owner: str, *, lease_seconds: float, limit: int) -> list[ClaimedSaga]:
        """Lease up to ``limit`` active sagas that nobody holds (or whose lease expired) and
        that are due; several nodes claiming at once never get the same saga."""
        if limit <= 0:
            return []
        now = self.database.now()
        due = (
            select(QUEUE.c.saga_id)
            .where(
                QUEUE.c.status.in_([s.value for s in ACTIVE_STATUSES]),
                QUEUE.c.available_at <= now,
                or_(QUEUE.c.lease_owner.is_(None), QUEUE.c.lease_expires_at < now),
            )
            .order_by(QUEUE.c.available_at)
            .limit(limit)
        )
        if self.database.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(QUEUE)
            .where(QUEUE.c.saga_id.in_(due.scalar_subquery()))
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
            .returning(QUEUE.c.saga_id, QUEUE.c.tenant_id, QUEUE.c.saga_type)
        )
        async with self.database.write() as conn:
            rows = (await conn.execute(statement)).all()
        return [ClaimedSaga(*r) for r in rows]

    async def renew(self, owner: str, saga_ids: Sequence[str], *, lease_seconds: float) -> set[str]:
        """Extend ``owner``'s leases on ``saga_ids``; the ids still held."""
        if not saga_ids:
            return set()
        expires = self.database.now() + timedelta(seconds=lease_seconds)
        statement = (
            update(QUEUE)
            .where(QUEUE.c.saga_id.in_(list(saga_ids)), QUEUE.c.lease_owner == owner)
            .values(lease_expires_at=expires)
            .returning(QUEUE.c.saga_id)
        )
        async with self.database.write() as conn:
            return {r[0] for r in (await conn.execute(statement)).all()}

    async def lease_owners(self, saga_ids: Sequence[str]) -> dict[str, str | None]:
        """Who holds each of ``saga_ids`` (``None``: nobody); sagas no longer queued (they
        ended) are left out."""
        if not saga_ids:
            return {}
        query = select(QUEUE.c.saga_id, QUEUE.c.lease_owner).where(
            QUEUE.c.saga_id.in_(list(saga_ids))
        )
        async with self.database.read() as conn:
            return {r[0]: r[1] for r in (await conn.execute(query)).all()}

    async def aclose(self) -> None:
        """Let the group commits in flight finish (called before the database closes)."""
        await self._creations.aclose()
        await self._progress.aclose()

    async def release(self, owner: str, saga_ids: Sequence[str] | None = None) -> int:
        """Give back ``owner``'s leases (all of them by default) so others may claim at once."""
        statement = update(QUEUE).where(QUEUE.c.lease_owner == owner)
        if saga_ids is not None:
            statement = statement.where(QUEUE.c.saga_id.in_(list(saga_ids)))
        statement = statement.values(lease_owner=None, lease_expires_at=None)
        async with self.database.write() as conn:
            return int((await conn.execute(statement)).rowcount or 0)

    async def release_previous_lives(self, node: str, owner: str) -> int:
        """Free the leases this node's earlier processes held (it was restarted: they are
        dead), so its unfinished sagas resume at once instead of when the leases expire."""
        prefix = f"{node}/"
        statement = (
            update(QUEUE)
            .where(
                QUEUE.c.lease_owner.startswith(prefix, autoescape=True),
                QUEUE.c.lease_owner != owner,
            )
            .values(lease_owner=None, lease_expires_at=None)
        )
        async with self.database.write() as conn:
            return int((await conn.execute(statement)).rowcount or 0)

    # --- progress ----------------------------------------------------------------------

    async def record_step(
        self,
        saga_id: str,
        tenant: str,
        owner: str,
        entries: Sequence[StepLog] = (),
        *,
        changes: Mapping[str, Any] | None = None,
        lease_seconds: float,
        node: str | None = None,
    ) -> dict[str, Any]:
        """Append ``entries`` to the step log and apply ``changes`` to the saga, durably,
        if ``owner`` still holds the saga's lease: :class:`LeaseLost` when another node
        does (nothing is written then). A terminal status removes the queue row;
        ``failed`` parks it (not claimed, counted for the alert). Leases are extended by
        :meth:`renew`, not here.

        **Group commit**: the progress of every saga waiting at that moment is written in
        one transaction (a handful of statements whatever their number), and each caller
        returns once that transaction committed — so many sagas of one node share the
        cost of a write, which on SQLite (one writer at a time) bounds throughput.

        Returns the saga's columns as stored (``changes`` plus ``updated_at``, and
        ``finished_at`` when it ended; ``status`` as a :class:`SagaStatus`)."""
        progress = _Progress(
            saga_id,
            tenant,
            owner,
            tuple(entries),
            dict(changes or {}),
            lease_seconds,
            node,
            self.database.now(),
        )
        await self._progress.submit(progress)
        stored = progress.saga_values()
        if "status" in stored:
            stored["status"] = SagaStatus(stored["status"])
        return stored

    async def _commit_progress(self, batch: list[_Progress]) -> list[BaseException | None]:
        """One transaction for ``batch``; :class:`LeaseLost` for the sagas whose lease
        another node holds (they are skipped)."""
        held_by = {p.saga_id: p.owner for p in batch}
        check = select(QUEUE.c.saga_id, QUEUE.c.lease_owner).where(
            QUEUE.c.saga_id.in_(list(held_by))
        )
        if self.database.dialect == "postgresql":
            check = check.with_for_update()  # claims skip these rows until we commit
        by_tenant: dict[str, list[_Progress]] = {}
        for p in batch:
            by_tenant.setdefault(p.tenant, []).append(p)
        async with self.database.write() as conn:
            owners = dict((await conn.execute(check)).all())
            lost = {i for i, owner in held_by.items() if owners.get(i) != owner}
            for tenant, items in by_tenant.items():
                await self.database.set_tenant(conn, tenant)
                kept = [p for p in items if p.saga_id not in lost]
                await self._apply(conn, kept)
        return [
            LeaseLost(f"lease on saga {p.saga_id} lost", saga_id=p.saga_id)
            if p.saga_id in lost
            else None
            for p in batch
        ]

    async def _apply(self, conn: Any, items: list[_Progress]) -> None:
        """One tenant's part of a group commit: a statement per kind of change."""
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        steps: list[dict[str, Any]] = []
        ended: list[dict[str, Any]] = []
        moved: list[dict[str, Any]] = []
        for p in items:
            values = p.saga_values()
            row = {"b_id": p.saga_id, **{f"b_{k}": v for k, v in values.items()}}
            shapes.setdefault(tuple(sorted(values)), []).append(row)
            steps += [_step_row(p.saga_id, p.tenant, e, p.node, p.at) for e in p.entries]
            status = values.get("status")
            if status is None:
                continue
            if SagaStatus(status) in TERMINAL_STATUSES:
                ended.append({"b_id": p.saga_id})
                continue
            parked = status == SagaStatus.FAILED.value
            moved.append(
                {
                    "b_id": p.saga_id,
                    "b_status": status,
                    "b_owner": None if parked else p.owner,
                    "b_expires": None if parked else p.at + timedelta(seconds=p.lease_seconds),
                }
            )
        for names, rows in shapes.items():
            statement = (
                update(SAGAS)
                .where(SAGAS.c.id == bindparam("b_id"))
                .values({n: bindparam(f"b_{n}") for n in names})
            )
            await conn.execute(statement, rows)
        if steps:
            await conn.execute(STEPS.insert(), steps)
        if ended:
            await conn.execute(delete(QUEUE).where(QUEUE.c.saga_id == bindparam("b_id")), ended)
        if moved:
            statement = (
                update(QUEUE)
                .where(QUEUE.c.saga_id == bindparam("b_id"))
                .values(
                    status=bindparam("b_status"),
                    lease_owner=bindparam("b_owner"),
                    lease_expires_at=bindparam("b_expires"),
                )
            )
            await conn.execute(statement, moved)

    async def reopen(self, saga_id: str, tenant: str, status: SagaStatus) -> SagaRecord:
        """An operator's retry (``compensating`` again, next ``generation``: the source
        stored its refusal under the old key) or abort (``aborted``) of a saga that needs
        attention; :class:`SagaNotFound` if it does not exist."""
        record = await self.get(saga_id, tenant)
        now = self.database.now()
        async with self.database.write(tenant) as conn:
            await conn.execute(
                update(SAGAS)
                .where(SAGAS.c.id == saga_id, SAGAS.c.tenant_id == tenant)
                .values(
                    status=status.value,
                    updated_at=now,
                    finished_at=now if status in TERMINAL_STATUSES else None,
                    generation=SAGAS.c.generation + (0 if status in TERMINAL_STATUSES else 1),
                )
            )
            if status in TERMINAL_STATUSES:
                await conn.execute(delete(QUEUE).where(QUEUE.c.saga_id == saga_id))
            else:
                upsert = insert_for(self.database.dialect, QUEUE).values(
                    saga_id=saga_id,
                    tenant_id=tenant,
                    saga_type=record.saga_type,
                    status=status.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    available_at=now,
                )
                await conn.execute(
                    upsert.on_conflict_do_update(
                        index_elements=[QUEUE.c.saga_id],
                        set_={
                            "status": status.value,
                            "lease_owner": None,
                            "lease_expires_at": None,
                            "available_at": now,
                        },
                    )
                )
        return await self.get(saga_id, tenant)

    async def queue_counts(self) -> dict[tuple[str, str], int]:
        """``{(saga_type, status): n}`` over the queue (every tenant): in-flight and
        needing-attention counts for metrics, with no saga's data."""
        query = select(QUEUE.c.saga_type, QUEUE.c.status, func.count()).group_by(
            QUEUE.c.saga_type, QUEUE.c.status
        )
        async with self.database.read() as conn:
            rows = (await conn.execute(query)).all()
        return {(r[0], r[1]): int(r[2]) for r in rows}
