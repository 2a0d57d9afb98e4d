"""``dictamesh adapters list`` and ``dictamesh plugins list``: installed plugins, enabled or
disabled with why, and who uses them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from dictamesh.cli.main import app

runner = CliRunner()
SRC = Path(__file__).resolve().parents[3] / "src"
REFERENCE_KINDS = {"customers_directus", "invoices_ecommerce", "payments_gateway", "products_rest"}


def broken_distribution(site: Path) -> Path:
    """An installed distribution whose adapter kinds cannot load: a missing module, and an
    entry point that is not an adapter class."""
    info = site / "broken_adapters-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-adapters\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[dictamesh.adapters]\nghost = no_such_module_here:GhostAdapter\nnot_a_class = json:dumps\n"
    )
    return site


def run(*args: str, site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(SRC), str(site)])
    return subprocess.run(
        [sys.executable, "-m", "dictamesh", *args],
        env={**os.environ, "PYTHONPATH": path}, cwd=cwd,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_adapters_list_shows_the_reference_kinds_and_who_uses_them(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "adapters": [
                    {"name": "crm", "kind": "customers_directus", "base_url": "http://a"},
                    {"name": "crm2", "kind": "customers_directus", "base_url": "http://b"},
                ]
            }
        )
    )
    result = runner.invoke(app, ["adapters", "list", "-c", str(config), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["kind"]: r for r in json.loads(result.stdout)}
    assert set(rows) >= REFERENCE_KINDS
    crm = rows["customers_directus"]
    assert crm == {
        "kind": "customers_directus",
        "target": "dictamesh.adapters.reference.customers_directus:DirectusCustomersAdapter",
        "state": "enabled",
        "reason": None,
        "used_by": ["crm", "crm2"],
    }
    assert rows["products_rest"]["used_by"] == []

    table = runner.invoke(app, ["adapters", "list", "-c", str(config)])
    assert table.exit_code == 0
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["kind", "state", "used_by", "target", "reason"]
    line = next(line for line in lines if line.startswith("customers_directus"))
    assert line.split()[1:4] == ["enabled", "crm,", "crm2"]


def test_a_broken_plugin_is_listed_disabled_with_its_reason(tmp_path: Path) -> None:
    site = broken_distribution(tmp_path / "site")
    result = run("adapters", "list", "-f", "json", site=site, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {r["kind"]: r for r in json.loads(result.stdout)}
    assert rows["ghost"]["state"] == "disabled"
    assert rows["ghost"]["reason"] == "ModuleNotFoundError: No module named 'no_such_module_here'"
    assert rows["not_a_class"]["state"] == "disabled"
    assert rows["not_a_class"]["reason"] == "json:dumps is not an AdapterBase subclass"
    assert all(rows[k]["state"] == "enabled" for k in REFERENCE_KINDS)

    config = tmp_path / "mesh.yaml"
    config.write_text("adapters: [{name: haunted, kind: ghost, base_url: 'http://x'}]\n")
    checked = run("check", "-c", str(config), "-f", "json", site=site, cwd=tmp_path)
    assert checked.returncode == 1
    checks = {c["check"]: c for c in json.loads(checked.stdout)["checks"]}
    adapter = checks["adapter:haunted"]
    assert adapter["status"] == "fail"
    assert "adapter kind 'ghost' is disabled: ModuleNotFoundError" in adapter["detail"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh.yaml", "site"]


def test_plugins_list_covers_every_group(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "bus": {"backend": "kafka"},
                "notifications": {
                    "channels": {"ops": {"kind": "webhook", "url": "http://127.0.0.1:9/hook"}}
                },
            }
        )
    )
    result = runner.invoke(app, ["plugins", "list", "-c", str(config), "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = {(r["group"], r["name"]): r for r in json.loads(result.stdout)}
    assert {g for g, _ in rows} == {"adapters", "buses", "caches", "notification_channels"}
    assert rows[("buses", "kafka")]["used_by"] == ["bus.backend"]
    assert rows[("buses", "embedded")]["used_by"] == []
    assert rows[("caches", "memory")]["used_by"] == ["cache.layers"]
    assert rows[("notification_channels", "webhook")]["used_by"] == ["ops"]
    assert {n for g, n in rows if g == "notification_channels"} >= {"email", "slack", "in_app"}

    only = runner.invoke(app, ["plugins", "list", "--group", "caches", "-f", "json"])
    assert only.exit_code == 0
    assert {r["name"] for r in json.loads(only.stdout)} == {"memory", "redis"}


def test_bad_input_exits_2(tmp_path: Path) -> None:
    assert runner.invoke(app, ["plugins", "list", "--group", "queues"]).exit_code == 2
    assert runner.invoke(app, ["adapters", "list", "--format", "csv"]).exit_code == 2
    missing = runner.invoke(app, ["adapters", "list", "-c", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2
    assert "config file not found" in missing.output
