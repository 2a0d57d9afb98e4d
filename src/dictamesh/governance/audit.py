"""The audit log: every decision on classified data (allowed or denied) as one append-only row.

Writers call :meth:`AuditLog.record` with the :class:`Decision` the policy engine took; a
batch of field decisions for one entity goes in one transaction. Compliance reports read it
back through :meth:`AuditLog.query` and :meth:`AuditLog.summary`, always scoped to one tenant.

Example::

    audit = AuditLog(catalog)
    await audit.record([AuditEntry.of(decision, principal, channel="graphql", entity_id="42")])
    rows = await audit.query(subject="alice", decision="deny", limit=100)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from dictamesh.catalog.service import CatalogService
from dictamesh.catalog.tables import AUDIT
from dictamesh.core.errors import ValidationError
from dictamesh.governance.policy import Decision, PrincipalLike

__all__ = ["MAX_AUDIT_QUERY_LIMIT", "AuditEntry", "AuditLog", "AuditRow"]

MAX_AUDIT_QUERY_LIMIT = 1000
ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    subject: str
    roles: tuple[str, ...]
    auth_method: str
    channel: str
    action: str
    entity_type: str
    entity_id: str | None
    field: str | None
    classification: str | None
    decision: str
    mask: str | None
    rules: tuple[str, ...]
    reason: str
    trace_id: str | None = None
    tenant: str | None = None

    @classmethod
    def of(
        cls,
        decision: Decision,
        principal: PrincipalLike | None,
        *,
        channel: str,
        entity_id: str | None = None,
        trace_id: str | None = None,
    ) -> AuditEntry:
        res = decision.resource
        return cls(
            subject=principal.subject if principal is not None else ANONYMOUS,
            roles=tuple(principal.roles) if principal is not None else (),
            auth_method=str(getattr(principal, "method", None) or "none"),
            channel=channel,
            action=decision.action.value,
            entity_type=res.entity_type,
            entity_id=entity_id,
            field=res.field,
            classification=res.classification.value if res.field is not None else None,
            decision=decision.effect,
            mask=decision.mask.value if decision.allowed and res.classified else None,
            rules=decision.deciding_rules,
            reason=decision.reason,
            trace_id=trace_id,
            tenant=res.tenant or (principal.tenant if principal is not None else None),
        )


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    tenant_id: str
    occurred_at: datetime
    subject: str
    roles: list[str]
    auth_method: str
    channel: str
    action: str
    entity_type: str
    entity_id: str | None
    field: str | None
    classification: str | None
    decision: str
    mask: str | None
    rules: list[str]
    reason: str
    trace_id: str | None

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__slots__}
        out["occurred_at"] = self.occurred_at.isoformat()
        return out


class AuditLog:
    def __init__(self, catalog: CatalogService) -> None:
        self._database = catalog.database

    async def record(self, entries: Iterable[AuditEntry]) -> int:
        db = self._database
        now = db.now()
        rows = [
            {
                "tenant_id": db.tenant(e.tenant),
                "occurred_at": now,
                "subject": e.subject[:255],
                "roles": list(e.roles),
                "auth_method": e.auth_method[:32],
                "channel": e.channel[:32],
                "action": e.action,
                "entity_type": e.entity_type,
                "entity_id": e.entity_id,
                "field": e.field,
                "classification": e.classification,
                "decision": e.decision,
                "mask": e.mask,
                "rules": list(e.rules),
                "reason": e.reason,
                "trace_id": e.trace_id,
            }
            for e in entries
        ]
        if not rows:
            return 0
        # row-level security (PostgreSQL): each tenant's rows are written as that tenant
        by_tenant: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_tenant.setdefault(str(row["tenant_id"]), []).append(row)
        async with db.write(next(iter(by_tenant))) as conn:
            for position, (tenant, group) in enumerate(by_tenant.items()):
                if position:
                    await db.set_tenant(conn, tenant)
                await conn.execute(AUDIT.insert(), group)
        return len(rows)

    def _filtered(
        self,
        query: Any,
        *,
        subject: str | None,
        entity_type: str | None,
        entity_id: str | None,
        decision: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> Any:
        c = AUDIT.c
        query = query.where(c.tenant_id == self._database.tenant())
        if decision is not None and decision not in ("allow", "deny"):
            raise ValidationError("decision must be 'allow' or 'deny'", decision=decision[:20])
        for column, value in (
            (c.subject, subject),
            (c.entity_type, entity_type),
            (c.entity_id, entity_id),
            (c.decision, decision),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(c.occurred_at >= since)
        if until is not None:
            query = query.where(c.occurred_at < until)
        return query

    async def query(
        self,
        *,
        subject: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        decision: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[AuditRow]:
        """Newest first; page with ``before_id`` = the last row's id."""
        if not 1 <= limit <= MAX_AUDIT_QUERY_LIMIT:
            raise ValidationError(
                f"audit limit must be between 1 and {MAX_AUDIT_QUERY_LIMIT}", limit=limit
            )
        query = self._filtered(
            select(AUDIT), subject=subject, entity_type=entity_type, entity_id=entity_id,
            decision=decision, since=since, until=until,
        )  # fmt: skip
        if before_id is not None:
            query = query.where(AUDIT.c.id < before_id)
        query = query.order_by(AUDIT.c.id.desc()).limit(limit)
        async with self._database.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [AuditRow(**dict(r)) for r in rows]

    async def readers(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = 10_000
    ) -> list[dict[str, Any]]:
        """Reads of classified fields per principal, entity type, field and decision (the
        compliance report's "who read them"); most-read first, at most ``limit`` rows."""
        c = AUDIT.c
        keys = (c.subject, c.entity_type, c.field, c.decision)
        query = (
            self._filtered(
                select(*keys, func.count().label("reads")), subject=None, entity_type=None,
                entity_id=None, decision=None, since=since, until=until,
            )
            .where(c.action == "read", c.field.is_not(None))
            .group_by(*keys)
            .order_by(func.count().desc(), *keys)
            .limit(limit)
        )  # fmt: skip
        async with self._database.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [dict(r) for r in rows]

    async def summary(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Counts per subject, entity type, classification and decision: the compliance view
        of who touched which kind of personal data."""
        c = AUDIT.c
        keys = (c.subject, c.entity_type, c.classification, c.decision)
        query = self._filtered(
            select(*keys, func.count().label("accesses")), subject=None, entity_type=None,
            entity_id=None, decision=None, since=since, until=until,
        ).group_by(*keys).order_by(*keys)  # fmt: skip
        async with self._database.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [dict(r) for r in rows]
