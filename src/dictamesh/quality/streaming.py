"""Per-event rules checked on ingest, aggregated in memory (never a row per event).

The catalog ingest hands each committed batch to :meth:`IngestChecker.ingested` (the node's
``on_outcome`` hook, like the search indexer's): the new events' ``after`` states are
checked against their type's per-event rules (``not_null``, ``accepted_values``, ``range``,
``regex``; :mod:`dictamesh.quality.checks`), counts and a bounded sample of failing ids are
added up per tenant and rule, and the metrics move once per rule per batch. Nothing waits
on I/O. :meth:`IngestChecker.drain` hands the counts over (the node stores them as one
``ingest`` run per tenant every ``quality.ingest_flush_seconds``).

Example::

    checker = IngestChecker(settings.quality, metrics)
    ingestor_on_outcome = checker.ingested
    runs = checker.drain(node="node-1")      # stored by the node's flush task
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dictamesh.catalog.ingest import IngestOutcome
from dictamesh.catalog.models import DEFAULT_TENANT
from dictamesh.core.quality_config import QualityRule
from dictamesh.core.settings import QualitySettings
from dictamesh.quality.checks import Check, applies, event_check
from dictamesh.quality.metrics import QualityMetrics
from dictamesh.quality.store import INGEST, RuleResult, Run

__all__ = ["IngestChecker"]


@dataclass(slots=True)
class _Tally:
    checked: int = 0
    failing: int = 0
    sample: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Compiled:
    entity_type: str
    rule: QualityRule
    check: Check


class IngestChecker:
    def __init__(self, settings: QualitySettings, metrics: QualityMetrics | None = None) -> None:
        self.sample_size = settings.sample_size
        self.metrics = metrics
        self._rules: dict[str, list[_Compiled]] = {}
        for entity_type, rule in settings.all_rules():
            if rule.per_event:
                self._rules.setdefault(entity_type, []).append(
                    _Compiled(entity_type, rule, event_check(rule))
                )
        self._by_id = {c.rule.id: c for listed in self._rules.values() for c in listed}
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._since = datetime.now(UTC)

    @property
    def active(self) -> bool:
        """Any per-event rule configured (else the hook is not worth installing)."""
        return bool(self._rules)

    def ingested(self, outcome: IngestOutcome) -> None:
        """Check a committed batch's new events (cheap, synchronous, never raises on data)."""
        started = time.perf_counter()
        batch: dict[tuple[str, str], _Tally] = {}
        for event, _topic in outcome.events:
            after = event.after
            compiled = self._rules.get(event.entity.type)
            if after is None or not compiled:
                continue
            tenant = event.tenant_id or DEFAULT_TENANT
            for c in compiled:
                if c.rule.where and not applies(c.rule, after):
                    continue
                key = (tenant, c.rule.id)
                tally = batch.get(key)
                if tally is None:
                    tally = batch[key] = _Tally()
                tally.checked += 1
                if not c.check(after):
                    tally.failing += 1
                    if len(tally.sample) < self.sample_size:
                        tally.sample.append(event.entity.id)
        if not batch:
            return
        for key, tally in batch.items():
            total = self._tallies.get(key)
            if total is None:
                total = self._tallies[key] = _Tally()
            total.checked += tally.checked
            total.failing += tally.failing
            room = self.sample_size - len(total.sample)
            if room > 0:
                total.sample.extend(tally.sample[:room])
            if self.metrics is not None:
                labels = (self._by_id[key[1]].entity_type, key[1], "ingest")
                self.metrics.checks.labels(*labels).inc(tally.checked)
                if tally.failing:
                    self.metrics.failures.labels(*labels).inc(tally.failing)
        if self.metrics is not None:
            self.metrics.seconds.labels("ingest").observe(time.perf_counter() - started)

    def snapshot(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(tenant, rule id) → (checked, failing) since the last drain."""
        return {k: (t.checked, t.failing) for k, t in self._tallies.items()}

    def drain(self, *, node: str) -> list[Run]:
        """The counts since the last drain as one ``ingest`` run per tenant; starts anew."""
        tallies, self._tallies = self._tallies, {}
        since, self._since = self._since, datetime.now(UTC)
        now = self._since
        runs: dict[str, Run] = {}
        for (tenant, rule_id), tally in sorted(tallies.items()):
            run = runs.get(tenant)
            if run is None:
                run = runs[tenant] = Run(
                    run_id=str(uuid.uuid4()),
                    tenant=tenant,
                    trigger=INGEST,
                    node=node,
                    started_at=since,
                    finished_at=now,
                )
            c = self._by_id[rule_id]
            field_name = ", ".join(c.rule.checked_fields)
            run.results.append(
                RuleResult(
                    rule_id=rule_id,
                    entity_type=c.entity_type,
                    rule_type=c.rule.type.value,
                    severity=c.rule.severity.value,
                    passed=tally.failing == 0,
                    checked=tally.checked,
                    failing=tally.failing,
                    sample=tally.sample,
                    message=f"{tally.failing} of {tally.checked} ingested {c.entity_type}"
                    f" events failed ({field_name})",
                    evaluated_at=now,
                    trigger=INGEST,
                    run_id=run.run_id,
                )
            )
        return list(runs.values())
