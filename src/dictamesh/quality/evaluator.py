"""Runs over the catalog: every configured rule (or the named ones) per tenant.

:meth:`QualityEvaluator.run` evaluates the rules (:func:`dictamesh.quality.sql.evaluate`),
stores the run with its results, sets the score gauges and, for each rule that **turns**
failing (it passed, or was never evaluated, in the previous run over the catalog), offers
one ``system.quality.failed`` event. One event per transition, not one per run: a rule that
stays broken for a week would otherwise page someone every few minutes; recovery is visible
in the results and the score.

Example::

    evaluator = QualityEvaluator(database, settings.quality, node="node-1", relay=relay)
    run = await evaluator.run("default", trigger="manual", rule_ids=["invoice-customer"])
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.core.errors import ValidationError
from dictamesh.core.quality_config import QualityRule, RuleType
from dictamesh.core.settings import QualitySettings
from dictamesh.events.relay import EventRelay
from dictamesh.events.topics import TopicSpec
from dictamesh.quality.metrics import QualityMetrics
from dictamesh.quality.sql import Outcome, evaluate
from dictamesh.quality.store import QualityStore, RuleResult, Run, score

__all__ = ["QUALITY_TOPIC", "QUALITY_TOPIC_SPEC", "QualityEvaluator", "describe", "select_rules"]

QUALITY_TOPIC = "system.quality.failed"
QUALITY_TOPIC_SPEC = TopicSpec(name=QUALITY_TOPIC, retention_ms=7 * 24 * 3600 * 1000)


def select_rules(
    settings: QualitySettings, rule_ids: Sequence[str] | None = None
) -> list[tuple[str, QualityRule]]:
    """The configured (entity type, rule) pairs, or only those named; an unknown id is a
    :class:`ValidationError` (before anything is evaluated)."""
    every = settings.all_rules()
    if not rule_ids:
        return every
    known = {rule.id for _, rule in every}
    unknown = sorted(set(rule_ids) - known)
    if unknown:
        raise ValidationError(
            f"unknown quality rule(s): {', '.join(u[:100] for u in unknown[:10])}",
            known=sorted(known)[:100],
        )
    wanted = set(rule_ids)
    return [(t, r) for t, r in every if r.id in wanted]


def describe(entity_type: str, rule: QualityRule, outcome: Outcome) -> str:
    """One line on a result: counts and rule parameters only, never a value."""
    if rule.type is RuleType.FRESHNESS:
        if outcome.observed is None:
            return f"no {entity_type} entity in the catalog"
        return f"newest {entity_type} update is {outcome.observed:.0f} s old"
    if rule.type is RuleType.ROW_COUNT_CHANGE:
        if outcome.change_percent is None:
            return f"{outcome.checked} {entity_type} entities (baseline)"
        return f"{outcome.checked} {entity_type} entities, {outcome.change_percent:g} % change"
    what = ", ".join(rule.checked_fields)
    if outcome.failing == 0:
        return f"all {outcome.checked} {entity_type} entities pass ({what})"
    verb = {
        RuleType.NOT_NULL: f"have no {what}",
        RuleType.UNIQUE: f"share their {what} with another",
        RuleType.ACCEPTED_VALUES: f"have a {what} not accepted",
        RuleType.RANGE: f"have a {what} out of range",
        RuleType.REGEX: f"have a {what} not matching the pattern",
        RuleType.REFERENTIAL_INTEGRITY: f"name a {rule.references} by {what} that does not exist",
    }[rule.type]
    return f"{outcome.failing} of {outcome.checked} {entity_type} entities {verb}"


class QualityEvaluator:
    def __init__(
        self,
        database: CatalogDatabase,
        settings: QualitySettings,
        *,
        node: str,
        relay: EventRelay | None = None,
        metrics: QualityMetrics | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.node = node
        self.relay = relay
        self.metrics = metrics
        self.store = QualityStore(database)

    async def tenants(self) -> list[str]:
        """The catalog's tenants (the default one when the catalog is empty)."""
        return await self.database.tenants() or [self.database.tenant()]

    async def run_all(
        self, *, trigger: str = "schedule", rule_ids: Sequence[str] | None = None
    ) -> list[Run]:
        return [
            await self.run(tenant, trigger=trigger, rule_ids=rule_ids)
            for tenant in await self.tenants()
        ]

    async def run(
        self, tenant: str, *, trigger: str = "manual", rule_ids: Sequence[str] | None = None
    ) -> Run:
        """Evaluate the rules for ``tenant`` over the catalog, store and report the run."""
        rules = select_rules(self.settings, rule_ids)  # unknown ids fail before any query
        started = time.perf_counter()
        run = Run(
            run_id=str(uuid.uuid4()),
            tenant=tenant,
            trigger=trigger,
            node=self.node,
            started_at=datetime.now(UTC),
            finished_at=datetime.now(UTC),
        )
        previous = {rule.id: await self.store.previous(tenant, rule.id) for _, rule in rules}
        for entity_type, rule in rules:
            run.results.append(await self._one(tenant, entity_type, rule, previous[rule.id]))
        run.finished_at = datetime.now(UTC)
        for result in run.results:
            result.run_id, result.trigger = run.run_id, trigger
        await self.store.save(run, keep=self.settings.history_runs)
        self._report(run, previous, time.perf_counter() - started)
        return run

    async def _one(
        self, tenant: str, entity_type: str, rule: QualityRule, previous: RuleResult | None
    ) -> RuleResult:
        now = datetime.now(UTC)
        async with self.database.read(tenant) as conn:
            outcome = await evaluate(
                conn,
                self.database.dialect,
                tenant,
                entity_type,
                rule,
                sample_size=self.settings.sample_size,
                now=now,
                previous_count=previous.observed if previous is not None else None,
            )
        return RuleResult(
            rule_id=rule.id,
            entity_type=entity_type,
            rule_type=rule.type.value,
            severity=rule.severity.value,
            passed=outcome.ok,
            checked=outcome.checked,
            failing=outcome.failing,
            observed=outcome.observed,
            sample=outcome.sample,
            message=describe(entity_type, rule, outcome),
            evaluated_at=now,
        )

    def _report(self, run: Run, previous: dict[str, RuleResult | None], seconds: float) -> None:
        metrics = self.metrics
        if metrics is not None:
            metrics.seconds.labels("catalog").observe(seconds)
            for r in run.results:
                metrics.checks.labels(r.entity_type, r.rule_id, "catalog").inc()
                if not r.passed:
                    metrics.failures.labels(r.entity_type, r.rule_id, "catalog").inc()
            for entity_type, s in _scores(run.results).items():
                metrics.score.labels(run.tenant, entity_type).set(s)
        if self.relay is None:
            return
        for r in run.results:
            before = previous.get(r.rule_id)
            if not r.passed and (before is None or before.passed):
                self.relay.offer(QUALITY_TOPIC, key=r.rule_id, body=failed_event(run, r))


def _scores(results: Iterable[RuleResult]) -> dict[str, float]:
    return {t: s.score for t, s in score(list(results)).items()}


def failed_event(run: Run, result: RuleResult) -> dict[str, Any]:
    """The ``system.quality.failed`` body: names, counts and ids of the run, no values."""
    return {
        "event_type": "quality_failed",
        "event_id": str(uuid.uuid4()),
        "node": run.node,
        "tenant_id": run.tenant,
        "run_id": run.run_id,
        "trigger": run.trigger,
        "rule_id": result.rule_id,
        "entity_type": result.entity_type,
        "rule_type": result.rule_type,
        "severity": result.severity,
        "checked": result.checked,
        "failing": result.failing,
        "message": result.message,
        "occurred_at": result.evaluated_at.isoformat(),
    }
