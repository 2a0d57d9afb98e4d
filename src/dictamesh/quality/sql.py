"""Rules evaluated over the catalog, set-based, in SQL that SQLite and PostgreSQL both run.

The catalog keeps an entity's attributes as JSON (``dictamesh_entity_catalog.attributes``:
JSON on SQLite, JSONB on PostgreSQL); SQLAlchemy's JSON indexing renders ``json_extract``
and ``->>`` respectively, and the two dialect differences left (a value's JSON type, a
number read out of JSON) are :func:`_json_type` and :func:`_number`. Counting, grouping and
joins happen in the database: ``unique`` is a ``GROUP BY … HAVING count(*) > 1``,
referential integrity a ``NOT EXISTS`` over the catalog's (tenant, type, id) key — no
entity is loaded into Python for them. ``regex`` alone reads the one field (keyset pages):
one regex dialect everywhere (:mod:`dictamesh.quality.checks`).

Only active entities are checked (a deleted one is not data anymore), except by
``freshness``, for which a deletion is an update too.

Example::

    outcome = await evaluate(conn, dialect, tenant, "invoice", rule, sample_size=20,
                             now=now, previous_count=None)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from dictamesh.catalog.tables import ENTITY
from dictamesh.core.quality_config import QualityRule, RuleType
from dictamesh.quality.checks import as_text

__all__ = ["Outcome", "evaluate"]

#: rows read per page by ``regex``
_PAGE = 1000


@dataclass(slots=True)
class Outcome:
    """One rule's evaluation: entities checked and failing, a sample of failing ids."""

    checked: int
    failing: int
    sample: list[str] = field(default_factory=list)
    #: freshness: age of the newest update (seconds); row_count_change: the row count
    observed: float | None = None
    #: row_count_change: the change against the previous run (percent)
    change_percent: float | None = None
    #: passed regardless of ``failing`` (freshness, row count)
    passed: bool | None = None

    @property
    def ok(self) -> bool:
        return self.passed if self.passed is not None else self.failing == 0


def _path(name: str) -> str:
    return f'$."{name}"'


def _text(t: FromClause, name: str) -> ColumnElement[Any]:
    """The attribute as text (``->>`` / ``json_extract``), NULL when missing or null."""
    return cast(t.c.attributes[name].as_string(), String)


