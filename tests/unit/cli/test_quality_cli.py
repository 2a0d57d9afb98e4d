"""``dictamesh quality run`` on a SQLite catalog: exit 0 passed, 1 an error rule failed,
2 bad input (unknown rule, bad config, no rules)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml
from tests.quality_support import RULES, bad_data, good_data, ingest
from typer.testing import CliRunner

from dictamesh.catalog import CatalogService
from dictamesh.cli.main import app

runner = CliRunner()


def _config(tmp_path: Path, url: str, rules: Any = RULES) -> str:
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump({"catalog": {"url": url}, "quality": {"rules": rules}}))
    return str(path)


async def _seed(url: str, events: Any) -> None:
    async with await CatalogService.open(url, migrate=False) as catalog:
        await ingest(catalog, events)


def quality(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["quality", "run", *args])
    return result.exit_code, result.output


def test_exit_codes(tmp_path: Path, sqlite_catalog_url: str) -> None:
    config = _config(tmp_path, sqlite_catalog_url)
    asyncio.run(_seed(sqlite_catalog_url, good_data()))
    code, out = quality("-c", config, "--format", "json")
    assert code == 0, out
    body = json.loads(out)
    assert body["passed"] is True
    assert len(body["results"]) == 9

    asyncio.run(_seed(sqlite_catalog_url, bad_data()))
    # a warn rule failing alone passes
    code, out = quality("-c", config, "--rule", "customer-email-shape", "--format", "json")
    assert code == 0, out
    assert json.loads(out)["results"][0]["passed"] is False
    code, out = quality("-c", config, "--rule", "invoice-customer-exists", "-f", "json")
    assert code == 1, out
    (result,) = json.loads(out)["results"]
    assert (result["rule_id"], result["sample"]) == ("invoice-customer-exists", ["i3"])
    assert "gone-customer-9" not in out  # the missing customer's id is a value of the invoice
    code, out = quality("-c", config, "--rule", "invoice-customer-exists")  # the table
    assert code == 1
    assert "i3" in out


def test_bad_input_is_exit_2(tmp_path: Path, sqlite_catalog_url: str) -> None:
    config = _config(tmp_path, sqlite_catalog_url)
    code, out = quality("-c", config, "--rule", "no-such-rule")
    assert code == 2
    assert "unknown quality rule" in out
    bad = _config(
        tmp_path, sqlite_catalog_url, {"invoice": [{"id": "x", "type": "range", "field": "total"}]}
    )
    code, out = quality("-c", bad)
    assert code == 2
    assert "range rule needs" in out
    empty = _config(tmp_path, sqlite_catalog_url, {})
    code, out = quality("-c", empty)
    assert code == 2
    assert "no quality rules" in out
