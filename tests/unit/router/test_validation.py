"""Rule sets that cannot run are refused whole, each problem with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.router.errors import RouterConfigError
from dictamesh.router.runtime import NodeRouter

from .conftest import rules


def test_shapes_are_checked_by_the_settings(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(
        "router:\n"
        "  rules:\n"
        "    - name: a\n"
        "      to: [x.y.z]\n"
        "      transform:\n"
        "        - project: [a]\n"
        "          rename: {a: b}\n"
        "    - name: b\n"
        "      match: {event_types: [upserted]}\n"
        "      to: [x.y.w]\n"
        "    - name: c\n"
    )
    with pytest.raises(ConfigurationError) as info:
        DictaMeshSettings.from_yaml(mesh)
    text = info.value.message
    assert "line 6: router.rules.0.transform.0: " in text
    assert "exactly one of" in text
    assert "line 9: router.rules.1.match.event_types: " in text
    assert "upserted" in text
    assert "line 11: router.rules.2: " in text
    assert "needs 'to'" in text


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"to": "a.b.c", "transform": [{"envelope": {"debezium": False}}]}, "envelope needs"),
        (
            {"to": "a.b.c", "transform": [{"envelope": {"debezium": True}}, {"project": ["a"]}]},
            "comes last",
        ),
        ({"drop": True, "to": "a.b.c"}, "a drop rule has no 'to'"),
        ({"to": ["a.b.c", "a.b.c"]}, "unique"),
        ({"to": "a.b.c", "transform": [{"headers": {"dlq-error": "x"}}]}, "the mesh's own"),
        ({"to": "a.b.c", "transform": [{"rename": {"a": "b", "c": "b"}}]}, "unique"),
    ],
)
def test_bad_rules_are_refused(rule: dict, expected: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigurationError, match=expected):
        DictaMeshSettings.from_mapping({"router": {"rules": [{"name": "r", **rule}]}})


def test_compile_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(
        "router:\n"
        "  enabled: true\n"
        "  sources: [customers.crm.entity_changed]\n"
        "  rules:\n"
        "    - name: bad-predicate\n"
        "      match:\n"
        "        predicate: \"aftr.country == 'DE'\"\n"
        "      to: [a.b.c]\n"
        "    - name: bad-mask\n"
        "      transform:\n"
        "        - mask: {email: hsh}\n"
        "      to: [a.b.d]\n"
        "    - name: bad-target\n"
        "      to: [Not-A-Topic, a.b.e.dlq]\n"
        "    - name: loop\n"
        "      match: {topics: ['customers.*.copy']}\n"
        "      to: [customers.crm.copy]\n"
        "    - name: loop-to-source\n"
        "      to: [customers.crm.entity_changed]\n"
        "    - name: syntax\n"
        "      match: {predicate: 'after.a ==' }\n"
        "      to: [a.b.f]\n"
    )
    settings = DictaMeshSettings.from_yaml(mesh)
    with pytest.raises(RouterConfigError) as info:
        NodeRouter.check(settings, settings.router.sources)
    problems = info.value.problems
    assert len(problems) == 7, problems
    assert problems[0].startswith(f"{mesh}, line 7: router.rules.0.match.predicate: ")
    assert "unknown name 'aftr' (did you mean 'after'?)" in problems[0]
    assert problems[1].startswith(f"{mesh}, line 11: router.rules.1.transform.0.mask.email: ")
    assert "unknown mask strategy 'hsh'" in problems[1]
    assert "router.rules.2.to.0: target 'Not-A-Topic' is not a topic name" in problems[2]
    assert "router.rules.2.to.1: target 'a.b.e.dlq'" in problems[3]
    assert "line 17: router.rules.3.to.0: " in problems[4]
    assert "read by rules[3]" in problems[4]
    assert "router.rules.4.to.0" in problems[5]
    assert "the router reads" in problems[5]
    assert "line 21: router.rules.5.match.predicate: predicate syntax error" in problems[6]


def test_predicates_may_only_use_the_documented_names() -> None:
    rules({"name": "ok", "match": {"predicate": "event.entity.id == entity_id"}, "to": "a.b.c"})
    with pytest.raises(RouterConfigError, match="unknown name 'recipient'"):
        rules({"name": "no", "match": {"predicate": "recipient == 'x'"}, "to": "a.b.c"})


def test_a_bad_dead_letter_topic_is_refused() -> None:
    settings = DictaMeshSettings.from_mapping(
        {"router": {"dead_letter_topic": "no good", "rules": [{"name": "r", "to": "a.b.c"}]}}
    )
    with pytest.raises(RouterConfigError, match="dead_letter_topic"):
        NodeRouter.check(settings)


def test_inline_rules_and_a_rules_file_exclude_each_other() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        DictaMeshSettings.from_mapping(
            {"router": {"rules_file": "r.yaml", "rules": [{"name": "r", "to": "a.b.c"}]}}
        )
