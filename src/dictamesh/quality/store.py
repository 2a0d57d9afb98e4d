"""Quality runs and results in the catalog database (:mod:`dictamesh.quality.tables`).

Every call acts for one tenant (the database's :meth:`read`/:meth:`write`, under row-level
security on PostgreSQL). History is bounded: :meth:`QualityStore.save` deletes the tenant's
runs beyond the newest ``keep`` and their results in the same transaction.

Scores are computed from each rule's latest result of a run over the catalog (``schedule``,
``manual`` or ``cli``): the on-ingest counts (``ingest``) cover only the events of their
window and are shown beside, not scored.

Example::

    store = QualityStore(catalog.database)
    run_id = await store.save(run, tenant="acme", keep=200)
    latest = await store.latest("acme", entity_type="invoice")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.quality.tables import RESULTS, RUNS

__all__ = ["INGEST", "QualityStore", "RuleResult", "Run", "TypeScore", "score"]

#: the trigger of on-ingest counts (not scored)
INGEST = "ingest"
#: score weight of a rule by severity: an error counts three warnings
WEIGHTS = {"error": 3.0, "warn": 1.0}
#: most results one history answer holds
MAX_HISTORY = 1000


@dataclass(slots=True)
class RuleResult:
    rule_id: str
    entity_type: str
    rule_type: str
    severity: str
    passed: bool
    checked: int
    failing: int
    message: str
    evaluated_at: datetime
    observed: float | None = None
    sample: list[str] = field(default_factory=list)
    trigger: str = "schedule"
    run_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "entity_type": self.entity_type,
            "rule_type": self.rule_type,
            "severity": self.severity,
            "passed": self.passed,
            "checked": self.checked,
            "failing": self.failing,
            "observed": self.observed,
            "sample": list(self.sample),
            "message": self.message,
            "trigger": self.trigger,
            "run_id": self.run_id,
            "evaluated_at": self.evaluated_at.isoformat(),
        }


@dataclass(slots=True)
class Run:
    run_id: str
    tenant: str
    trigger: str
    node: str
    started_at: datetime
    finished_at: datetime
    results: list[RuleResult] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)


@dataclass(frozen=True, slots=True)
class TypeScore:
    """A data product's (entity type's) quality: passing share of its rules, weighted."""

    entity_type: str
    score: float
    rules: int
    failed: int
    failed_errors: int
    evaluated_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "score": self.score,
            "rules": self.rules,
            "failed": self.failed,
            "failed_errors": self.failed_errors,
            "evaluated_at": self.evaluated_at.isoformat() if self.evaluated_at else None,
        }


def score(results: Sequence[RuleResult]) -> dict[str, TypeScore]:
    """Per entity type: passing rules' weight over all rules' (1.0 with no failures)."""
    grouped: dict[str, list[RuleResult]] = {}
    for r in results:
        grouped.setdefault(r.entity_type, []).append(r)
    out = {}
    for entity_type, listed in sorted(grouped.items()):
        total = sum(WEIGHTS.get(r.severity, 1.0) for r in listed)
        passing = sum(WEIGHTS.get(r.severity, 1.0) for r in listed if r.passed)
        out[entity_type] = TypeScore(
            entity_type=entity_type,
            score=round(passing / total, 4) if total else 1.0,
            rules=len(listed),
            failed=sum(1 for r in listed if not r.passed),
            failed_errors=sum(1 for r in listed if not r.passed and r.severity == "error"),
            evaluated_at=max(r.evaluated_at for r in listed),
        )
    return out


def _result(row: Any) -> RuleResult:
    m = row._mapping
    return RuleResult(
        rule_id=m["rule_id"],
        entity_type=m["entity_type"],
        rule_type=m["rule_type"],
        severity=m["severity"],
        passed=bool(m["passed"]),
        checked=int(m["checked"]),
        failing=int(m["failing"]),
        message=m["message"],
        evaluated_at=m["evaluated_at"],
        observed=m["observed"],
        sample=list(m["sample"] or []),
        trigger=m["trigger"],
        run_id=m["run_id"],
    )


class QualityStore:
    def __init__(self, database: CatalogDatabase) -> None:
        self.database = database

    async def save(self, run: Run, *, keep: int) -> str:
        """Store ``run`` and its results; drop the tenant's runs beyond the newest ``keep``."""
        async with self.database.write(run.tenant) as conn:
            await conn.execute(
                insert(RUNS).values(
                    run_id=run.run_id,
                    tenant_id=run.tenant,
                    trigger=run.trigger,
                    node=run.node[:200],
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                    rules=len(run.results),
                    failed=run.failed,
                )
            )
            if run.results:
                await conn.execute(
                    insert(RESULTS),
                    [
                        {
                            "run_id": run.run_id,
                            "rule_id": r.rule_id,
                            "tenant_id": run.tenant,
                            "entity_type": r.entity_type,
                            "rule_type": r.rule_type,
                            "severity": r.severity,
                            "trigger": run.trigger,
                            "passed": r.passed,
                            "checked": r.checked,
                            "failing": r.failing,
                            "observed": r.observed,
                            "sample": list(r.sample),
                            "message": r.message[:500],
                            "evaluated_at": r.evaluated_at,
                        }
                        for r in run.results
                    ],
                )
            old = (
                select(RUNS.c.run_id)
                .where(RUNS.c.tenant_id == run.tenant)
                .order_by(RUNS.c.started_at.desc(), RUNS.c.run_id.desc())
                .offset(keep)
            )
            stale = [r[0] for r in await conn.execute(old)]
            for i in range(0, len(stale), 500):
                chunk = stale[i : i + 500]
                await conn.execute(
                    delete(RESULTS).where(
                        RESULTS.c.tenant_id == run.tenant, RESULTS.c.run_id.in_(chunk)
                    )
                )
                await conn.execute(
                    delete(RUNS).where(RUNS.c.tenant_id == run.tenant, RUNS.c.run_id.in_(chunk))
                )
        return run.run_id

    async def latest(
        self, tenant: str, *, entity_type: str | None = None, ingest: bool = False
    ) -> list[RuleResult]:
        """Each rule's newest result (of runs over the catalog; ``ingest``: of the on-ingest
        counts instead), by entity type and rule id."""
        trigger = RESULTS.c.trigger == INGEST if ingest else RESULTS.c.trigger != INGEST
        conditions = [RESULTS.c.tenant_id == tenant, trigger]
        if entity_type is not None:
            conditions.append(RESULTS.c.entity_type == entity_type)
        newest = (
            select(RESULTS.c.rule_id, func.max(RESULTS.c.evaluated_at).label("at"))
            .where(*conditions)
            .group_by(RESULTS.c.rule_id)
            .subquery()
        )
        query = (
            select(RESULTS)
            .join(
                newest,
                and_(RESULTS.c.rule_id == newest.c.rule_id, RESULTS.c.evaluated_at == newest.c.at),
            )
            .where(*conditions)
            .order_by(RESULTS.c.entity_type, RESULTS.c.rule_id, RESULTS.c.run_id)
        )
        async with self.database.read(tenant) as conn:
            rows = (await conn.execute(query)).all()
        seen: dict[str, RuleResult] = {}
        for row in rows:  # two results of one rule at the same instant: keep one
            result = _result(row)
            seen.setdefault(result.rule_id, result)
        return list(seen.values())

    async def history(self, tenant: str, entity_type: str, *, limit: int = 100) -> list[RuleResult]:
        """The type's results, newest first (every trigger)."""
        query = (
            select(RESULTS)
            .where(RESULTS.c.tenant_id == tenant, RESULTS.c.entity_type == entity_type)
            .order_by(RESULTS.c.evaluated_at.desc(), RESULTS.c.rule_id)
            .limit(min(limit, MAX_HISTORY))
        )
        async with self.database.read(tenant) as conn:
            return [_result(r) for r in await conn.execute(query)]

    async def previous(self, tenant: str, rule_id: str) -> RuleResult | None:
        """The rule's newest result of a run over the catalog (transitions, row counts)."""
        query = (
            select(RESULTS)
            .where(
                RESULTS.c.tenant_id == tenant,
                RESULTS.c.rule_id == rule_id,
                RESULTS.c.trigger != INGEST,
            )
            .order_by(RESULTS.c.evaluated_at.desc())
            .limit(1)
        )
        async with self.database.read(tenant) as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _result(row)

    async def scores(self, tenant: str) -> dict[str, TypeScore]:
        return score(await self.latest(tenant))

    async def runs(self, tenant: str, *, limit: int = 50) -> list[dict[str, Any]]:
        query = (
            select(RUNS)
            .where(RUNS.c.tenant_id == tenant)
            .order_by(RUNS.c.started_at.desc())
            .limit(min(limit, MAX_HISTORY))
        )
        async with self.database.read(tenant) as conn:
            rows = (await conn.execute(query)).all()
        return [
            {
                "run_id": r.run_id,
                "trigger": r.trigger,
                "node": r.node,
                "started_at": r.started_at.isoformat(),
                "finished_at": r.finished_at.isoformat(),
                "rules": r.rules,
                "failed": r.failed,
            }
            for r in rows
        ]
