"""Per-event rule checks in Python: one entity's attributes against one rule.

Used on ingest (:mod:`dictamesh.quality.streaming`) and, for ``regex``, over the catalog too
(one regex dialect everywhere: Python's, so a value fails on the schedule exactly when it
fails on ingest). Conventions shared with the SQL of :mod:`dictamesh.quality.sql`:

* a missing field and JSON ``null`` are both "null": only ``not_null`` fails on them;
* ``accepted_values`` and ``where`` compare values as text (``1`` equals ``"1"``);
* ``range`` needs a JSON number: a string or anything else fails.

Example::

    check = event_check(rule)
    if applies(rule, attributes) and not check(attributes):
        ...  # failing
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from dictamesh.core.quality_config import QualityRule, RuleType

__all__ = ["applies", "as_text", "event_check"]

Check = Callable[[Mapping[str, Any]], bool]


def as_text(value: Any) -> str:
    """A JSON scalar as the SQL side reads it as text."""
    return value if isinstance(value, str) else str(value)


def applies(rule: QualityRule, attributes: Mapping[str, Any]) -> bool:
    """Whether the entity is one the rule's ``where`` selects."""
    for name, wanted in rule.where.items():
        value = attributes.get(name)
        if value is None or as_text(value) != as_text(wanted):
            return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def event_check(rule: QualityRule) -> Check:
    """A function telling whether one entity's attributes pass ``rule`` (a per-event rule)."""
    (name,) = rule.checked_fields
    kind = rule.type
    if kind is RuleType.NOT_NULL:
        return lambda a: a.get(name) is not None
    if kind is RuleType.ACCEPTED_VALUES:
        accepted = frozenset(as_text(v) for v in rule.values or ())

        def accepted_value(a: Mapping[str, Any]) -> bool:
            value = a.get(name)
            return value is None or as_text(value) in accepted

        return accepted_value
    if kind is RuleType.RANGE:
        low, high = rule.min, rule.max

        def in_range(a: Mapping[str, Any]) -> bool:
            value = a.get(name)
            if value is None:
                return True
            if not _is_number(value):
                return False
            return (low is None or value >= low) and (high is None or value <= high)

        return in_range
    if kind is RuleType.REGEX:
        pattern = re.compile(rule.pattern or "")

        def matches(a: Mapping[str, Any]) -> bool:
            value = a.get(name)
            return value is None or pattern.search(as_text(value)) is not None

        return matches
    raise ValueError(f"{kind.value} is not checked per event")
