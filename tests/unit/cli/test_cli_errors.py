"""Bad CLI input ends with a one-line message and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dictamesh.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("adapters: [\n  - name: x\n", "not valid YAML"),
        ("- just\n- a list\n", "mapping at the top level"),
        ("bus:\n  backend: rabbitmq\n", "bus.backend"),
        ("adapters:\n  - name: BadName\n    kind: x\n    base_url: http://x\n", "adapters.0.name"),
        ("unknown_key: 1\n", "unknown_key"),
    ],
)
def test_invalid_config_yaml_exits_2(tmp_path: Path, content: str, expected: str) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text(content)
    result = runner.invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split())  # rich wraps long lines
    assert "Traceback" not in result.output


def test_missing_config_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "not found" in " ".join(result.output.split())


def test_unknown_backend_exits_2() -> None:
    result = runner.invoke(app, ["demo", "--check", "--backend", "oracle"])
    assert result.exit_code == 2
    assert "--backend" in result.output


def test_unknown_adapter_kind_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text(
        f"state_dir: {tmp_path}\nbus: {{path: {tmp_path}/bus.sqlite3}}\n"
        f"catalog: {{url: 'sqlite+aiosqlite:///{tmp_path}/c.sqlite3'}}\n"
        "adapters:\n  - name: crm\n    kind: no_such_kind\n    base_url: http://127.0.0.1:9\n"
    )
    result = runner.invoke(app, ["serve", "--config", str(config), "--port", "0"])
    assert result.exit_code == 2, result.output
    assert "no_such_kind" in " ".join(result.output.split())
