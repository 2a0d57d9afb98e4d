"""Configuration problems name the YAML line they are about (``yaml_line``,
``config_problem``, ``DictaMeshSettings.from_yaml``), and never claim a line for a value the
environment set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.core.yaml_env import config_problem, message_path, yaml_line

MESH = """\
# a mesh
node_name: n1
api:
  port: 8000
adapters:
  - name: crm
    kind: k
    base_url: http://127.0.0.1:9
  - name: shop
    kind: k
    base_url: http://127.0.0.1:9
    poll_interval_seconds: 5
notifications:
  channels:
    mail: {kind: email}
  rules:
    - name: first
      when: {topics: [a]}
      channels: [mail]
    - name: second
      when: {topics: [b]}
      channels: [mail]
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mesh.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigurationError) as info:
        DictaMeshSettings.from_yaml(path)
    problems: list[str] = info.value.details["problems"]
    return problems


def test_an_unknown_key_names_its_line(tmp_path: Path) -> None:
    config = write(tmp_path, MESH.replace("  port: 8000\n", "  port: 8000\n  prot: 1\n"))
    with pytest.raises(ConfigurationError) as info:
        DictaMeshSettings.from_yaml(config)
    assert info.value.details["problems"] == [
        f"{config}, line 5: api.prot: Extra inputs are not permitted"
    ]
    # the message names the file once
    assert str(info.value) == f"invalid {config}: line 5: api.prot: Extra inputs are not permitted"


def test_a_wrong_type_in_a_nested_list_item_names_its_line(tmp_path: Path) -> None:
    config = write(tmp_path, MESH.replace("poll_interval_seconds: 5", "poll_interval_seconds: x"))
    [problem] = problems_of(config)
    assert problem.startswith(f"{config}, line 12: adapters.1.poll_interval_seconds: Input should")


def test_a_missing_required_field_names_its_parent(tmp_path: Path) -> None:
    config = write(tmp_path, MESH.replace("    base_url: http://127.0.0.1:9\n", "", 1))
    assert problems_of(config) == [f"{config}, line 6: adapters.0.base_url: Field required"]


def test_a_model_validator_message_names_the_line_of_its_inner_path(tmp_path: Path) -> None:
    # raised by NotificationSettings' validator (loc: notifications) as "rules[1] (second): ..."
    config = write(
        tmp_path,
        MESH.replace("channels: [mail]\n", "channels: [sms]\n").replace(
            "      channels: [sms]\n", "      channels: [mail]\n", 1
        ),
    )
    assert problems_of(config) == [
        f"{config}, line 20: notifications: rules[1] (second): unknown channel 'sms'"
    ]


def test_several_problems_each_with_their_line(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        MESH.replace("port: 8000", "port: many").replace(
            "node_name: n1\n", "node_name: n1\nx: 1\n"
        ),
    )
    problems = sorted(problems_of(config))
    assert problems[0] == f"{config}, line 3: x: Extra inputs are not permitted"
    assert problems[1].startswith(f"{config}, line 5: api.port: Input should be a valid integer")


def test_values_from_the_environment_claim_no_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, MESH)
    # overrides a value the file has: the file's line would be wrong
    monkeypatch.setenv("DICTAMESH_API__PORT", "many")
    [problem] = problems_of(config)
    assert problem.startswith(f"{config}: api.port: Input should be a valid integer")
    monkeypatch.delenv("DICTAMESH_API__PORT")
    # a section the file does not have at all
    monkeypatch.setenv("DICTAMESH_SAGA__LEASE_SECONDS", "0")
    assert problems_of(config) == [
        f"{config}: saga.lease_seconds: Input should be greater than 0.5"
    ]
    monkeypatch.delenv("DICTAMESH_SAGA__LEASE_SECONDS")
    # a whole list from the environment (.env this time): its items are not the file's
    (tmp_path / ".env").write_text(
        'DICTAMESH_ADAPTERS=[{"name": "crm", "kind": "k"}]\n', encoding="utf-8"
    )
    assert problems_of(config) == [f"{config}: adapters.0.base_url: Field required"]


