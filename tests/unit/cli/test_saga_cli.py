"""``dictamesh saga list|show|retry|abort`` on a SQLite catalog holding real sagas."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import yaml
from tests.unit.saga.fake_sources import FakeSources
from tests.unit.saga.support import ORDER, fail_for_good, running_engine
from typer.testing import CliRunner

from dictamesh.cli.main import app
from dictamesh.saga import SagaStatus

runner = CliRunner()


async def seed(catalog_url: str) -> tuple[str, str, str]:
    """A completed saga, then two failed ones (tenant ``default``)."""
    sources = FakeSources()
    async with running_engine(catalog_url, sources) as engine:
        done, _ = await engine.start("create_invoice", ORDER)
        await engine.wait(done.id, timeout=10)
        failed = []
        for _ in range(2):
            fail_for_good(sources)
            record, _ = await engine.start("create_invoice", ORDER)
            assert (await engine.wait(record.id, timeout=10)).status is SagaStatus.FAILED
            failed.append(record.id)
    return done.id, failed[0], failed[1]


def saga(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["saga", *args, "--url", url])
    return result.exit_code, result.output


def test_list_and_show(tmp_path: Path, sqlite_catalog_url: str) -> None:
    done, failed, other = asyncio.run(seed(sqlite_catalog_url))
    code, out = saga(sqlite_catalog_url, "list", "--format", "json")
    assert code == 0, out
    assert [s["id"] for s in json.loads(out)] == [other, failed, done]
    code, out = saga(
        sqlite_catalog_url, "list", "--status", "FAILED", "--format", "json", "--limit", "1"
    )
    assert [s["id"] for s in json.loads(out)] == [other]
    code, out = saga(sqlite_catalog_url, "list", "--saga", "create-invoice", "--format", "json")
    assert len(json.loads(out)) == 3
    code, out = saga(sqlite_catalog_url, "list", "--tenant", "acme")
    assert (code, out.strip()) == (0, "no sagas")
    code, out = saga(sqlite_catalog_url, "list", "--status", "completed")
    assert code == 0
    assert "sagas (1)" in out  # a table (its cells wrap in the test's narrow terminal)

    code, out = saga(sqlite_catalog_url, "show", done, "--format", "json")
    assert code == 0, out
    detail = json.loads(out)
    assert detail["status"] == "completed"
    assert [s["status"] for s in detail["steps"]] == ["started", "completed"] * 3
    code, out = saga(sqlite_catalog_url, "show", failed)
    assert code == 0, out
    assert "failed_step: charge_customer" in out
    assert "step log" in out

    # a node YAML naming the catalog works as well as --url
    config = tmp_path / "node.yaml"
    config.write_text(yaml.safe_dump({"catalog": {"url": sqlite_catalog_url}}))
    result = runner.invoke(app, ["saga", "show", done, "-c", str(config), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["id"] == done


def test_retry_and_abort(sqlite_catalog_url: str) -> None:
    done, failed, other = asyncio.run(seed(sqlite_catalog_url))
    code, out = saga(sqlite_catalog_url, "retry", failed)
    assert code == 0, out
    assert f"saga {failed} is compensating" in out
    code, out = saga(sqlite_catalog_url, "abort", other, "--format", "json")
    assert code == 0, out
    assert json.loads(out)["status"] == "aborted"
    for action, saga_id in (("retry", done), ("abort", other), ("abort", failed)):
        code, out = saga(sqlite_catalog_url, action, saga_id)
        assert code == 1, (action, out)  # only a failed saga
        assert "only a failed saga" in out

    async def resumed() -> SagaStatus:  # a node picks the retried saga up
        async with running_engine(sqlite_catalog_url, FakeSources(), node="n2") as engine:
            return (await engine.wait(failed, timeout=10)).status

    assert asyncio.run(resumed()) is SagaStatus.COMPENSATED


def test_bad_input_and_unknown_sagas(sqlite_catalog_url: str) -> None:
    for args in (
        ["show", "not-a-uuid"],
        ["retry", "42"],
        ["abort", ""],
        ["list", "--status", "sleeping"],
        ["list", "--limit", "0"],
    ):
        code, out = saga(sqlite_catalog_url, *args)
        assert code == 2, (args, out)
    missing = str(uuid.uuid4())
    for action in ("show", "retry", "abort"):
        code, out = saga(sqlite_catalog_url, action, missing)
        assert code == 1, (action, out)
        assert f"no saga '{missing}'" in out
    code, out = saga(sqlite_catalog_url, "show", "not-a-uuid")
    assert len(out.strip().splitlines()) == 1  # one line
