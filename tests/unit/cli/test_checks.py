"""``dictamesh check``: one line per check, exit 0/1/2, nothing created on disk."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from dictamesh.catalog import migrate
from dictamesh.cli.main import app
from dictamesh.sources.runner import SampleSources, run_sample_sources

runner = CliRunner()
SRC = Path(__file__).resolve().parents[3] / "src"


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def local(tmp_path: Path, **sections: Any) -> dict[str, Any]:
    """A config whose catalog and bus files would live under ``tmp_path/state``."""
    state = tmp_path / "state"
    return {
        "state_dir": str(state),
        "catalog": {"url": f"sqlite+aiosqlite:///{state / 'catalog.sqlite3'}"},
        "bus": {"path": str(state / "bus.sqlite3")},
        **sections,
    }


def customers(sources: SampleSources, name: str = "crm") -> dict[str, Any]:
    return {
        "name": name,
        "kind": "customers_directus",
        "base_url": sources.customers_url,
        "api_key": sources.customers_token,
    }


def env() -> dict[str, str]:
    """The subprocess runs this tree's source (the test's environment is already clean)."""
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


async def dictamesh(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """The CLI in a subprocess: sample sources answer from this test's event loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dictamesh", *args,
        cwd=cwd, env=env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def invoke(*args: str) -> tuple[int, str]:
    """The CLI in this process, on a thread: its own event loop runs there while the sample
    sources answer from this test's."""
    result = await asyncio.to_thread(runner.invoke, app, list(args))
    return result.exit_code, result.stdout


def checks_of(output: str) -> dict[str, dict[str, Any]]:
    report = json.loads(output)
    return {c["check"]: c for c in report["checks"]}


async def test_check_in_an_empty_directory_creates_nothing(tmp_path: Path) -> None:
    code, out, err = await dictamesh("check", cwd=tmp_path)
    assert code == 0, out + err
    assert tree(tmp_path) == []  # no .dictamesh/, no catalog, no bus file
    assert "not created yet" in out
    assert out.splitlines()[-1] == "4 checks: 1 to look at"  # governance.masking_key


async def test_check_reaches_the_sources_read_only(tmp_path: Path) -> None:
    async with run_sample_sources() as sources:
        products = {
            "name": "products",
            "kind": "products_rest",
            "base_url": sources.products_url,
            "api_key": sources.products_api_key,
        }
        config = write_config(
            tmp_path / "mesh.yaml", local(tmp_path, adapters=[customers(sources), products])
        )
        before = tree(tmp_path)
        code, out = await invoke("check", "-c", str(config), "--format", "json")
    assert code == 0, out
    assert tree(tmp_path) == before
    report = json.loads(out)
    assert report["ok"] is True
    assert report["exit_code"] == 0
    checks = checks_of(out)
    assert list(checks) == [
        "config", "governance", "adapter:crm", "adapter:products", "source:crm", "source:products",
        "catalog", "bus",
    ]  # fmt: skip
    # a first call slower than the SLA's p95 is a warning, not a failure
    assert all(c["status"] in ("ok", "warn") for c in checks.values()), checks
    assert checks["source:crm"]["detail"].endswith("read 1 customer")
    assert "customers_directus" in checks["adapter:crm"]["detail"]
    assert checks["source:products"]["ms"] > 0


