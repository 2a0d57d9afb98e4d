"""Retention rules as configuration: which event-log or audit rows are kept, and for how long.

Pure models (no catalog, no database), so settings can validate ``governance.retention``
without importing the layers that apply the rules
(:class:`~dictamesh.governance.retention.RetentionJob` does).

Example::

    rule = RetentionRule(target="event_log", topics=["customers.*"], max_age="30d")
    rule.max_age == parse_age("30d") == timedelta(days=30)
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["RetentionRule", "parse_age"]

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
    """Rows of ``target`` selected by ``topics``/``entity_types`` globs (``*``, ``?``; none:
    every row) are kept for ``max_age``."""

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
