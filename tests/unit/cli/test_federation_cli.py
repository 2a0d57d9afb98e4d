"""``dictamesh supergraph`` and ``dictamesh serve --subgraph``: output, and bad input → exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dictamesh.cli.main import app

runner = CliRunner()

KINDS = ("customers_directus", "products_rest", "invoices_ecommerce")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "mesh.yaml"
    adapters = "".join(
        f"  - {{name: {kind}, kind: {kind}, base_url: 'http://127.0.0.1:9'}}\n" for kind in KINDS
    )
    path.write_text(f"api: {{host: 10.0.0.5, port: 7000}}\nadapters:\n{adapters}")
    return path


def output(result: object) -> str:
    return " ".join(str(getattr(result, "output", "")).split())  # rich wraps long lines


def test_supergraph_yaml_is_an_apollo_supergraph_config(config: Path) -> None:
    result = runner.invoke(app, ["supergraph", "--config", str(config)])
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(result.stdout)
    assert document["federation_version"] == "2"
    subgraphs = document["subgraphs"]
    assert list(subgraphs) == ["customers", "invoices", "products", "catalog"]
    assert subgraphs["customers"]["routing_url"] == "http://10.0.0.5:7001/graphql"
    assert subgraphs["catalog"]["routing_url"] == "http://10.0.0.5:7004/graphql"
    sdl = subgraphs["invoices"]["schema"]["sdl"]
    assert 'type Customer @key(fields: "id")' in sdl
    assert "specs.apollo.dev/federation/v2.3" in sdl


def test_supergraph_json_lists_name_url_sdl_with_url_overrides(config: Path) -> None:
    result = runner.invoke(
        app,
        [
            "supergraph",
            "-c",
            str(config),
            "--format",
            "json",
            "--url",
            "products=https://pim.example.com/graphql",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["federation_version"] == "2.3"
    urls = {s["name"]: s["url"] for s in document["subgraphs"]}
    assert urls["products"] == "https://pim.example.com/graphql"
    assert urls["invoices"] == "http://10.0.0.5:7002/graphql"
    assert all("@link" in s["sdl"] for s in document["subgraphs"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--format", "toml"], "Invalid value for '--format'"),
        (["--url", "products"], "--url must be NAME=http(s)://"),
        (["--url", "products=ftp://x"], "--url must be NAME=http(s)://"),
        (["--url", "shipping=http://x"], "unknown subgraph 'shipping'"),
    ],
)
def test_supergraph_bad_options_exit_2(config: Path, args: list[str], expected: str) -> None:
    result = runner.invoke(app, ["supergraph", "-c", str(config), *args])
    assert result.exit_code == 2, result.output
    assert expected in output(result)
    assert "Traceback" not in result.output


def test_supergraph_without_adapters_or_config_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["supergraph"])
    assert result.exit_code == 2
    assert "no adapters configured" in output(result)
    result = runner.invoke(app, ["supergraph", "-c", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "not found" in output(result)


def test_supergraph_unknown_adapter_kind_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    path.write_text("adapters:\n  - {name: crm, kind: no_such_kind, base_url: 'http://x'}\n")
    result = runner.invoke(app, ["supergraph", "-c", str(path)])
    assert result.exit_code == 2
    assert "no_such_kind" in output(result)


def test_serve_unknown_subgraph_exits_2_before_starting(config: Path) -> None:
    result = runner.invoke(app, ["serve", "-c", str(config), "--subgraph", "shipping"])
    assert result.exit_code == 2, result.output
    assert "unknown subgraph 'shipping'" in output(result)
    assert "customers, invoices, products, catalog" in output(result)
