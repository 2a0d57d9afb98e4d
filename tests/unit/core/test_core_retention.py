"""Retention rules as pure configuration (core/retention.py)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from dictamesh.core.retention import RetentionRule, parse_age


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30d", timedelta(days=30)),
        (" 12 h ", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
        (3600, timedelta(hours=1)),
        (1.5, timedelta(seconds=1.5)),
        (timedelta(days=1), timedelta(days=1)),
    ],
)
def test_parse_age_accepts(value: object, expected: timedelta) -> None:
    assert parse_age(value) == expected


@pytest.mark.parametrize("value", ["soon", "30", "3y", "", True, None, 0, "0d", -5])
def test_parse_age_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="age"):
        parse_age(value)


def test_rule_validates_its_fields() -> None:
    rule = RetentionRule(target="event_log", topics=["customers.*"], max_age="30d")
    assert rule.max_age == timedelta(days=30)
    with pytest.raises(ValueError, match="no topic"):
        RetentionRule(target="audit", topics=["x"], max_age="1d")
    with pytest.raises(ValueError, match="extra"):
        RetentionRule.model_validate({"target": "audit", "max_age": "1d", "keep": True})


def test_governance_re_exports_the_same_objects() -> None:
    from dictamesh.governance import retention

    assert retention.RetentionRule is RetentionRule
    assert retention.parse_age is parse_age


def test_settings_validate_retention_without_importing_the_catalog() -> None:
    # A fresh interpreter: this process has imported the catalog long ago.
    code = (
        "import sys\n"
        "from dictamesh.core.settings import GovernanceSettings\n"
        "s = GovernanceSettings(retention=[{'target': 'audit', 'max_age': '400d'}])\n"
        "assert s.retention[0].max_age.days == 400, s.retention\n"
        "print(sorted(m for m in sys.modules if m.startswith(('dictamesh.catalog',"
        " 'dictamesh.governance'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
