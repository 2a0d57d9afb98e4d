"""The CLI tried as a new user would, in a subprocess as the installed command runs: help,
version, and the demo, on an install without the ``otel`` extra. Output is clean: no Rich
markup printed as text, no traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import dictamesh

SRC = Path(dictamesh.__file__).resolve().parent.parent
NO_OTEL = Path(__file__).with_name("_no_otel.py")
MARKUP_LEAK = re.compile(r"\[/\]|\[/?(bold|red|green|dim|yellow)( [a-z]+)?\]")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICTAMESH_")}
    env["PYTHONPATH"] = str(SRC)
    env["COLUMNS"] = "120"
    return env


def _run(*args: str, cwd: Path, no_otel: bool = False) -> subprocess.CompletedProcess[str]:
    entry = [str(NO_OTEL)] if no_otel else ["-m", "dictamesh"]
    return subprocess.run(
        [sys.executable, *entry, *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=120,
    )


def _clean(text: str) -> None:
    assert "Traceback" not in text, text
    assert not MARKUP_LEAK.search(text), text


def test_the_blocker_really_hides_the_sdk(tmp_path: Path) -> None:
    code = f"import runpy; runpy.run_path({str(NO_OTEL)!r}); import opentelemetry.sdk.trace"
    probe = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert probe.returncode != 0
    assert "the otel extra is not installed" in probe.stderr


def test_help_and_version(tmp_path: Path) -> None:
    helped = _run("--help", cwd=tmp_path)
    assert helped.returncode == 0
    _clean(helped.stdout + helped.stderr)
    for command in ("demo", "serve", "status", "migrate"):
        assert command in helped.stdout
    assert "<bool>" not in helped.stdout
    version = _run("--version", cwd=tmp_path)
    assert version.stdout.strip() == f"dictamesh {dictamesh.__version__}"


def test_demo_check_without_the_otel_extra(tmp_path: Path) -> None:
    result = _run("demo", "--check", "--timeout", "60", cwd=tmp_path, no_otel=True)
    assert result.returncode == 0, result.stdout + result.stderr
    _clean(result.stdout + result.stderr)
    assert "demo check passed" in result.stdout
    assert "✓ initial sync" in result.stdout
    assert "[normal] customer 1 updated" in result.stdout  # data with brackets, printed
    assert not (tmp_path / ".dictamesh").exists()  # the check runs in a temp dir


def test_demo_prints_each_start_step_then_its_urls(tmp_path: Path) -> None:
    """Not a TTY here: one plain line per start step, no spinner escape codes; without
    the otel extra the traces link says how to get it."""
    proc = subprocess.Popen(
        [sys.executable, str(NO_OTEL), "demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if "Sagas (POST create-invoice)" in line:
                break
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    text = "\n".join(lines)
    assert "Sagas (POST create-invoice)" in text, text + stderr
    steps = [
        "starting the four sample sources …",
        "starting the mesh node (embedded: bus, catalog, adapters) …",
        "serving the API …",
        "registering the node's webhooks at the sources …",
    ]
    assert [line for line in lines if line.endswith("…")] == steps
    assert "\x1b" not in text  # no spinner or colour codes in a pipe
    assert "off: pip install 'dictamesh[otel]' to see them" in text
    graphql = re.search(r"GraphQL \(GraphiQL\)\s+http://127\.0\.0\.1:(\d+)/graphql", text)
    assert graphql
    assert int(graphql.group(1)) not in (0, 8000)
    _clean(text + stderr)
