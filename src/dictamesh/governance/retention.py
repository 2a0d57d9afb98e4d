"""Retention rules for the event log and the audit log, applied by a scheduled job.

The rules themselves (:class:`RetentionRule`, :func:`parse_age`) live in
:mod:`dictamesh.core.retention` (configuration validates them) and are re-exported here.

A rule selects rows by topic and/or entity type (``*`` globs) and says how long they are kept.
When several rules select one row, the *longest* retention wins: a rule can only ever shorten
the life of rows no other rule wants to keep longer. Rows no rule selects are kept.

Example (YAML, under ``governance.retention`` in the node's config)::

    - {target: event_log, topics: ["customers.*"], max_age: 30d}
    - {target: event_log, entity_types: [invoice], max_age: 3650d}
    - {target: audit, max_age: 400d}

    job = RetentionJob(catalog, rules)
    deleted = await job.run_once()        # {"event_log": 120, "audit": 0}
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import Table, and_, delete, false, not_, or_, text, true
from sqlalchemy.sql.elements import ColumnElement

from dictamesh.catalog.service import CatalogService
from dictamesh.catalog.tables import AUDIT, EVENTS
from dictamesh.core.retention import RetentionRule, parse_age

__all__ = ["RetentionJob", "RetentionRule", "parse_age"]

log = logging.getLogger(__name__)


def _like(glob: str) -> str:
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _selects(rule: RetentionRule, table: Table) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if rule.topics:
        parts.append(or_(*(table.c.topic.like(_like(g), escape="\\") for g in rule.topics)))
    if rule.entity_types:
        parts.append(
            or_(*(table.c.entity_type.like(_like(g), escape="\\") for g in rule.entity_types))
        )
    return and_(true(), *parts)


class RetentionJob:
    def __init__(self, catalog: CatalogService, rules: Sequence[RetentionRule]) -> None:
        self._catalog = catalog
        self.rules = list(rules)

    async def run_once(self) -> dict[str, int]:
        """Apply every rule now; rows deleted per target. Runs across all tenants, one
        transaction per rule and tenant (row-level security shows one tenant at a time)."""
        database = self._catalog.database
        now = database.now()
        deleted = {"event_log": 0, "audit": 0}
        tenants = await database.tenants() if self.rules else []
        for target, table, when in (
            ("event_log", EVENTS, EVENTS.c.recorded_at),
            ("audit", AUDIT, AUDIT.c.occurred_at),
        ):
            rules = sorted(
                (r for r in self.rules if r.target == target),
                key=lambda r: r.max_age,
                reverse=True,
            )
            for i, rule in enumerate(rules):
                longer = [r for r in rules[:i] if r.max_age > rule.max_age]
                kept_longer = or_(false(), *(_selects(r, table) for r in longer))
                condition = and_(
                    _selects(rule, table), when < now - rule.max_age, not_(kept_longer)
                )
                for tenant in tenants:
                    async with database.write(tenant) as conn:
                        if target == "audit" and database.dialect == "postgresql":
                            # the audit log's append-only trigger lets the retention job through
                            await conn.execute(
                                text("SELECT set_config('dictamesh.retention', 'on', true)")
                            )
                        result = await conn.execute(
                            delete(table).where(table.c.tenant_id == tenant, condition)
                        )
                    deleted[target] += int(result.rowcount)
        return deleted

    async def run_periodically(self, interval: float) -> None:
        """Run every ``interval`` seconds until cancelled; a failed run is logged and retried
        at the next tick (retention is never urgent enough to crash a node)."""
        while True:
            try:
                counts = await self.run_once()
                if any(counts.values()):
                    log.info("retention removed %s", counts)
            except Exception:
                log.exception("retention run failed; retrying in %.0f s", interval)
            await asyncio.sleep(interval)
