"""Retention rules for the event log and the audit log, applied by a scheduled job.

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
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Table, and_, delete, false, not_, or_, text, true
from sqlalchemy.sql.elements import ColumnElement

from dictamesh.catalog._sql import AUDIT, EVENTS
from dictamesh.catalog.service import CatalogService

__all__ = ["RetentionJob", "RetentionRule", "parse_age"]

log = logging.getLogger(__name__)

_AGE = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(value: Any) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        age = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        age = timedelta(seconds=value)
    elif isinstance(value, str) and (m := _AGE.match(value)):
        age = timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    else:
        raise ValueError("expected an age like '30d', '12h', '15m', '2w' or seconds")
    if age <= timedelta(0):
        raise ValueError("an age must be positive")
    return age


class RetentionRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: Literal["event_log", "audit"]
    topics: list[str] = Field(default_factory=list, max_length=100)
    entity_types: list[str] = Field(default_factory=list, max_length=100)
    max_age: timedelta

    @field_validator("max_age", mode="before")
    @classmethod
    def _age(cls, value: Any) -> timedelta:
        return parse_age(value)

    @field_validator("topics")
    @classmethod
    def _topics_only_for_events(cls, value: list[str], info: Any) -> list[str]:
        if value and info.data.get("target") == "audit":
            raise ValueError("audit rows have no topic; select them by entity_types")
        return value


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
        now = self._catalog._now()
        deleted = {"event_log": 0, "audit": 0}
        tenants = await self._catalog.tenants() if self.rules else []
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
                    async with self._catalog.write(tenant) as conn:
                        if target == "audit" and self._catalog.dialect == "postgresql":
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
