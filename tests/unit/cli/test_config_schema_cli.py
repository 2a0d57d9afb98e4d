"""``dictamesh config schema``: the JSON Schema of mesh.yaml on stdout or in a file."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from typer.testing import CliRunner

from dictamesh.cli.main import app

runner = CliRunner()


def test_the_schema_goes_to_stdout_and_validates_a_config() -> None:
    result = runner.invoke(app, ["config", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    good = yaml.safe_load("node_name: n\nbus: {backend: kafka, kafka_bootstrap: 'k:9092'}\n")
    assert validator.is_valid(good)
    assert not validator.is_valid({"bus": {"backnd": "kafka"}})


def test_the_schema_is_written_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "mesh.schema.json"
    result = runner.invoke(app, ["config", "schema", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert f"wrote {target}" in result.stdout
    assert json.loads(target.read_text())["title"] == "DictaMesh mesh.yaml"


def test_an_unwritable_target_exits_2_writing_nothing(tmp_path: Path) -> None:
    into_dir = runner.invoke(app, ["config", "schema", "-o", str(tmp_path)])
    assert into_dir.exit_code == 2
    assert "is a directory" in into_dir.output
    missing = runner.invoke(app, ["config", "schema", "-o", str(tmp_path / "no" / "s.json")])
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    assert list(tmp_path.iterdir()) == []
