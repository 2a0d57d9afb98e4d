"""``dictamesh schema check|diff --against URL`` against a live node (served in-process):
its ``/graphql`` introspection, its ``/schema-registry`` (Avro value schemas the node
registered at start) and ``/api/v1/schemas`` equal what the same config gives offline;
other configs are judged against it; auth needs ``--token`` or ``--api-key``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from dictamesh._serving import serve_in_process
from dictamesh.auth import hash_api_key, mint_dev_token
from dictamesh.cli.main import app
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode

runner = CliRunner()
KEY = "dmk_schema_check_0123456789abcdef"
SECRET = "a-development-secret-of-32-bytes-or-more"
CUSTOMERS = "customers.directus.entity_changed-value"


def node_config(state: Path, *, auth: bool = False, **bus: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "node_name": "schemacheck",
        "state_dir": str(state),
        "bus": {"path": str(state / "bus.sqlite3"), "serialization": "avro", **bus},
        "catalog": {"url": f"sqlite+aiosqlite:///{state / 'catalog.db'}"},
        "adapters": [
            # unreachable sources: the node serves their schemas all the same
            {"name": k, "kind": k, "base_url": "http://127.0.0.1:9"}
            for k in ("customers_directus", "products_rest")
        ],
    }
    if auth:
        keys = [{"sha256": hash_api_key(KEY), "subject": "ci", "roles": ["admin"]}]
        config["auth"] = {"mode": "required", "api_keys": keys, "jwt_secret": SECRET}
    return config


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def node_url(tmp_path: Path) -> AsyncIterator[str]:
    settings = DictaMeshSettings.from_mapping(node_config(tmp_path / "node"))
    async with (
        MeshNode(settings) as node,
        serve_in_process(node.asgi_app(), "127.0.0.1", 0, what="API") as url,
    ):
        yield url


async def schema(*args: str) -> Any:
    # the command runs its own event loop: off this one, which serves the node
    return await asyncio.to_thread(runner.invoke, app, ["schema", *args])


def output(result: Any) -> str:
    return " ".join(str(result.output).split())


async def test_the_same_config_offline_equals_the_live_node(node_url: str, tmp_path: Path) -> None:
    config = write(tmp_path / "mesh.yaml", node_config(tmp_path / "node"))
    result = await schema("diff", "-c", str(config), "--against", node_url, "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["changes"] == [], data["changes"][:5]
    # the comparison had every part: an export of the node's side names them
    checked = await schema("check", "-c", str(config), "--against", f"{node_url}/graphql")
    assert checked.exit_code == 0, checked.output
    assert f"0 breaking, 0 dangerous, 0 safe against {node_url}/graphql" in output(checked)


async def test_changes_against_the_live_node(node_url: str, tmp_path: Path) -> None:
    fewer = node_config(tmp_path / "node")
    fewer["adapters"] = fewer["adapters"][:1]
    result = await schema(
        "check", "-c", str(write(tmp_path / "f.yaml", fewer)), "--against", node_url, "-f", "json"
    )
    assert result.exit_code == 1, result.output
    found = {(c["area"], c["code"], c["subject"]) for c in json.loads(result.stdout)["changes"]}
    assert ("graphql", "TYPE_REMOVED", "Product") in found
    assert ("avro", "SUBJECT_REMOVED", "products.thirdparty.entity_changed-value") in found
    assert ("entity", "ENTITY_TYPE_REMOVED", "product") in found

    # Debezium's envelope on the customers topic: a value schema the registry's subject refuses
    debezium = node_config(
        tmp_path / "node", topics=[{"name": "customers.*", "envelope": "debezium"}]
    )
    result = await schema(
        "check",
        "-c",
        str(write(tmp_path / "d.yaml", debezium)),
        "--against",
        node_url,
        "-f",
        "json",
    )
    assert result.exit_code == 1, result.output
    avro = [c for c in json.loads(result.stdout)["changes"] if c["area"] == "avro"]
    assert {c["subject"] for c in avro} == {CUSTOMERS}
    assert {c["severity"] for c in avro} == {"breaking"}
    relaxed = await schema(
        "check", "-c", str(tmp_path / "d.yaml"), "--against", node_url, "--compatibility", "NONE"
    )
    assert relaxed.exit_code == 0, relaxed.output


async def test_a_node_requiring_auth_needs_a_token(tmp_path: Path) -> None:
    config = node_config(tmp_path / "node", auth=True)
    settings = DictaMeshSettings.from_mapping(config)
    path = write(tmp_path / "mesh.yaml", config)
    async with (
        MeshNode(settings) as node,
        serve_in_process(node.asgi_app(), "127.0.0.1", 0, what="API") as url,
    ):
        refused = await schema("check", "-c", str(path), "--against", url)
        assert refused.exit_code == 2
        assert "HTTP 401" in output(refused)
        assert "--token" in output(refused)
        token = mint_dev_token(SECRET, "ci", roles=["admin"])
        for credential in (["--api-key", KEY], ["--token", token]):
            allowed = await schema("check", "-c", str(path), "--against", url, *credential)
            assert allowed.exit_code == 0, allowed.output
            assert "0 breaking, 0 dangerous, 0 safe" in output(allowed)
        wrong = await schema("check", "-c", str(path), "--against", url, "--api-key", "dmk_no")
        assert wrong.exit_code == 2
        assert "HTTP 401" in output(wrong)


async def test_a_server_that_is_no_node_exits_2(tmp_path: Path) -> None:
    from fastapi import FastAPI
    from graphql import build_schema, graphql_sync

    from dictamesh.gateway.sdl_diff import INTROSPECTION_QUERY

    other = FastAPI()
    introspection = graphql_sync(build_schema("type Query { a: Int }"), INTROSPECTION_QUERY)

    @other.post("/graphql")
    async def graphql() -> Any:
        return {"data": introspection.data}

    @other.get("/schema-registry/subjects")
    async def subjects() -> Any:
        return {"not": "a list"}

    config = write(tmp_path / "mesh.yaml", node_config(tmp_path / "node"))
    async with serve_in_process(other, "127.0.0.1", 0, what="not a node") as url:
        result = await schema("check", "-c", str(config), "--against", url)
    assert result.exit_code == 2, result.output
    assert "not what a DictaMesh node sends" in output(result)
    assert "Traceback" not in result.output
