"""Data-quality rule configuration (pure models, no I/O): the rules of ``quality.rules``.

``quality.rules`` maps an entity type to its rules (``docs/quality.md``). Each rule has an
``id`` unique in the mesh, a ``type``, the field(s) it checks, a ``severity`` and an optional
``where`` (field → value, all must equal) narrowing the entities it applies to. A rule is
checked whole at load: a missing parameter, a bad regex or age, a parameter another type
does not take — a :class:`~dictamesh.core.errors.ConfigurationError` naming the line.

Example (``mesh.yaml``)::

    quality:
      rules:
        invoice:
          - {id: invoice-customer, type: not_null, field: customer_id, severity: error}
          - {id: invoice-status, type: accepted_values, field: status,
             values: [draft, open, paid, void, cancelled]}
          - {id: invoice-total, type: range, field: total, min: 0}
          - {id: invoice-customer-exists, type: referential_integrity, field: customer_id,
             references: customer, severity: error}
          - {id: invoice-fresh, type: freshness, max_age: 1d, severity: warn}
          - {id: invoice-rows, type: row_count_change, max_change_percent: 50}
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dictamesh.core.retention import parse_age

__all__ = ["PER_EVENT_RULES", "QualityRule", "RuleType", "Severity", "check_rule_ids"]

_ID = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
_FIELD = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
_TYPE = r"^[a-z][a-z0-9_]{0,62}$"
#: longest regex a rule may carry (a pattern is compiled once, at load)
MAX_PATTERN = 500

Scalar = str | int | float


class RuleType(StrEnum):
    NOT_NULL = "not_null"
    UNIQUE = "unique"
    ACCEPTED_VALUES = "accepted_values"
    RANGE = "range"
    REGEX = "regex"
    FRESHNESS = "freshness"
    ROW_COUNT_CHANGE = "row_count_change"
    REFERENTIAL_INTEGRITY = "referential_integrity"


class Severity(StrEnum):
    WARN = "warn"
    ERROR = "error"


#: rules one event can be checked against alone (evaluated on ingest, too)
PER_EVENT_RULES = frozenset(
    {RuleType.NOT_NULL, RuleType.ACCEPTED_VALUES, RuleType.RANGE, RuleType.REGEX}
)
#: rules that name exactly one field; ``unique`` takes one or more; the rest none
_ONE_FIELD = PER_EVENT_RULES | {RuleType.REFERENTIAL_INTEGRITY}
#: the parameters each type takes (besides id, type, field(s), severity, where)
_PARAMS: dict[RuleType, frozenset[str]] = {
    RuleType.NOT_NULL: frozenset(),
    RuleType.UNIQUE: frozenset(),
    RuleType.ACCEPTED_VALUES: frozenset({"values"}),
    RuleType.RANGE: frozenset({"min", "max"}),
    RuleType.REGEX: frozenset({"pattern"}),
    RuleType.FRESHNESS: frozenset({"max_age"}),
    RuleType.ROW_COUNT_CHANGE: frozenset({"max_change_percent"}),
    RuleType.REFERENTIAL_INTEGRITY: frozenset({"references"}),
}
_ALL_PARAMS = frozenset().union(*_PARAMS.values())


class QualityRule(BaseModel):
    """One data-quality rule of one entity type (``docs/quality.md``, "Rules")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    type: RuleType
    #: the field checked (``field``) or, for ``unique``, the fields that together are unique
    field: str | None = Field(default=None, pattern=_FIELD)
    fields: tuple[str, ...] = Field(default=(), max_length=8)
    severity: Severity = Severity.ERROR
    #: only entities whose fields equal these values (compared as text)
    where: dict[str, Scalar] = Field(default_factory=dict, max_length=8)
    values: tuple[Scalar, ...] | None = Field(default=None, min_length=1, max_length=1000)
    min: float | None = None
    max: float | None = None
    pattern: str | None = Field(default=None, max_length=MAX_PATTERN)
    max_age: timedelta | None = None
    max_change_percent: float | None = Field(default=None, gt=0, le=1_000_000)
    #: the entity type whose ids ``field`` must name (referential integrity)
    references: str | None = Field(default=None, pattern=_TYPE)

    @field_validator("max_age", mode="before")
    @classmethod
    def _age(cls, value: Any) -> timedelta | None:
        return None if value is None else parse_age(value)

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not re.fullmatch(_FIELD, name):
                raise ValueError(f"{name!r} is not a field name")
        return value

    @field_validator("where")
    @classmethod
    def _where(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        for name, wanted in value.items():
            if not re.fullmatch(_FIELD, name):
                raise ValueError(f"{name!r} is not a field name")
            if isinstance(wanted, bool):
                raise ValueError(f"where.{name}: compare with a string or a number")
        return value

    @field_validator("values")
    @classmethod
    def _values(cls, value: tuple[Scalar, ...] | None) -> tuple[Scalar, ...] | None:
        if value is not None and any(isinstance(v, bool) for v in value):
            raise ValueError("accepted values are strings or numbers (compared as text)")
        return value

    @model_validator(mode="after")
    def _shape(self) -> Self:
        kind = self.type
        if self.field is not None and self.fields:
            raise ValueError("give `field` or `fields`, not both")
        names = self.checked_fields
        if kind in _ONE_FIELD and len(names) != 1:
            raise ValueError(f"a {kind.value} rule checks exactly one `field`")
        if kind is RuleType.UNIQUE and not names:
            raise ValueError("a unique rule needs `field` or `fields`")
        if kind in (RuleType.FRESHNESS, RuleType.ROW_COUNT_CHANGE) and names:
            raise ValueError(f"a {kind.value} rule checks the whole type: no `field`")
        given = {p for p in _ALL_PARAMS if getattr(self, p) is not None}
        extra = sorted(given - _PARAMS[kind])
        if extra:
            raise ValueError(f"a {kind.value} rule takes no {', '.join(extra)}")
        required = {
            RuleType.ACCEPTED_VALUES: "values",
            RuleType.REGEX: "pattern",
            RuleType.FRESHNESS: "max_age",
            RuleType.ROW_COUNT_CHANGE: "max_change_percent",
            RuleType.REFERENTIAL_INTEGRITY: "references",
        }.get(kind)
        if required is not None and required not in given:
            raise ValueError(f"a {kind.value} rule needs `{required}`")
        if kind is RuleType.RANGE:
            if self.min is None and self.max is None:
                raise ValueError("a range rule needs `min`, `max` or both")
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError("range: `min` is above `max`")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern does not compile: {exc}") from None
        return self

    @property
    def checked_fields(self) -> tuple[str, ...]:
        return (self.field,) if self.field is not None else self.fields

    @property
    def per_event(self) -> bool:
        """Checked on each ingested event too (not only on the schedule)."""
        return self.type in PER_EVENT_RULES


def check_rule_ids(rules: dict[str, list[QualityRule]]) -> dict[str, list[QualityRule]]:
    """Rule ids are unique across every entity type (``--rule ID`` names one rule)."""
    seen: dict[str, str] = {}
    for entity_type, listed in rules.items():
        if not re.fullmatch(_TYPE, entity_type):
            raise ValueError(f"{entity_type!r} is not an entity type name")
        for rule in listed:
            if rule.id in seen:
                raise ValueError(
                    f"rule id {rule.id!r} is used twice ({seen[rule.id]} and {entity_type})"
                )
            seen[rule.id] = entity_type
    return rules
