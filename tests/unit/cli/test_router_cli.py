"""``dictamesh router`` and ``serve --role``: bad rules or roles exit 2 naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dictamesh.cli.main import app

runner = CliRunner()

RULES = """\
rules:
  - name: ok
    to: [analytics.crm.all]
  - name: broken
    match:
      predicate: "after.country =="
    to: [analytics.crm.de]
"""


PRODUCTS = (
    "adapters: [{name: products_rest, kind: products_rest,"
    " base_url: 'http://127.0.0.1:9', api_key: k}]\n"
)


def output(result: object) -> str:
    return " ".join(str(getattr(result, "output", "")).split())  # rich wraps long lines


@pytest.mark.parametrize(
    "command",
    [
        ["router"],
        ["serve", "--role", "router"],
    ],
)
def test_a_bad_rules_file_exits_2_with_its_line(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "router.yaml").write_text(RULES)
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("router:\n  rules_file: router.yaml\n")
    result = runner.invoke(app, [*command, "--config", str(mesh)])
    assert result.exit_code == 2, result.output
    text = output(result)
    assert "router.yaml, line 6: rules.1.match.predicate: predicate syntax error" in text
    assert "Traceback" not in result.output


def test_serve_checks_the_router_rules_when_enabled(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(
        "router:\n"
        "  enabled: true\n"
        "  rules:\n"
        "    - name: masked\n"
        "      transform: [{mask: {email: scramble}}]\n"
        "      to: [analytics.crm.all]\n"
    )
    result = runner.invoke(app, ["serve", "--config", str(mesh)])
    assert result.exit_code == 2, result.output
    assert "line 5: router.rules.0.transform.0.mask.email: unknown mask strategy" in output(result)


def test_an_unknown_role_exits_2(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("node_name: x\n")
    result = runner.invoke(app, ["serve", "--config", str(mesh), "--role", "router,gateway"])
    assert result.exit_code == 2, result.output
    known = "all, api, capture, ingest, router, saga, notify"
    assert f"unknown node role 'gateway' (known: {known})" in output(result)


@pytest.mark.parametrize(
    ("roles", "config", "message"),
    [
        (["--role", "capture", "--subgraph", "catalog"], "", "only with --role api or ingest"),
        (["--role", "saga,notify", "--subgraph", "catalog"], "", "only with --role api or"),
        (["--role", "router", "--subgraph", "catalog"], "", "only with --role api or ingest"),
        (["--role", "ingest", "--subgraph", "widgets"], "", "unknown subgraph 'widgets'"),
        (["--role", "ingest", "--subgraph", "products"], PRODUCTS, "serves only the 'catalog'"),
        (["--role", "saga"], "saga: {enabled: false}\n", "saga.enabled is false"),
        (["--role", "notify"], "notifications: {enabled: false}\n", "notifications.enabled"),
    ],
)
def test_bad_role_combinations_exit_2(
    tmp_path: Path, roles: list[str], config: str, message: str
) -> None:
    mesh = tmp_path / "mesh.yaml"
    catalog = tmp_path / "catalog.sqlite3"
    mesh.write_text(
        f"node_name: x\nstate_dir: {tmp_path}\n"
        f"catalog: {{url: 'sqlite+aiosqlite:///{catalog}'}}\n{config}"
    )
    result = runner.invoke(app, ["serve", "--config", str(mesh), *roles])
    assert result.exit_code == 2, result.output
    assert message in output(result)
    assert not catalog.exists()  # refused before anything started


def test_serve_help_lists_the_roles() -> None:
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for role in ("api", "capture", "ingest", "saga", "notify", "router", "all"):
        assert f"{role} (" in output(result), role