def _json_type(t: FromClause, name: str, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.jsonb_typeof(t.c.attributes.op("->")(literal(name)))
    return func.json_type(t.c.attributes, _path(name))


def _is_number(t: FromClause, name: str, dialect: str) -> ColumnElement[bool]:
    kind = _json_type(t, name, dialect)
    if dialect == "postgresql":
        return kind == "number"
    return kind.in_(("integer", "real"))


def _number(t: FromClause, name: str, dialect: str) -> ColumnElement[Any]:
    # cast only what is a JSON number: PostgreSQL would fail the query on 'abc'::float
    return case((_is_number(t, name, dialect), t.c.attributes[name].as_float()), else_=None)


def _scope(
    t: FromClause, tenant: str, entity_type: str, rule: QualityRule
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        t.c.tenant_id == tenant,
        t.c.entity_type == entity_type,
        t.c.status == "active",
    ]
    for name, wanted in rule.where.items():
        conditions.append(_text(t, name) == as_text(wanted))
    return conditions


def _failing(t: FromClause, rule: QualityRule, dialect: str) -> ColumnElement[bool]:
    """Per-row failure condition of not_null, accepted_values and range."""
    (name,) = rule.checked_fields
    value = _text(t, name)
    if rule.type is RuleType.NOT_NULL:
        return value.is_(None)
    if rule.type is RuleType.ACCEPTED_VALUES:
        accepted = [as_text(v) for v in rule.values or ()]
        return and_(value.is_not(None), value.not_in(accepted))
    if rule.type is RuleType.RANGE:
        number = _number(t, name, dialect)
        out: list[ColumnElement[bool]] = [number.is_(None)]  # present but not a number
        if rule.min is not None:
            out.append(number < rule.min)
        if rule.max is not None:
            out.append(number > rule.max)
        return and_(value.is_not(None), or_(*out))
    raise ValueError(f"{rule.type.value} has no row condition")


async def _count_and_sample(
    conn: AsyncConnection,
    t: FromClause,
    scope: Sequence[ColumnElement[bool]],
    bad: ColumnElement[bool],
    sample_size: int,
) -> Outcome:
    counts = (
        await conn.execute(
            select(func.count(), func.coalesce(func.sum(case((bad, 1), else_=0)), 0)).where(*scope)
        )
    ).one()
    outcome = Outcome(checked=int(counts[0]), failing=int(counts[1]))
    if outcome.failing and sample_size:
        rows = await conn.execute(
            select(t.c.entity_id).where(*scope, bad).order_by(t.c.entity_id).limit(sample_size)
        )
        outcome.sample = [r[0] for r in rows]
    return outcome


async def _regex(
    conn: AsyncConnection, tenant: str, entity_type: str, rule: QualityRule, sample_size: int
) -> Outcome:
    (name,) = rule.checked_fields
    pattern = re.compile(rule.pattern or "")
    t = ENTITY
    value = t.c.attributes[name]
    scope = _scope(t, tenant, entity_type, rule)
    outcome = Outcome(checked=0, failing=0)
    after = ""
    while True:
        rows = (
            await conn.execute(
                select(t.c.entity_id, value)
                .where(*scope, t.c.entity_id > after)
                .order_by(t.c.entity_id)
                .limit(_PAGE)
            )
        ).all()
        for entity_id, found in rows:
            outcome.checked += 1
            if found is None:
                continue
            text = found if isinstance(found, str) else str(found)
            if pattern.search(text) is None:
                outcome.failing += 1
                if len(outcome.sample) < sample_size:
                    outcome.sample.append(entity_id)
        if len(rows) < _PAGE:
            return outcome
        after = rows[-1][0]


async def _unique(
    conn: AsyncConnection, tenant: str, entity_type: str, rule: QualityRule, sample_size: int
) -> Outcome:
    t = ENTITY
    names = rule.checked_fields
    keys = [_text(t, n).label(f"k{i}") for i, n in enumerate(names)]
    scope = [*_scope(t, tenant, entity_type, rule), *(_text(t, n).is_not(None) for n in names)]
    duplicated = (
        select(*keys).where(*scope).group_by(*keys).having(func.count() > 1).subquery("dup")
    )
    joined = and_(*(_text(t, n) == duplicated.c[f"k{i}"] for i, n in enumerate(names)))
    checked = (await conn.execute(select(func.count()).where(*scope))).scalar_one()
    failing = (
        await conn.execute(
            select(func.count()).select_from(t.join(duplicated, joined)).where(*scope)
        )
    ).scalar_one()
    outcome = Outcome(checked=int(checked), failing=int(failing))
    if failing and sample_size:
        rows = await conn.execute(
            select(t.c.entity_id)
            .select_from(t.join(duplicated, joined))
            .where(*scope)
            .order_by(t.c.entity_id)
            .limit(sample_size)
        )
        outcome.sample = [r[0] for r in rows]
    return outcome


async def _referential(
    conn: AsyncConnection, tenant: str, entity_type: str, rule: QualityRule, sample_size: int
) -> Outcome:
    (name,) = rule.checked_fields
    child = ENTITY.alias("child")
    parent = ENTITY.alias("parent")
    value = _text(child, name)
    scope = [*_scope(child, tenant, entity_type, rule), value.is_not(None)]
    # the catalog's (tenant, type, id) key answers each lookup
    missing = not_(
        exists().where(
            parent.c.tenant_id == child.c.tenant_id,
            parent.c.entity_type == rule.references,
            parent.c.entity_id == value,
            parent.c.status == "active",
        )
    )
    return await _count_and_sample(conn, child, scope, missing, sample_size)


async def _freshness(
    conn: AsyncConnection, tenant: str, entity_type: str, rule: QualityRule, now: datetime
) -> Outcome:
    t = ENTITY
    conditions = _scope(t, tenant, entity_type, rule)[:2]  # deletions are updates too
    conditions += [_text(t, n) == as_text(v) for n, v in rule.where.items()]
    row = (
        await conn.execute(select(func.count(), func.max(t.c.updated_at)).where(*conditions))
    ).one()
    count, newest = int(row[0]), row[1]
    if newest is None:
        return Outcome(checked=count, failing=1, passed=False)
    if isinstance(newest, str):  # SQLite's max() hands back the stored text
        newest = datetime.fromisoformat(newest)
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=now.tzinfo)
    age = max(0.0, (now - newest).total_seconds())
    assert rule.max_age is not None
    fresh = age <= rule.max_age.total_seconds()
    return Outcome(checked=count, failing=0 if fresh else 1, observed=age, passed=fresh)


async def _row_count(
    conn: AsyncConnection,
    tenant: str,
    entity_type: str,
    rule: QualityRule,
    previous_count: float | None,
) -> Outcome:
    scope = _scope(ENTITY, tenant, entity_type, rule)
    count = int((await conn.execute(select(func.count()).where(*scope))).scalar_one())
    outcome = Outcome(checked=count, failing=0, observed=float(count), passed=True)
    if previous_count is None:  # the first run is the baseline
        return outcome
    change = abs(count - previous_count) / max(previous_count, 1.0) * 100.0
    outcome.change_percent = round(change, 2)
    assert rule.max_change_percent is not None
    if change > rule.max_change_percent:
        outcome.passed = False
        outcome.failing = 1
    return outcome


async def evaluate(
    conn: AsyncConnection,
    dialect: str,
    tenant: str,
    entity_type: str,
    rule: QualityRule,
    *,
    sample_size: int,
    now: datetime,
    previous_count: float | None = None,
) -> Outcome:
    """Evaluate ``rule`` over ``tenant``'s entities of ``entity_type`` in the catalog.

    ``previous_count``: the row count the previous run observed (``row_count_change``)."""
    kind = rule.type
    if kind in (RuleType.NOT_NULL, RuleType.ACCEPTED_VALUES, RuleType.RANGE):
        scope = _scope(ENTITY, tenant, entity_type, rule)
        return await _count_and_sample(
            conn, ENTITY, scope, _failing(ENTITY, rule, dialect), sample_size
        )
    if kind is RuleType.REGEX:
        return await _regex(conn, tenant, entity_type, rule, sample_size)
    if kind is RuleType.UNIQUE:
        return await _unique(conn, tenant, entity_type, rule, sample_size)
    if kind is RuleType.REFERENTIAL_INTEGRITY:
        return await _referential(conn, tenant, entity_type, rule, sample_size)
    if kind is RuleType.FRESHNESS:
        return await _freshness(conn, tenant, entity_type, rule, now)
    return await _row_count(conn, tenant, entity_type, rule, previous_count)