def test_settings_remember_their_file(tmp_path: Path) -> None:
    config = write(tmp_path, MESH)
    settings = DictaMeshSettings.from_yaml(config)
    assert settings.source_file == config
    assert DictaMeshSettings.from_yaml("mesh.yaml").source_file == Path("mesh.yaml")
    assert DictaMeshSettings.from_mapping({}).source_file is None


def test_from_mapping_words_problems_without_a_file() -> None:
    with pytest.raises(ConfigurationError) as info:
        DictaMeshSettings.from_mapping({"api": {"port": "x"}, "bus": {"nope": 1}})
    assert "bus.nope: Extra inputs are not permitted" in info.value.details["problems"]
    assert str(info.value).startswith("invalid config: ")
    assert "api.port: Input should be a valid integer" in str(info.value)


def test_yaml_line_finds_keys_items_and_the_deepest_ancestor(tmp_path: Path) -> None:
    config = write(tmp_path, MESH)
    assert yaml_line(config, ["node_name"]) == 2
    assert yaml_line(config, ["api", "port"]) == 4
    assert yaml_line(config, ["adapters", 1]) == 9
    assert yaml_line(config, ["adapters", 1, "kind"]) == 10
    assert yaml_line(config, ["notifications", "rules", 1, "when", "topics", 0]) == 21
    # beyond the file: the deepest ancestor written there
    assert yaml_line(config, ["adapters", 1, "resilience", "timeout"]) == 9
    assert yaml_line(config, ["adapters", 7, "name"]) == 5
    assert yaml_line(config, ["api", "port", "int"]) == 4  # a scalar has no children
    assert yaml_line(config, []) == 2
    assert yaml_line(tmp_path / "missing.yaml", ["api"]) is None


def test_yaml_line_follows_merge_keys_and_edits(tmp_path: Path) -> None:
    config = write(tmp_path, "base: &b\n  port: 1\napi:\n  <<: *b\n  host: h\n")
    assert yaml_line(config, ["api", "host"]) == 5
    assert yaml_line(config, ["api", "port"]) == 2  # where the merged value is written
    config.write_text("\n\napi:\n  host: h\n", encoding="utf-8")
    os.utime(config, ns=(1, 1))  # a new mtime even on a coarse clock
    assert yaml_line(config, ["api", "host"]) == 4
    config.write_text("api: [unclosed\n", encoding="utf-8")
    assert yaml_line(config, ["api"]) is None


def test_config_problem(tmp_path: Path) -> None:
    config = write(tmp_path, MESH)
    loc = ("notifications", "rules", 1, "when", "predicate")
    # no predicate written: the line of its ``when``
    assert config_problem(config, loc, "bad") == (
        f"{config}, line 21: notifications.rules.1.when.predicate: bad"
    )
    assert config_problem(None, loc, "bad") == "notifications.rules.1.when.predicate: bad"
    # not even the first key is in the file: no line
    assert config_problem(config, ("saga", "enabled"), "no") == f"{config}: saga.enabled: no"
    assert config_problem(config, ("api",), "x", in_file=False) == f"{config}: api: x"
    assert config_problem(config, (), "groups.x: y").startswith(f"{config}: <root>: groups.x")


def test_message_path_convention() -> None:
    assert message_path("rules[2] (name): unknown channel 'x'") == ("rules", 2)
    assert message_path("groups.ops: unknown user(s) bob") == ("groups", "ops")
    assert message_path("a[0][1].b-c: x") == ("a", 0, 1, "b-c")
    assert message_path("needs topics, entity_types or mesh_events") == ()
    assert message_path("auth.mode='jwt' needs jwt_secret") == ()
    assert message_path("expected a time of day like '22:00'") == ()
