"""The CLI as a new user meets it: one error style, --version, completion, clean help,
--format everywhere, -c on every command that reads config, and the defects of issue 13."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

import dictamesh
from dictamesh.cli import _catalog_commands, governance
from dictamesh.cli.main import app

runner = CliRunner()
HERE = Path(__file__).parent
main = importlib.import_module("dictamesh.cli.main")  # the package exports main()
SRC = Path(dictamesh.__file__).resolve().parent.parent
# Rich markup that was printed instead of rendered
MARKUP_LEAK = re.compile(r"\[/\]|\[/?(bold|red|green|dim|yellow)[^\]]*\]")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICTAMESH_")}
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env["COLUMNS"] = "200"
    return env


def _config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "mesh.yaml"
    config.write_text(
        f"state_dir: {tmp_path}/state\nbus: {{path: {tmp_path}/state/bus.sqlite3}}\n"
        f"catalog: {{url: 'sqlite+aiosqlite:///{tmp_path}/catalog.sqlite3'}}\n" + extra
    )
    return config


def test_one_fail_function_serves_every_module() -> None:
    assert main.fail is _catalog_commands.fail
    assert governance.fail is _catalog_commands.fail
    assert not hasattr(main, "_fail")
    assert not hasattr(governance, "_fail")


def test_error_hint_keeps_its_extra() -> None:
    probe = typer.Typer()

    @probe.command()
    def go() -> None:
        _catalog_commands.fail("tracing needs the SDK: pip install 'dictamesh[otel]'")

    result = runner.invoke(probe, [])
    assert result.exit_code == 2
    assert "pip install 'dictamesh[otel]'" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"dictamesh {dictamesh.__version__}"


def test_completion_is_offered() -> None:
    result = runner.invoke(app, ["--help"])
    assert "--install-completion" in result.output
    assert "--show-completion" in result.output
    shown = runner.invoke(app, ["--show-completion", "bash"])
    assert shown.exit_code == 0
    assert "complete" in shown.output
    assert "_DICTAMESH_COMPLETE" in shown.output.upper()


@pytest.mark.parametrize(
    ("command", "choices"),
    [
        (["demo"], "<embedded|production>"),
        (["status"], "<table|json>"),
        (["supergraph"], "<yaml|json>"),
        (["governance", "scan"], "<table|json>"),
        (["saga", "list"], "<table|json>"),
        (["notify", "list"], "<table|json>"),
    ],
)
def test_help_shows_choices_and_no_bool_metavar(command: list[str], choices: str) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "<bool>" not in result.output
    assert choices in result.output
    assert "--json" not in result.output  # the deprecated alias is hidden


def test_root_help_has_no_bool_metavar() -> None:
    result = runner.invoke(app, ["--help"])
    assert "<bool>" not in result.output


@pytest.mark.parametrize(
    "command",
    [["migrate", "up"], ["migrate", "down"], ["migrate", "status"], ["migrate", "new", "x"],
     ["status"], ["serve"], ["supergraph"], ["governance", "scan"], ["saga", "list"],
     ["notify", "list"], ["auth", "token", "--sub", "a"]],
)  # fmt: skip
def test_every_config_reading_command_takes_c(command: list[str], tmp_path: Path) -> None:
    result = runner.invoke(app, [*command, "-c", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2, result.output
    assert "not found" in " ".join(result.output.split())
    assert not (tmp_path / "state").exists()


def test_unknown_adapter_kind_creates_nothing(tmp_path: Path) -> None:
    config = _config(
        tmp_path, "adapters:\n  - name: crm\n    kind: no_such_kind\n    base_url: http://x\n"
    )
    result = runner.invoke(app, ["serve", "-c", str(config), "--port", "0"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "no_such_kind" in said
    assert "known: customers_directus" in said
    assert not (tmp_path / "state").exists()
    assert not (tmp_path / "catalog.sqlite3").exists()


def test_py_typed_is_in_the_wheel(tmp_path: Path) -> None:
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=SRC.parent,
        check=True,
        capture_output=True,
        timeout=120,
    )
    [wheel] = list(tmp_path.glob("dictamesh-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "dictamesh/py.typed" in names
    # the browser UI's committed bundle: a wheel serves /ui without Node.js (docs/ui.md)
    ui = SRC / "dictamesh" / "api" / "static" / "ui"
    manifest = json.loads((ui / "manifest.json").read_text(encoding="utf-8"))
    for name in ("manifest.json", "LICENSE", *(f"assets/{a}" for a in manifest["entry"].values())):
        assert f"dictamesh/api/static/ui/{name}" in names, name
    assert not [n for n in names if "node_modules" in n or n.startswith("ui/")]


def test_serve_port_0_prints_the_real_url_and_status_formats(tmp_path: Path) -> None:
    # an adapter whose source is down: the node serves anyway (degraded), as in production
    config = _config(
        tmp_path,
        "adapters:\n  - {name: crm, kind: customers_directus, base_url: 'http://127.0.0.1:9'}\n",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "dictamesh", "serve", "-c", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:(\d+))", line)
        assert match, line
        url, port = match.group(1), int(match.group(2))
        assert port not in (0, 8000)
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        as_json = runner.invoke(app, ["status", "--url", url, "--format", "json"])
        assert json.loads(as_json.stdout)["status"] in ("ready", "not_ready")
        alias = runner.invoke(app, ["status", "--url", url, "--json"])
        same, first = json.loads(alias.stdout), json.loads(as_json.stdout)
        assert (same["status"], set(same["checks"])) == (first["status"], set(first["checks"]))
        assert "--json is deprecated; use --format json" in alias.stderr
        # -c: the node's address from a config file's api section
        other = tmp_path / "other.yaml"
        other.write_text(f"api: {{host: 127.0.0.1, port: {port}}}\n")
        from_config = runner.invoke(app, ["status", "-c", str(other), "-f", "json"])
        assert json.loads(from_config.stdout)["status"] == first["status"]
        table = runner.invoke(app, ["status", "--url", url])
        assert "node http://" in table.stdout
        assert not table.stdout.lstrip().startswith("{")
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_migrate_status_reads_the_config(tmp_path: Path) -> None:
    config = _config(tmp_path)
    up = runner.invoke(app, ["migrate", "up", "-c", str(config)])
    assert up.exit_code == 0, up.output
    status = runner.invoke(app, ["migrate", "status", "-c", str(config)])
    assert status.exit_code == 0
    current, head = re.findall(r"current: (\S+)  head: (\S+)", status.output)[0]
    assert current == head != "None"
    assert (tmp_path / "catalog.sqlite3").is_file()


def test_node_start_checks_adapter_kinds_before_creating_files(tmp_path: Path) -> None:
    import asyncio

    from dictamesh.core.errors import ConfigurationError
    from dictamesh.core.settings import DictaMeshSettings
    from dictamesh.node import MeshNode

    settings = DictaMeshSettings.from_yaml(
        _config(tmp_path, "adapters:\n  - {name: crm, kind: no_such_kind, base_url: 'http://x'}\n")
    )

    async def start() -> None:
        async with MeshNode(settings):
            pass

    with pytest.raises(ConfigurationError, match="no_such_kind"):
        asyncio.run(start())
    # (the constructor may make the empty state directory; no bus, state or catalog file)
    assert not list(tmp_path.rglob("*.sqlite3"))


def test_steps_spin_on_a_terminal_and_print_lines_in_a_pipe() -> None:
    import io

    from rich.console import Console

    from dictamesh.cli._progress import Steps

    terminal = io.StringIO()
    with Steps(Console(file=terminal, force_terminal=True, width=80)) as steps:
        steps.start("starting [sources]")
        steps.start("serving")
    shown = terminal.getvalue()
    assert "✓" in shown
    assert "starting [sources]" in shown
    assert "serving" in shown
    pipe = io.StringIO()
    with Steps(Console(file=pipe, force_terminal=False)) as steps:
        steps.start("starting [sources]")
        steps.start("serving")
    assert pipe.getvalue() == "starting [sources] …\nserving …\n"


def test_data_in_tables_and_fields_is_printed_not_styled() -> None:
    import io

    from rich.console import Console
    from rich.table import Table

    from dictamesh.cli import _output

    table = Table("subject")
    _output.add_plain_row(table, "[normal] customer 1 [bold]updated[/bold]")
    out = io.StringIO()
    Console(file=out, width=120).print(table)
    assert "[normal] customer 1 [bold]updated[/bold]" in out.getvalue()
    printed = io.StringIO()
    original = _catalog_commands.console
    _catalog_commands.console = Console(file=printed, width=120)
    try:
        _catalog_commands.print_fields({"subject": "[red]x[/red]"})
    finally:
        _catalog_commands.console = original
    assert printed.getvalue() == "subject: [red]x[/red]\n"


def test_policy_actions_in_help_are_the_engines() -> None:
    from dictamesh.governance.policy import Action

    assert [a.value for a in governance.PolicyAction] == [a.value for a in Action]
    result = runner.invoke(app, ["policy", "explain", "--help"], env={"COLUMNS": "200"})
    assert "<read|read_unmasked|subscribe|admin|write>" in result.output
    assert "pii_email" in result.output  # the classification tags, as choices
