"""``dictamesh codegen``: every target writes its files, output is deterministic, and bad
input is exit 2 with nothing written."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from tests.unit.codegen.conftest import write_config
from typer.testing import CliRunner

import dictamesh.cli.codegen as codegen_cli
from dictamesh.cli.main import app
from dictamesh.codegen import CodegenTarget

runner = CliRunner()

EXPECTED = {
    "graphql": ["schema.graphql"],
    "avro": ["customer.avsc", "invoice.avsc", "payment.avsc", "product.avsc"],
    "jsonschema": [
        "customer.schema.json",
        "index.json",
        "invoice.schema.json",
        "payment.schema.json",
        "product.schema.json",
    ],
    "typescript": [
        "customer.ts",
        "index.ts",
        "invoice.ts",
        "invoice_item.ts",
        "payment.ts",
        "product.ts",
    ],
    "python": [
        "dictamesh_client/__init__.py",
        "dictamesh_client/client.py",
        "dictamesh_client/models.py",
        "dictamesh_client/py.typed",
    ],
}
DICTAMESH = [sys.executable, "-m", "dictamesh"]


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def output(result: object) -> str:
    return " ".join(str(getattr(result, "output", "")).split())  # rich wraps long lines


@pytest.mark.parametrize("target", sorted(EXPECTED))
def test_each_target_writes_its_files_the_same_every_time(
    target: str, config: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    for out in (first, second):
        result = runner.invoke(
            app, ["codegen", target, "-c", str(config), "-o", str(out), "--format", "json"]
        )
        assert result.exit_code == 0, result.output
    written = tree(first)
    assert sorted(written) == EXPECTED[target]
    assert written == tree(second)  # byte for byte: CI can regenerate and diff
    assert all(not name.startswith(".") for name in written)  # no temporary files left
    text = b"".join(written.values()).decode()
    assert "\r" not in text


def test_json_output_lists_the_files_written(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "avro"
    result = runner.invoke(
        app, ["codegen", "avro", "-c", str(config), "-o", str(out), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [Path(r["file"]).name for r in rows] == EXPECTED["avro"]
    for row in rows:
        assert Path(row["file"]).stat().st_size == row["bytes"]


def test_table_output_and_plain_progress_lines_off_a_terminal(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "ts"
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "dictamesh",
            "codegen",
            "typescript",
            "-c",
            str(config),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert process.returncode == 0, process.stderr
    # not a TTY: one plain line per file on stderr, no progress bar redraws
    assert process.stderr.splitlines() == [f"wrote {out / name}" for name in EXPECTED["typescript"]]
    assert "\x1b[" not in process.stderr
    header, *rows = process.stdout.splitlines()
    assert header.split() == ["file", "bytes"]
    assert [Path(r.split()[0]).name for r in rows] == EXPECTED["typescript"]


def test_the_python_package_name_is_an_option(config: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["codegen", "python", "-c", str(config), "-o", str(tmp_path), "--package", "shop"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "shop" / "client.py").is_file()


def test_openapi_writes_the_document(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "api"
    result = runner.invoke(app, ["codegen", "openapi", "-c", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads((out / "openapi.json").read_text())
    assert document["openapi"].startswith("3.")


def test_targets_are_the_documented_ones() -> None:
    assert [t.value for t in CodegenTarget] == [
        "graphql",
        "avro",
        "jsonschema",
        "openapi",
        "typescript",
        "python",
    ]


# --- bad input: exit 2, nothing written ------------------------------------------------


def test_an_unknown_target_is_exit_2(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["codegen", "protobuf", "-c", str(config), "-o", str(out)])
    assert result.exit_code == 2
    assert "protobuf" in output(result)
    assert not out.exists()


def test_an_output_that_is_a_file_is_exit_2(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.write_text("mine")
    result = runner.invoke(app, ["codegen", "avro", "-c", str(config), "-o", str(out)])
    assert result.exit_code == 2
    assert "is not a directory" in output(result)
    assert out.read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_output_is_exit_2(config: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = runner.invoke(
            app, ["codegen", "avro", "-c", str(config), "-o", str(locked / "deep" / "out")]
        )
        assert result.exit_code == 2
        assert "not writable" in output(result)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_an_invalid_config_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text("adapters: 7\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["codegen", "graphql", "-c", str(config), "-o", str(out)])
    assert result.exit_code == 2
    assert "error:" in output(result)
    assert not out.exists()


def test_a_missing_config_is_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "out"
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(app, ["codegen", "graphql", "-c", str(missing), "-o", str(out)])
    assert result.exit_code == 2
    assert not out.exists()


def test_an_unknown_adapter_kind_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text("adapters:\n  - {name: x, kind: no_such_kind, base_url: 'http://h'}\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["codegen", "avro", "-c", str(config), "-o", str(out)])
    assert result.exit_code == 2
    assert "no_such_kind" in output(result)
    assert not out.exists()


def test_no_adapters_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text("node_name: empty\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["codegen", "typescript", "-c", str(config), "-o", str(out)])
    assert result.exit_code == 2
    assert "no adapters configured" in output(result)
    assert not out.exists()


def test_a_bad_package_name_is_exit_2(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["codegen", "python", "-c", str(config), "-o", str(out), "--package", "my-client"]
    )
    assert result.exit_code == 2
    assert "--package must be a Python identifier" in output(result)
    assert not out.exists()


def test_a_subset_of_adapters_generates_only_their_types(tmp_path: Path) -> None:
    config = write_config(tmp_path / "mesh.yaml", ("products_rest",))
    out = tmp_path / "avro"
    result = runner.invoke(app, ["codegen", "avro", "-c", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(tree(out)) == ["product.avsc"]


def test_an_output_below_a_file_is_exit_2(config: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    result = runner.invoke(
        app, ["codegen", "python", "-c", str(config), "-o", str(blocker / "sub" / "out")]
    )
    assert result.exit_code == 2
    assert "cannot create output directory" in output(result)
    assert blocker.read_text() == "mine"


def test_the_sdl_does_not_depend_on_the_hash_seed(config: Path, tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    result = runner.invoke(app, ["codegen", "graphql", "-c", str(config), "-o", str(here)])
    assert result.exit_code == 0, result.output
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    subprocess.run(
        [*DICTAMESH, "codegen", "graphql", "-c", str(config), "-o", str(there)],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONHASHSEED": seed},  # another process, another set order
        check=True,
    )
    assert tree(here) == tree(there)


def test_a_terminal_gets_a_progress_bar_instead_of_lines(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    monkeypatch.setattr(codegen_cli, "progress_console", terminal)
    out = tmp_path / "py"
    result = runner.invoke(app, ["codegen", "python", "-c", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote " not in screen.getvalue()
    assert "\x1b[" in screen.getvalue()  # drawn (and cleared) on the terminal
    assert sorted(tree(out)) == EXPECTED["python"]


def test_a_write_that_fails_part_way_is_exit_1(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(codegen_cli, "write_files", full_disk)
    result = runner.invoke(app, ["codegen", "avro", "-c", str(config), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "No space left on device" in output(result)