def test_an_existing_sqlite_catalog_is_read_without_new_files(tmp_path: Path) -> None:
    db = tmp_path / "state" / "catalog.sqlite3"
    db.parent.mkdir()
    asyncio.run(migrate.upgrade(f"sqlite+aiosqlite:///{db}"))
    config = write_config(tmp_path / "mesh.yaml", local(tmp_path))
    before = tree(tmp_path)
    result = runner.invoke(app, ["check", "-c", str(config), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert tree(tmp_path) == before  # no -wal / -shm beside the catalog
    assert checks_of(result.stdout)["catalog"]["detail"].endswith(f"at revision {migrate.head()}")


def test_a_catalog_behind_head_fails_only_without_migrate_on_start(tmp_path: Path) -> None:
    db = tmp_path / "state" / "catalog.sqlite3"
    db.parent.mkdir()
    url = f"sqlite+aiosqlite:///{db}"
    asyncio.run(migrate.upgrade(url))
    asyncio.run(migrate.downgrade(url, "-1"))
    settings = local(tmp_path)
    config = write_config(tmp_path / "mesh.yaml", settings)
    result = runner.invoke(app, ["check", "-c", str(config), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert checks_of(result.stdout)["catalog"]["status"] == "warn"
    settings["catalog"]["migrate_on_start"] = False
    write_config(config, settings)
    result = runner.invoke(app, ["check", "-c", str(config), "-f", "json"])
    assert result.exit_code == 1
    assert "dictamesh migrate up" in checks_of(result.stdout)["catalog"]["detail"]


def test_an_unreachable_source_and_an_unknown_kind_fail_with_exit_1(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "mesh.yaml",
        local(
            tmp_path,
            adapters=[
                {"name": "crm", "kind": "customers_directus", "base_url": "http://127.0.0.1:9"},
                {"name": "erp", "kind": "sap_odata", "base_url": "http://127.0.0.1:9"},
            ],
        ),
    )
    result = runner.invoke(app, ["check", "-c", str(config), "--timeout", "3"])
    assert result.exit_code == 1, result.output
    lines = {line.split()[1]: line for line in result.stdout.splitlines()[:-1]}
    assert lines["source:crm"].startswith("fail")
    assert lines["adapter:erp"].startswith("fail")
    assert "unknown adapter kind 'sap_odata'" in lines["adapter:erp"]
    assert "source:erp" not in lines  # not built, so not probed
    assert lines["catalog"].startswith("ok")
    assert result.stdout.splitlines()[-1] == "7 checks: 2 failed, 1 to look at"
    assert not (tmp_path / "state").exists()


def test_an_invalid_config_exits_2_naming_the_line(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text("api:\n  port: seventy\nbus:\n  backend: embedded\n  pth: x\n")
    result = runner.invoke(app, ["check", "-c", str(config)])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert all(line.startswith("fail config ") for line in lines[:2])
    assert any("line 2: api.port" in line for line in lines[:2])
    assert any("line 5: bus.pth" in line for line in lines[:2])
    result = runner.invoke(app, ["check", "-c", str(config), "--format", "json"])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["exit_code"] == 2
    assert {c["check"] for c in report["checks"]} == {"config"}
    assert len(report["checks"]) == 2


def test_bad_rules_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "mesh.yaml",
        local(tmp_path, governance={"policy_file": str(tmp_path / "missing-policy.yaml")}),
    )
    result = runner.invoke(app, ["check", "-c", str(config)])
    assert result.exit_code == 2
    assert "missing-policy.yaml" in result.stdout.splitlines()[0]
    assert runner.invoke(app, ["check", "-c", str(tmp_path / "nope.yaml")]).exit_code == 2
    assert runner.invoke(app, ["check", "--timeout", "0"]).exit_code == 2
    assert runner.invoke(app, ["check", "--format", "xml"]).exit_code == 2


async def test_the_schema_registry_of_a_node_is_reached(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    from tests.unit.gateway.fakes import MemoryRegistry

    from dictamesh._serving import serve_in_process
    from dictamesh.api import ApiContext, create_app
    from dictamesh.catalog import CatalogService

    async with await CatalogService.open(sqlite_catalog_url) as catalog:
        api = create_app(ApiContext(registry=MemoryRegistry([]), catalog=catalog))
        async with serve_in_process(api, "127.0.0.1", 0, what="schema registry") as base:
            good = write_config(
                tmp_path / "good.yaml",
                local(tmp_path, bus={"schema_registry_url": f"{base}/schema-registry"}),
            )
            bad = write_config(
                tmp_path / "bad.yaml",
                local(tmp_path, bus={"schema_registry_url": f"{base}/not-a-registry"}),
            )
            ok = await invoke("check", "-c", str(good), "-f", "json")
            wrong = await invoke("check", "-c", str(bad), "-f", "json")
    assert ok[0] == 0, ok
    assert checks_of(ok[1])["schema_registry"]["detail"].endswith(": 0 subjects")
    assert wrong[0] == 1
    assert "answered 404" in checks_of(wrong[1])["schema_registry"]["detail"]


@pytest.mark.kafka
def test_the_kafka_bus_is_asked_for_metadata(tmp_path: Path, kafka_bootstrap: str) -> None:
    config = write_config(
        tmp_path / "mesh.yaml",
        local(tmp_path, bus={"backend": "kafka", "kafka_bootstrap": kafka_bootstrap}),
    )
    result = runner.invoke(app, ["check", "-c", str(config), "-f", "json"])
    assert result.exit_code == 0, result.output
    bus = checks_of(result.stdout)["bus"]
    assert bus["status"] == "ok"
    assert "1 broker" in bus["detail"] or "brokers" in bus["detail"]
    unreachable = write_config(
        tmp_path / "down.yaml",
        local(tmp_path, bus={"backend": "kafka", "kafka_bootstrap": "127.0.0.1:1"}),
    )
    result = runner.invoke(app, ["check", "-c", str(unreachable), "-f", "json", "--timeout", "3"])
    assert result.exit_code == 1
    bus = checks_of(result.stdout)["bus"]
    assert bus["status"] == "fail"
    assert "127.0.0.1:1" in bus["detail"]


@pytest.mark.postgres
def test_the_postgres_catalog_revision_is_read(tmp_path: Path, postgres_url: str) -> None:
    from sqlalchemy.engine import make_url

    config = write_config(tmp_path / "mesh.yaml", local(tmp_path, catalog={"url": postgres_url}))
    result = runner.invoke(app, ["check", "-c", str(config), "-f", "json"])
    catalog = checks_of(result.stdout)["catalog"]
    assert catalog["status"] in ("ok", "warn"), catalog
    assert "at revision" in catalog["detail"]
    wrong = make_url(postgres_url).set(password="not-the-password")
    url = wrong.render_as_string(hide_password=False)
    write_config(config, local(tmp_path, catalog={"url": url}))
    result = runner.invoke(app, ["check", "-c", str(config), "-f", "json"])
    assert result.exit_code == 1
    catalog = checks_of(result.stdout)["catalog"]
    assert catalog["status"] == "fail"
    assert "not-the-password" not in result.stdout


@pytest.mark.redis
def test_redis_is_pinged_when_configured(tmp_path: Path, redis_url: str) -> None:
    config = write_config(tmp_path / "mesh.yaml", local(tmp_path, cache={"redis_url": redis_url}))
    result = runner.invoke(app, ["check", "-c", str(config), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert checks_of(result.stdout)["redis"]["detail"].endswith("PING answered")
    write_config(config, local(tmp_path, cache={"redis_url": "redis://:secret@127.0.0.1:1/0"}))
    result = runner.invoke(app, ["check", "-c", str(config), "-f", "json", "--timeout", "3"])
    assert result.exit_code == 1
    assert checks_of(result.stdout)["redis"]["status"] == "fail"
    assert "secret" not in result.stdout
