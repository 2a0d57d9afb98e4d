"""What a user does with ``dictamesh new adapter``, end to end: generate a package per
template, pip-install it (into a private directory, never the running environment), run its
own tests, and find its kind among the installed adapters. Also: the templates are in the
wheel of DictaMesh itself.

pip builds with ``--no-build-isolation`` (offline), so hatchling (a dev dependency) must be
importable."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dictamesh.cli.main import app

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "src"


@pytest.fixture(scope="module", autouse=True)
def _hatchling() -> None:
    if importlib.util.find_spec("hatchling") is None:
        pytest.fail("hatchling is needed to build packages offline: pip install -e '.[dev]'")


def _env(*paths: Path) -> dict[str, str]:
    # this checkout's dictamesh first; an inherited PYTHONPATH (where hatchling may be) last
    inherited = os.environ.get("PYTHONPATH", "")
    parts = [str(p) for p in paths] + [str(SRC)] + ([inherited] if inherited else [])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DICTAMESH_", "PYTEST_"))}
    return {**env, "PYTHONPATH": os.pathsep.join(parts)}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{args[:4]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


_KINDS = """
import json
from dictamesh.adapters.registry import AdapterRegistry
kinds = AdapterRegistry().available_kinds()
print(json.dumps({n: {"enabled": k.enabled, "target": k.target, "error": k.error}
                  for n, k in kinds.items()}))
"""


@pytest.mark.parametrize("template", ["rest", "graphql", "sql"])
def test_generated_package_installs_passes_its_tests_and_is_listed(
    tmp_path: Path, template: str
) -> None:
    kind = f"scaffolded_{template}"
    made = CliRunner().invoke(
        app, ["new", "adapter", kind, "-t", template, "-o", str(tmp_path / "out")]
    )
    assert made.exit_code == 0, made.output
    package = tmp_path / "out" / f"dictamesh-adapter-scaffolded-{template}"
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-input"]
    _run([*pip, "--no-build-isolation", "--target", str(site), str(package)], tmp_path, _env())
    assert (site / f"dictamesh_adapter_scaffolded_{template}" / "adapter.py").is_file()

    env = _env(site)
    tests = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        package,
        env,
    )
    summary = tests.stdout.strip().splitlines()[-1]
    assert "passed" in summary, summary
    assert "failed" not in summary, summary
    assert "skipped" not in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 15, summary

    module = f"dictamesh_adapter_scaffolded_{template}"
    kinds = json.loads(_run([sys.executable, "-c", _KINDS], tmp_path, env).stdout)
    assert kinds[kind] == {
        "enabled": True,
        "target": f"{module}.adapter:Scaffolded{template.capitalize()}Adapter",
        "error": None,
    }
    listed = _run(
        [sys.executable, "-m", "dictamesh", "adapters", "list", "--format", "json"],
        tmp_path,
        env,
    )
    rows = {row["kind"]: row for row in json.loads(listed.stdout)}
    assert rows[kind]["state"] == "enabled", rows[kind]


_PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]


def test_the_wheel_ships_the_templates(tmp_path: Path) -> None:
    _run(
        [*_PIP_WHEEL, "--wheel-dir", str(tmp_path), str(ROOT)],
        tmp_path,
        _env(),
    )
    (wheel,) = tmp_path.glob("dictamesh-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n for n in names if n.startswith("dictamesh/cli/templates/")}
    in_tree = {str(p.relative_to(SRC)) for p in (SRC / "dictamesh/cli/templates").rglob("*.j2")}
    assert len(in_tree) >= 15
    assert in_tree <= shipped
