"""The OpenAPI document tells the truth: a live node (real HTTP, embedded backends) is sent
bad input on every documented operation, and every answer's status is one the document
declares for that operation, in the declared error envelope. The document is valid
OpenAPI 3.1 (openapi-spec-validator) and ``codegen.openapi.generate`` gives the same one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from dictamesh._serving import serve_in_process
from dictamesh.api.responses import ErrorResponse, RegistryErrorResponse
from dictamesh.codegen.openapi import generate_async
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode
from dictamesh.testing.adapters import FakeAdapter

BODY_CAP = 4096
SECRET = "an-hs256-secret-of-at-least-32-bytes!"


def node_settings(state: Path, **extra: Any) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "state_dir": str(state),
            "bus": {"path": str(state / "bus.sqlite3")},
            "catalog": {"url": f"sqlite+aiosqlite:///{state / 'catalog.sqlite3'}"},
            "api": {"max_body_bytes": BODY_CAP},
            **extra,
        }
    )


@asynccontextmanager
async def served(settings: DictaMeshSettings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    adapter = FakeAdapter(records=[{"id": "w-1", "name": "Bolt", "size": 3}])
    async with MeshNode(settings, adapters=[adapter]) as node:
        app = node.asgi_app()
        async with (
            serve_in_process(app, "127.0.0.1", 0, what="node") as base,
            httpx.AsyncClient(base_url=base, timeout=30) as client,
        ):
            yield client, app


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def fill(path: str, value: str) -> str:
    out = path
    while "{" in out:
        start, end = out.index("{"), out.index("}")
        out = out[:start] + value + out[end + 1 :]
    return out


def bad_requests(method: str, path: str, op: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Requests a careless or hostile caller sends to this operation."""
    query = [p for p in op.get("parameters", ()) if p["in"] == "query"]
    yield {"url": fill(path, "no_such_thing")}  # well-formed, names nothing
    yield {"url": fill(path, "w-1") + "?x=%00"}  # NUL in the query string
    if "{" in path:
        yield {"url": fill(path, "bad%00id")}
        yield {"url": fill(path, "x" * 3000)}
    for param in query:
        for value in ("-1", "not-a-number", "x" * 5000, ""):
            yield {"url": fill(path, "w-1"), "params": {param["name"]: value}}
    if method in ("POST", "PUT", "PATCH"):
        for media in ("application/json", "application/vnd.schemaregistry.v1+json"):
            for body in (b"{", b"[1, 2]", b'{"unexpected": true}', b"\xff\xfe"):
                yield {
                    "url": fill(path, "w-1"),
                    "content": body,
                    "headers": {"content-type": media},
                }
        yield {"url": fill(path, "w-1"), "content": b"{" + b" " * BODY_CAP + b"}"}


def check_answer(method: str, path: str, op: dict[str, Any], response: httpx.Response) -> None:
    declared = op["responses"]
    status = str(response.status_code)
    assert status in declared, (
        f"{method} {path} ({response.request.url}) answered {status}, "
        f"the document declares {sorted(declared)}: {response.text[:200]}"
    )
    if response.status_code >= 400:
        envelope = RegistryErrorResponse if path.startswith("/schema-registry") else ErrorResponse
        schema = declared[status]["content"]["application/json"]["schema"]["$ref"]
        assert schema.endswith("/" + envelope.__name__)
        envelope.model_validate(response.json())


async def test_every_documented_operation_answers_bad_input_as_documented(
    tmp_path: Path,
) -> None:
    async with served(node_settings(tmp_path)) as (client, app):
        doc = (await client.get("/openapi.json")).json()
        validate(doc)
        assert doc == app.openapi()
        seen: set[int] = set()
        count = 0
        for method, path, op in operations(doc):
            for request in bad_requests(method, path, op):
                response = await client.request(method, **request)
                check_answer(method, path, op, response)
                seen.add(response.status_code)
                count += 1
        assert count > 300
        # the loop reached the routes, not only the edge checks
        assert {400, 404, 413} <= seen
        assert any(s < 300 for s in seen)


async def test_with_auth_required_every_operation_declares_its_refusal(tmp_path: Path) -> None:
    settings = node_settings(tmp_path / "node", auth={"mode": "required", "jwt_secret": SECRET})
    async with served(settings) as (client, app):
        # the document is not public either (auth.public_paths decides)
        assert (await client.get("/openapi.json")).status_code == 401
        doc = app.openapi()
        validate(doc)
        assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
        refused = 0
        for method, path, op in operations(doc):
            response = await client.request(method, fill(path, "w-1"))
            check_answer(method, path, op, response)
            if response.status_code == 401:
                refused += 1
                assert op["security"] == [{"bearerAuth": []}]
        assert refused > 40
        # the generator gives the document this node serves, without starting sources
        assert await generate_async(node_settings(tmp_path / "gen", auth=settings.auth)) == doc


@pytest.mark.parametrize("mode", ["off", "optional"])
async def test_the_document_is_valid_openapi_31(tmp_path: Path, mode: str) -> None:
    extra: dict[str, Any] = {"saga": {"enabled": False}, "notifications": {"enabled": False}}
    if mode != "off":
        extra["auth"] = {"mode": mode, "api_keys": [{"sha256": "0" * 64, "subject": "ci"}]}
    doc = await generate_async(node_settings(tmp_path, **extra))
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    text = str(doc)
    assert "HTTPValidationError" not in text
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))
    assert all(op.get("tags") for _, _, op in operations(doc))
    assert not any(path.startswith("/api/v1/sagas") for path in doc["paths"])
    for method, path, op in operations(doc):
        if not path.startswith("/schema-registry"):
            assert "422" not in op["responses"], (method, path)
        if mode == "optional" and path.startswith("/api/v1"):
            assert op["security"] == [{"apiKeyAuth": []}, {}]
