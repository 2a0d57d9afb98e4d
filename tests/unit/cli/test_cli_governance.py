import asyncio
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dictamesh.cli.main import app
from dictamesh.sources.runner import run_sample_sources

runner = CliRunner()

POLICY = """
rules:
  - id: support-email
    effect: allow
    actions: [read]
    principal: {roles: [support]}
    resource: {entity_types: [customer], tags: [pii_email]}
    mask: partial
"""


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def explain(policy: Path, *extra: str) -> object:
    base = ["policy", "explain", "-p", str(policy), "--action", "read", "--entity-type", "customer"]
    return runner.invoke(app, [*base, *extra])


def test_explain_allowed_masked(policy: Path) -> None:
    result = explain(
        policy, "--field", "email", "--tag", "pii_email", "--sub", "a", "--roles", "support"
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ALLOW: allowed masked by rule")
    assert "masked with: partial" in result.output


def test_explain_denied_by_default_exits_1(policy: Path) -> None:
    result = explain(
        policy, "--field", "phone", "--tag", "pii_phone", "--sub", "a", "--roles", "support"
    )
    assert result.exit_code == 1
    assert "denied by default" in result.output
    assert "rule support-email: skipped (field tag not listed)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tag", "secretish"], "Invalid value for '--tag'"),
        (["--action", "fly"], "Invalid value for '--action'"),
    ],
)
def test_explain_bad_input_exits_2(policy: Path, args: list[str], message: str) -> None:
    result = runner.invoke(
        app,
        ["policy", "explain", "-p", str(policy), "--action", "read", "--entity-type", "x", *args],
    )
    assert result.exit_code == 2
    assert message in result.output


def test_explain_bad_policy_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [{id: x, effect: perhaps, actions: [read]}]")
    result = explain(bad)
    assert result.exit_code == 2
    assert "rules.0.effect" in result.output
    assert explain(tmp_path / "missing.yaml").exit_code == 2


def test_scan_unknown_adapter_and_format_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text("adapters: []\n")
    assert (
        runner.invoke(app, ["governance", "scan", "-c", str(config), "--adapter", "x"]).exit_code
        == 2
    )
    assert (
        runner.invoke(app, ["governance", "scan", "-c", str(config), "--format", "xml"]).exit_code
        == 2
    )


async def test_scan_suggests_tags_on_the_sample_sources(tmp_path: Path) -> None:
    async with run_sample_sources() as sources:
        config = tmp_path / "node.yaml"
        config.write_text(
            "adapters:\n"
            f"  - {{name: products_rest, kind: products_rest, base_url: '{sources.products_url}',"
            f" api_key: {sources.products_api_key}}}\n"
            f"  - {{name: customers_directus, kind: customers_directus,"
            f" base_url: '{sources.customers_url}', api_key: {sources.customers_token}}}\n"
        )
        # a subprocess: the sources answer from this test's event loop meanwhile
        proc = await asyncio.create_subprocess_exec(
            Path(sys.executable).parent / "dictamesh", "governance", "scan", "-c", str(config),
            "--sample", "30", "--format", "json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, errout = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, errout.decode()
    reports = {r["entity_type"]: r for r in json.loads(out)}
    assert reports["product"]["sampled_entities"] == 30
    assert reports["product"]["suggestions"] == []  # no personal data in a product catalogue
    customer = reports["customer"]
    assert customer["tagged"]["email"] == "pii_email"  # the adapter's own tags are kept
    assert "email" not in {s["field"] for s in customer["suggestions"]}
