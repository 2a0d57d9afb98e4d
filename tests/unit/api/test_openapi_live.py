"""The OpenAPI document tells the truth: a live node (real HTTP, embedded backends) is sent
bad input on every documented operation, and every answer's status is one the document
declares for that operation, in the declared error envelope. The document is valid
OpenAPI 3.1 (openapi-spec-validator) and ``codegen.openapi.generate`` gives the same one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
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


GOOD = [
    ("GET", "/api/v1/entities/widget/w-1"),
    ("GET", "/api/v1/entities/widget/w-1?live=true"),
    ("GET", "/api/v1/entities/widget?limit=5"),
    ("GET", "/api/v1/entities/widget/w-1/graph"),
    ("GET", "/api/v1/entities/widget/w-1/events"),
    ("GET", "/api/v1/entities/widget/w-1/cache"),
    ("GET", "/api/v1/search?q=Bolt"),
    ("GET", "/api/v1/lineage/widget"),
    ("GET", "/api/v1/lineage/widget/w-1"),
    ("GET", "/api/v1/schemas"),
    ("GET", "/api/v1/schemas/widget"),
    ("GET", "/api/v1/adapters"),
    ("GET", "/api/v1/adapters/status"),
    ("GET", "/api/v1/adapters/fake_widgets/status"),
    ("GET", "/api/v1/schema-subjects"),
    ("GET", "/api/v1/cache"),
    ("GET", "/api/v1/sagas"),
    ("GET", "/api/v1/admin/notifications"),
    ("GET", "/api/v1/admin/notifications/outbox"),
    ("GET", "/health"),
    ("GET", "/ready"),
]


SR = {"content-type": "application/vnd.schemaregistry.v1+json"}
TEXT = {"content-type": "text/plain"}
RECORD = '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}'
RECORD_B = '{"type": "record", "name": "R", "fields": [{"name": "b", "type": "string"}]}'
#: (method, url, request arguments, the status the node must answer): the deeper refusals
TARGETED: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "/api/v1/entities/widget?limit=501", {}, 400),  # QUERY_LIMIT_EXCEEDED
    ("GET", "/api/v1/entities/widget/w-404", {}, 404),
    ("GET", "/api/v1/entities/spaceship/w-1", {}, 404),
    ("GET", "/api/v1/search", {}, 400),
    ("GET", "/api/v1/schemas/widget/diff?from=2&to=1", {}, 422),
    ("GET", "/api/v1/schemas/widget/diff?from=1&to=7", {}, 404),
    ("GET", "/api/v1/notifications", {}, 401),  # the inbox is the caller's own
    ("POST", "/webhooks/fake_widgets", {"content": b"{"}, 400),
    ("POST", "/api/v1/sagas/create-invoice", {"json": {}}, 400),
    ("POST", "/api/v1/admin/sagas/00000000-0000-4000-8000-000000000000/retry", {}, 404),
    ("GET", "/api/v1/admin/notifications/00000000-0000-4000-8000-000000000000", {}, 404),
    ("POST", "/schema-registry/subjects/s-value/versions", {"content": b"{}", "headers": SR}, 422),
    (
        "POST",
        "/schema-registry/subjects/s-value/versions",
        {"content": b"{}", "headers": TEXT},
        415,
    ),
    (
        "POST",
        "/schema-registry/subjects/s-value/versions",
        {"json": {"schema": RECORD}, "headers": SR},
        200,
    ),
    (
        "POST",
        "/schema-registry/subjects/s-value/versions",
        {"json": {"schema": RECORD_B}, "headers": SR},
        409,  # incompatible with version 1 (BACKWARD)
    ),
]


async def eventually_ingested(client: httpx.AsyncClient) -> None:
    for _ in range(200):
        if (await client.get("/api/v1/entities/widget/w-1")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("w-1 never reached the catalog")


def documented(doc: dict[str, Any], method: str, url: str) -> tuple[str, dict[str, Any]]:
    """The documented path and operation ``url`` is an instance of (literal parts win)."""
    actual = url.split("?")[0].split("/")
    matches = [
        (path.count("{"), path, item[method.lower()])
        for path, item in doc["paths"].items()
        if method.lower() in item
        and len(parts := path.split("/")) == len(actual)
        and all(p == a or p.startswith("{") for p, a in zip(parts, actual, strict=True))
    ]
    assert matches, f"{method} {url} is not documented"
    _, path, op = min(matches, key=lambda m: m[0])
    return path, op


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


def check_answer(
    method: str, path: str, op: dict[str, Any], response: httpx.Response, doc: dict[str, Any]
) -> None:
    """The status is declared for the operation, and the body is what it declares."""
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
    schema = declared[status].get("content", {}).get("application/json", {}).get("schema")
    if schema is not None:
        # the document's own schema, its $refs resolved inside the document
        Draft202012Validator({**schema, "components": doc["components"]}).validate(response.json())


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
                check_answer(method, path, op, response, doc)
                seen.add(response.status_code)
                count += 1
        assert count > 300
        # and good input: the success bodies are what the document says
        await eventually_ingested(client)
        for method, url, request, expected in TARGETED:
            response = await client.request(method, url, **request)
            assert response.status_code == expected, (url, response.text[:300])
            check_answer(method, *documented(doc, method, url), response, doc)
        for method, url in GOOD:
            response = await client.request(method, url)
            assert response.status_code < 300, (url, response.text[:300])
            path, op = documented(doc, method, url)
            assert op["responses"][str(response.status_code)]["content"], url
            check_answer(method, path, op, response, doc)
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
            check_answer(method, path, op, response, doc)
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
        if not path.startswith("/schema-registry") and op["operationId"] != "diffSchemaVersions":
            assert "422" not in op["responses"], (method, path)  # FastAPI's default 422
        if mode == "optional" and path.startswith("/api/v1"):
            assert op["security"] == [{"apiKeyAuth": []}, {}]
