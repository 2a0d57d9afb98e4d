"""``dictamesh adapter sample NAME``: a few entities from one source, masked by governance."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dictamesh.cli.main import app
from dictamesh.sources.runner import SampleSources, run_sample_sources

runner = CliRunner()


def mesh(tmp_path: Path, sources: SampleSources | None, **extra: object) -> Path:
    base_url = sources.customers_url if sources else "http://127.0.0.1:9"
    token = sources.customers_token if sources else "x"
    config = tmp_path / "mesh.yaml"
    adapter = {"name": "crm", "kind": "customers_directus", "base_url": base_url, "api_key": token}
    config.write_text(yaml.safe_dump({"adapters": [adapter], **extra}))
    return config


async def sample(*args: str, cwd: Path) -> tuple[int, str, str]:
    """The command in this process, on a thread (its event loop runs there while the sample
    sources answer from this test's), from the directory ``cwd``."""
    assert Path.cwd() == cwd
    result = await asyncio.to_thread(runner.invoke, app, ["adapter", "sample", *args])
    return result.exit_code, result.stdout, result.stderr


async def test_personal_data_is_withheld_from_an_anonymous_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with run_sample_sources() as sources:
        config = mesh(tmp_path, sources)
        code, out, err = await sample("crm", "-c", str(config), "--limit", "3", "-f", "json",
                                      cwd=tmp_path)  # fmt: skip
        admin = await sample("crm", "-c", str(config), "-n", "2", "--role", "admin", "-f", "json",
                             cwd=tmp_path)  # fmt: skip
        table = await sample("crm", "-c", str(config), "-n", "2", cwd=tmp_path)
    assert code == 0, err
    result = json.loads(out)
    assert result["adapter"] == "crm"
    assert result["entity_type"] == "customer"
    assert result["count"] == 3
    assert len(result["entities"]) == 3
    assert {"email", "phone", "first_name", "last_name"} <= set(result["withheld"])
    for entity in result["entities"]:
        assert entity["attributes"]["email"] is None  # pii_email: no rule lets anyone read it
        assert entity["id"]
    # the built-in policy lets the admin role read in clear
    assert admin[0] == 0, admin[2]
    clear = json.loads(admin[1])
    assert clear["withheld"] == []
    assert all("@" in e["attributes"]["email"] for e in clear["entities"])
    # the table marks withheld values, and nothing was written beside the config
    assert table[0] == 0, table[2]
    assert "[withheld]" in table[1]
    assert "@" not in table[1]
    assert table[1].splitlines()[-1].startswith("2 customer entities from crm; withheld: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh.yaml"]


async def test_a_policy_that_masks_partially_is_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "rules": [
                    {
                        "id": "support-sees-masked-emails",
                        "effect": "allow",
                        "actions": ["read"],
                        "principal": {"roles": ["support"]},
                        "resource": {"entity_types": ["customer"], "fields": ["email"]},
                        "mask": "partial",
                    }
                ],
            }
        )
    )
    async with run_sample_sources() as sources:
        config = mesh(tmp_path, sources, governance={"policy_file": str(policy)})
        code, out, err = await sample("crm", "-c", str(config), "-n", "2", "--role", "support",
                                      "-f", "json", cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    emails = [e["attributes"]["email"] for e in result["entities"]]
    assert all("***@" in email for email in emails), emails
    assert "email" not in result["withheld"]
    assert "phone" in result["withheld"]


def test_bad_input_exits_2_and_a_dead_source_1(tmp_path: Path) -> None:
    config = mesh(tmp_path, None, bus={"path": str(tmp_path / "state" / "bus.sqlite3")})
    unknown = runner.invoke(app, ["adapter", "sample", "erp", "-c", str(config)])
    assert unknown.exit_code == 2
    assert "no adapter named 'erp'" in unknown.output
    assert "configured: crm" in unknown.output
    for limit in ("0", "1001", "many"):
        bad = runner.invoke(app, ["adapter", "sample", "crm", "-c", str(config), "-n", limit])
        assert bad.exit_code == 2, limit
    dead = runner.invoke(app, ["adapter", "sample", "crm", "-c", str(config), "-n", "1"])
    assert dead.exit_code == 1
    assert "error:" in dead.output
    assert "Traceback" not in dead.output
    # `adapters sample` is the same command
    assert runner.invoke(app, ["adapters", "sample", "erp", "-c", str(config)]).exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh.yaml"]
