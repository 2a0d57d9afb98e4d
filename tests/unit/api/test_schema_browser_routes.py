"""``/api/v1/schema-subjects`` and ``/api/v1/schemas/{subject}/diff`` over a real SQLite
catalog's registry."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.unit.gateway.fakes import MemoryRegistry

from dictamesh.api import ApiContext, create_app
from dictamesh.catalog.records import Compatibility
from dictamesh.catalog.service import CatalogService
from dictamesh.core.models import FieldSpec, FieldType
from dictamesh.testing.adapters import WIDGET_SCHEMA

AVRO_SUBJECT = "testing.fake.entity_changed-value"


def avro(*fields: dict[str, object]) -> str:
    return json.dumps({"type": "record", "name": "Widget", "fields": list(fields)})


@pytest.fixture
async def http(sqlite_catalog: CatalogService) -> AsyncIterator[httpx.AsyncClient]:
    await sqlite_catalog.register_schema(WIDGET_SCHEMA)
    grown = WIDGET_SCHEMA.model_copy(
        update={"fields": [*WIDGET_SCHEMA.fields, FieldSpec(name="weight", type=FieldType.NUMBER)]}
    )
    await sqlite_catalog.register_schema(grown)
    await sqlite_catalog.register_schema_text(
        AVRO_SUBJECT, "AVRO", avro({"name": "id", "type": "string"})
    )
    await sqlite_catalog.register_schema_text(
        AVRO_SUBJECT,
        "AVRO",
        avro({"name": "id", "type": "string"}, {"name": "size", "type": "int", "default": 0}),
    )
    await sqlite_catalog.set_compatibility(Compatibility.FULL, AVRO_SUBJECT)
    app = create_app(ApiContext(registry=MemoryRegistry([]), catalog=sqlite_catalog))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_subjects_list_versions_and_compatibility(http: httpx.AsyncClient) -> None:
    body = (await http.get("/api/v1/schema-subjects")).json()
    assert body["compatibility"] == "BACKWARD"
    assert body["truncated"] is False
    by_name = {s["subject"]: s for s in body["subjects"]}
    assert by_name["widget"] == {
        "subject": "widget",
        "schema_type": "DICTAMESH",
        "versions": [1, 2],
        "latest": 2,
        "compatibility": "BACKWARD",
        "compatibility_configured": False,
    }
    assert by_name[AVRO_SUBJECT]["compatibility"] == "FULL"
    assert by_name[AVRO_SUBJECT]["compatibility_configured"] is True
    assert by_name[AVRO_SUBJECT]["schema_type"] == "AVRO"
    limited = (await http.get("/api/v1/schema-subjects?limit=1")).json()
    assert len(limited["subjects"]) == 1
    assert limited["truncated"] is True


async def test_entity_schema_diff_shows_the_added_field(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/schemas/widget/diff?from=1&to=2")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["compatible"]) == (1, 2, True)
    assert body["changes"] == [
        {"severity": "safe", "code": "FIELD_ADDED", "message": "widget.weight added"}
    ]
    to_fields = [f["name"] for f in body["schemas"]["to"]["fields"]]
    assert "weight" in to_fields
    assert "weight" not in [f["name"] for f in body["schemas"]["from"]["fields"]]
    # defaults: the latest against the one before it
    assert (await http.get("/api/v1/schemas/widget/diff")).json()["changes"] == body["changes"]


async def test_avro_subject_diff_under_its_level(http: httpx.AsyncClient) -> None:
    body = (await http.get(f"/api/v1/schemas/{AVRO_SUBJECT}/diff?from=1&to=2")).json()
    assert body["compatibility"] == "FULL"
    assert body["compatible"] is True
    assert [c["code"] for c in body["changes"]] == ["FIELD_ADDED"]
    assert "size" in body["changes"][0]["message"]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("from=1&to=9", 404, "NOT_FOUND"),
        ("from=2&to=1", 422, "INVALID_VERSION_RANGE"),
        ("from=2&to=2", 422, "INVALID_VERSION_RANGE"),
        ("to=1", 422, "INVALID_VERSION_RANGE"),
        ("from=abc", 400, "VALIDATION_ERROR"),
        ("from=0", 400, "VALIDATION_ERROR"),
        ("from=99999999999999999999999", 400, "VALIDATION_ERROR"),
    ],
)
async def test_bad_versions_are_typed_errors(
    http: httpx.AsyncClient, query: str, status: int, code: str
) -> None:
    response = await http.get(f"/api/v1/schemas/widget/diff?{query}")
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


async def test_unknown_or_malformed_subjects(http: httpx.AsyncClient) -> None:
    unknown = await http.get("/api/v1/schemas/gadget/diff")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "NOT_FOUND")
    bad = await http.get("/api/v1/schemas/a%20b/diff")
    assert bad.status_code == 400
    assert (await http.get("/api/v1/schema-subjects?limit=5000")).status_code == 400
