"""The Confluent-compatible Schema Registry API over a SQLite catalog (httpx, in process)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.unit.gateway.fakes import MemoryRegistry

from dictamesh.api import ApiContext, create_app
from dictamesh.catalog import CatalogService
from dictamesh.catalog.registry_api import REGISTRY_CONTENT_TYPE
from dictamesh.core.models import EntitySchema, FieldSpec, FieldType
from dictamesh.core.settings import SchemaRegistryLimits

SR = REGISTRY_CONTENT_TYPE


def record(*fields: dict[str, Any], name: str = "User", namespace: str = "ex") -> str:
    return json.dumps(
        {"type": "record", "name": name, "namespace": namespace, "fields": list(fields)}
    )


A = {"name": "a", "type": "string"}
A_DEFAULT = {"name": "a", "type": "string", "default": "x"}
B = {"name": "b", "type": "int"}
B_DEFAULT = {"name": "b", "type": "int", "default": 0}


@pytest.fixture
def catalog(sqlite_catalog: CatalogService) -> CatalogService:
    return sqlite_catalog


@pytest.fixture
async def sr(catalog: CatalogService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ApiContext(registry=MemoryRegistry([]), catalog=catalog))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/schema-registry",
        headers={"Content-Type": SR, "Accept": SR},
    ) as client:
        yield client


async def register(sr: httpx.AsyncClient, subject: str, schema: str, **params: Any) -> int:
    response = await sr.post(
        f"/subjects/{subject}/versions", json={"schema": schema}, params=params
    )
    assert response.status_code == 200, response.text
    schema_id = response.json()["id"]
    assert isinstance(schema_id, int)
    return schema_id


def error(response: httpx.Response, status: int, code: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == SR
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == code
    message = body["message"]
    assert isinstance(message, str)
    return message


# --- reads and registration -------------------------------------------------------------------


async def test_root_types_and_media_type(sr: httpx.AsyncClient) -> None:
    for path in ("", "/"):
        response = await sr.get(path)
        assert (response.status_code, response.json()) == (200, {})
        assert response.headers["content-type"] == SR
    assert (await sr.get("/schemas/types")).json() == ["AVRO"]
    assert (await sr.get("/subjects")).json() == []
    assert (await sr.get("/mode")).json() == {"mode": "READWRITE"}
    assert (await sr.get("/contexts")).json() == ["."]


async def test_register_read_back_every_way(sr: httpx.AsyncClient) -> None:
    v1 = record(A)
    schema_id = await register(sr, "users-value", v1)
    # whitespace and key order do not make another schema: same id, no new version
    spaced = json.dumps(json.loads(v1), indent=2, sort_keys=True)
    assert await register(sr, "users-value", spaced) == schema_id
    assert (await sr.get("/subjects/users-value/versions")).json() == [1]
    # the same schema under another subject shares the global id
    assert await register(sr, "other-value", v1) == schema_id
    assert (await sr.get("/subjects")).json() == ["other-value", "users-value"]
    v2_id = await register(sr, "users-value", record(A, B_DEFAULT))
    assert v2_id != schema_id

    for version in ("1",):
        body = (await sr.get(f"/subjects/users-value/versions/{version}")).json()
        assert body == {
            "subject": "users-value",
            "version": 1,
            "id": schema_id,
            "schema": body["schema"],
        }
        assert json.loads(body["schema"]) == json.loads(v1)
        assert "schemaType" not in body  # AVRO is the default, left out as Confluent does
    for latest in ("latest", "-1"):
        body = (await sr.get(f"/subjects/users-value/versions/{latest}")).json()
        assert (body["version"], body["id"]) == (2, v2_id)
    raw = await sr.get("/subjects/users-value/versions/1/schema")
    assert raw.json() == json.loads(v1)
    assert (await sr.get("/subjects/users-value/versions/1/referencedby")).json() == []

    by_id = (await sr.get(f"/schemas/ids/{schema_id}")).json()
    assert json.loads(by_id["schema"]) == json.loads(v1)
    assert (await sr.get(f"/schemas/ids/{schema_id}/schema")).json() == json.loads(v1)
    assert (await sr.get(f"/schemas/ids/{schema_id}", params={"subject": "users-value"})).is_success
    assert (await sr.get(f"/schemas/ids/{schema_id}/versions")).json() == [
        {"subject": "other-value", "version": 1},
        {"subject": "users-value", "version": 1},
    ]
    assert (await sr.get(f"/schemas/ids/{schema_id}/subjects")).json() == [
        "other-value",
        "users-value",
    ]
    # ``subject`` names a context, not a filter: deserializers pass their topic's subject
    assert (await sr.get(f"/schemas/ids/{v2_id}", params={"subject": "other-value"})).is_success
    assert (await sr.get(f"/schemas/ids/{schema_id}/versions?subject=other-value")).json() == [
        {"subject": "other-value", "version": 1}
    ]
    error(await sr.get(f"/schemas/ids/{v2_id}/subjects?subject=other-value"), 404, 40403)


async def test_accepted_request_media_types_and_capitalised_booleans(
    sr: httpx.AsyncClient,
) -> None:
    for n, media in enumerate(
        [
            "application/vnd.schemaregistry.v1+json",
            "application/vnd.schemaregistry+json",
            "application/json",
        ]
    ):
        response = await sr.post(
            f"/subjects/m{n}/versions",
            content=json.dumps({"schema": '"string"'}),
            headers={"Content-Type": media},
        )
        assert response.status_code == 200, response.text
    # confluent-kafka formats Python booleans into the query string: normalize=False
    response = await sr.post("/subjects/m0/versions?normalize=False", json={"schema": '"string"'})
    assert response.status_code == 200
    assert (await sr.get("/subjects?deleted=True")).json() == ["m0", "m1", "m2"]


async def test_lookup(sr: httpx.AsyncClient) -> None:
    v1 = record(A)
    schema_id = await register(sr, "users-value", v1)
    found = await sr.post("/subjects/users-value", json={"schema": v1})
    assert found.status_code == 200
    body = found.json()
    assert (body["subject"], body["version"], body["id"]) == ("users-value", 1, schema_id)
    assert json.loads(body["schema"]) == json.loads(v1)
    error(await sr.post("/subjects/users-value", json={"schema": record(A, B)}), 404, 40403)
    error(await sr.post("/subjects/nobody", json={"schema": v1}), 404, 40401)
    # the same schema spelled with full names instead of a namespace: found only normalized
    full_names = json.dumps({"type": "record", "name": "ex.User", "fields": [A]})
    error(await sr.post("/subjects/users-value", json={"schema": full_names}), 404, 40403)
    normal = await sr.post("/subjects/users-value?normalize=true", json={"schema": full_names})
    assert normal.json()["id"] == schema_id


async def test_normalize_on_register_stores_the_normal_form(sr: httpx.AsyncClient) -> None:
    schema_id = await register(sr, "n-value", record(A), normalize="true")
    stored = json.loads((await sr.get(f"/schemas/ids/{schema_id}")).json()["schema"])
    assert stored == {"type": "record", "name": "ex.User", "fields": [A]}


async def test_catalog_entity_schemas_are_not_part_of_the_registry(
    sr: httpx.AsyncClient, catalog: CatalogService
) -> None:
    entity = EntitySchema(
        entity_type="customer",
        domain="customers",
        fields=[FieldSpec(name="name", type=FieldType.STRING, required=True)],
    )
    registered = await catalog.register_schema(entity)
    assert (await sr.get("/subjects")).json() == []
    error(await sr.get("/subjects/customer/versions"), 404, 40401)
    error(await sr.get(f"/schemas/ids/{registered.id}"), 404, 40403)


# --- errors -----------------------------------------------------------------------------------


async def test_not_found_error_codes(sr: httpx.AsyncClient) -> None:
    await register(sr, "users-value", record(A))
    assert "nobody" in error(await sr.get("/subjects/nobody/versions"), 404, 40401)
    error(await sr.get("/subjects/nobody/versions/1"), 404, 40401)
    error(await sr.get("/subjects/nobody/versions/latest/schema"), 404, 40401)
    error(await sr.delete("/subjects/nobody"), 404, 40401)
    error(await sr.get("/subjects/users-value/versions/9"), 404, 40402)
    error(await sr.delete("/subjects/users-value/versions/9"), 404, 40402)
    error(await sr.get("/schemas/ids/999"), 404, 40403)
    error(await sr.get("/schemas/ids/abc"), 404, 40403)
    error(await sr.get("/schemas/ids/999/versions"), 404, 40403)
    error(await sr.get("/config/users-value"), 404, 40408)
    error(await sr.delete("/config/users-value"), 404, 40408)
    error(await sr.delete("/config/nobody"), 404, 40401)


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        ({"schema": "not json at all"}, "not JSON"),
        ({"schema": record({"name": "a", "type": "strnig"})}, "strnig"),
        ({"schema": record({"name": "a", "type": "int", "default": "x"})}, "Default"),
        ({"schema": '{"type": "record", "fields": []}'}, "name"),
        ({"schema": '["int", "int"]'}, "more than once"),
        ({"schema": ""}, "non-empty"),
        ({}, "non-empty"),
        ({"schema": '{"type": "object"}', "schemaType": "JSON"}, "only check AVRO"),
        ({"schema": "syntax = 'proto3';", "schemaType": "PROTOBUF"}, "only check AVRO"),
        ({"schema": '"string"', "schemaType": "XML"}, "schema type"),
        (
            {"schema": '"string"', "references": [{"name": "x", "subject": "s", "version": 1}]},
            "references",
        ),
        ({"schema": '"string"', "ruleSet": {"domainRules": [{"name": "r"}]}}, "rule sets"),
    ],
)
async def test_invalid_schemas_are_42201(
    sr: httpx.AsyncClient, body: dict[str, Any], hint: str
) -> None:
    for path in ("/subjects/s/versions", "/subjects/s", "/compatibility/subjects/s/versions"):
        assert hint in error(await sr.post(path, json=body), 422, 42201)
    assert (await sr.get("/subjects")).json() == []


@pytest.mark.parametrize("version", ["0", "-2", "abc", "1.5", str(2**31)])
async def test_invalid_versions_are_42202(sr: httpx.AsyncClient, version: str) -> None:
    await register(sr, "s", '"string"')
    assert version in error(await sr.get(f"/subjects/s/versions/{version}"), 422, 42202)
    error(await sr.delete(f"/subjects/s/versions/{version}"), 422, 42202)
    error(
        await sr.post(f"/compatibility/subjects/s/versions/{version}", json={"schema": '"int"'}),
        422,
        42202,
    )


async def test_invalid_compatibility_level_is_42203(sr: httpx.AsyncClient) -> None:
    for body in ({"compatibility": "SIDEWAYS"}, {}, {"compatibility": None}):
        error(await sr.put("/config", json=body), 422, 42203)
        error(await sr.put("/config/s", json=body), 422, 42203)
    assert (await sr.get("/config")).json() == {"compatibilityLevel": "BACKWARD"}


async def test_request_errors_keep_the_confluent_shape(sr: httpx.AsyncClient) -> None:
    error(
        await sr.post("/subjects/s/versions", content="{", headers={"Content-Type": SR}), 400, 400
    )
    error(
        await sr.post(
            "/subjects/s/versions", content="schema=x", headers={"Content-Type": "text/plain"}
        ),
        415,
        415,
    )
    error(await sr.post("/subjects/s/versions", json=["not", "an", "object"]), 422, 422)
    error(await sr.get("/subjects", params={"deleted": "perhaps"}), 422, 422)
    error(await sr.get("/no/such/route"), 404, 404)
    error(await sr.patch("/subjects"), 405, 405)
    error(await sr.put("/schemas/types"), 405, 405)


async def test_the_rest_of_the_api_keeps_its_own_error_shape(sr: httpx.AsyncClient) -> None:
    response = await sr.get("http://testserver/api/v1/no-such-route")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_registry_can_be_switched_off(catalog: CatalogService) -> None:
    app = create_app(
        ApiContext(registry=MemoryRegistry([]), catalog=catalog, schema_registry=False)
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await client.get("/schema-registry/subjects")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


# --- compatibility ----------------------------------------------------------------------------

# (level, v1 fields, v2 fields, v2 compatible?)
PAIRS = [
    ("BACKWARD", [A], [A, B], False),  # new readers lack a default for b
    ("BACKWARD", [A], [A, B_DEFAULT], True),
    ("BACKWARD", [A], [], True),  # new readers ignore a
    ("FORWARD", [A], [A, B], True),  # old readers ignore b
    ("FORWARD", [A], [], False),  # old readers need a
    ("FORWARD", [A_DEFAULT], [], True),
    ("FULL", [A], [A, B], False),
    ("FULL", [A], [], False),
    ("FULL", [A], [A, B_DEFAULT], True),
    ("NONE", [A], [{"name": "a", "type": "boolean"}], True),
    ("BACKWARD", [B], [{"name": "b", "type": "long"}], True),  # int promotes to long
    ("FORWARD", [B], [{"name": "b", "type": "long"}], False),
]


@pytest.mark.parametrize(("level", "old", "new", "ok"), PAIRS)
async def test_compatibility_levels(
    sr: httpx.AsyncClient, level: str, old: list[Any], new: list[Any], ok: bool
) -> None:
    assert (await sr.put("/config/s", json={"compatibility": level})).json() == {
        "compatibility": level
    }
    await register(sr, "s", record(*old))
    candidate = {"schema": record(*new)}
    for path in ("/compatibility/subjects/s/versions/latest", "/compatibility/subjects/s/versions"):
        check = await sr.post(path, json=candidate, params={"verbose": "true"})
        assert check.json()["is_compatible"] is ok, check.text
        assert bool(check.json()["messages"]) is not ok
    response = await sr.post("/subjects/s/versions", json=candidate)
    if ok:
        assert response.status_code == 200
        assert (await sr.get("/subjects/s/versions")).json() == [1, 2]
    else:
        message = error(response, 409, 409)
        assert message.startswith("Schema being registered is incompatible")
        assert level in message
        assert (await sr.get("/subjects/s/versions")).json() == [1]


async def test_409_names_the_reason(sr: httpx.AsyncClient) -> None:
    await register(sr, "s", record(A))
    message = error(await sr.post("/subjects/s/versions", json={"schema": record(A, B)}), 409, 409)
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in message
    assert "'b'" in message
    assert "oldSchemaVersions: [1]" in message
    # a changed type names its field, in the 409 and in a verbose check
    retyped = {"schema": record({"name": "a", "type": "int"})}
    message = error(await sr.post("/subjects/s/versions", json=retyped), 409, 409)
    assert "TYPE_MISMATCH" in message
    assert "of field 'a' in the new schema" in message
    check = await sr.post("/compatibility/subjects/s/versions/latest?verbose=true", json=retyped)
    assert any("of field 'a'" in line for line in check.json()["messages"])
    # an identical schema is always accepted, whatever the level
    await sr.put("/config/s", json={"compatibility": "FULL_TRANSITIVE"})
    assert (
        await register(sr, "s", record(A)) == (await sr.get("/subjects/s/versions/1")).json()["id"]
    )


# v3 passes against the latest version only; the transitive level also checks v1.
TRANSITIVE = [
    ("BACKWARD", [A], [A, B_DEFAULT], [B]),
    ("FORWARD", [A], [A_DEFAULT], []),
    ("FULL", [A], [A_DEFAULT], []),
]


@pytest.mark.parametrize(("level", "v1", "v2", "v3"), TRANSITIVE)
async def test_transitive_levels_check_every_version(
    sr: httpx.AsyncClient, level: str, v1: list[Any], v2: list[Any], v3: list[Any]
) -> None:
    await sr.put("/config/plain", json={"compatibility": level})
    await sr.put("/config/trans", json={"compatibility": f"{level}_TRANSITIVE"})
    for subject in ("plain", "trans"):
        await register(sr, subject, record(*v1))
        await register(sr, subject, record(*v2))
    candidate = {"schema": record(*v3)}
    assert (await sr.post("/subjects/plain/versions", json=candidate)).status_code == 200
    check = await sr.post("/compatibility/subjects/trans/versions?verbose=true", json=candidate)
    assert check.json()["is_compatible"] is False
    assert "{oldSchemaVersion: 1}" in check.json()["messages"]
    # against one given version: only that one
    against_v2 = await sr.post("/compatibility/subjects/trans/versions/2", json=candidate)
    assert against_v2.json() == {"is_compatible": True}
    error(await sr.post("/subjects/trans/versions", json=candidate), 409, 409)
    assert (await sr.get("/subjects/trans/versions")).json() == [1, 2]


async def test_compatibility_of_a_new_subject_and_missing_versions(sr: httpx.AsyncClient) -> None:
    schema = {"schema": record(A)}
    assert (await sr.post("/compatibility/subjects/new/versions/latest", json=schema)).json() == {
        "is_compatible": True
    }
    assert (await sr.post("/compatibility/subjects/new/versions", json=schema)).json() == {
        "is_compatible": True
    }
    error(await sr.post("/compatibility/subjects/new/versions/1", json=schema), 404, 40402)
    await register(sr, "new", record(A))
    error(await sr.post("/compatibility/subjects/new/versions/7", json=schema), 404, 40402)


async def test_avro_rules_beyond_records(sr: httpx.AsyncClient) -> None:
    enum_v1 = json.dumps({"type": "enum", "name": "E", "symbols": ["A", "B"]})
    enum_v2 = json.dumps({"type": "enum", "name": "E", "symbols": ["A"]})
    enum_v2_default = json.dumps({"type": "enum", "name": "E", "symbols": ["A"], "default": "A"})
    await register(sr, "e", enum_v1)
    message = error(await sr.post("/subjects/e/versions", json={"schema": enum_v2}), 409, 409)
    assert "MISSING_ENUM_SYMBOLS" in message
    await register(sr, "e", enum_v2_default)

    await register(sr, "u", json.dumps(["null", "string"]))
    message = error(await sr.post("/subjects/u/versions", json={"schema": '"string"'}), 409, 409)
    assert "TYPE_MISMATCH" in message  # new "string" readers cannot read old nulls
    await register(sr, "u", json.dumps(["null", "string", "int"]))
    # (["null", "string"] again would be version 1, returned as it is: no check)
    await register(sr, "u2", json.dumps(["null", "string", "int"]))
    narrower = {"schema": json.dumps(["null", "string"])}
    message = error(await sr.post("/subjects/u2/versions", json=narrower), 409, 409)
    assert "MISSING_UNION_BRANCH" in message
    assert "INT" in message

    await register(sr, "n", record(A, name="Old"))
    message = error(
        await sr.post("/subjects/n/versions", json={"schema": record(A, name="New")}), 409, 409
    )
    assert "NAME_MISMATCH" in message
    aliased = json.dumps(
        {"type": "record", "name": "New", "namespace": "ex", "aliases": ["Old"], "fields": [A]}
    )
    await register(sr, "n", aliased)

    linked = json.dumps(
        {
            "type": "record",
            "name": "Node",
            "fields": [{"name": "v", "type": "int"}, {"name": "next", "type": ["null", "Node"]}],
        }
    )
    await register(sr, "rec", linked)
    await register(sr, "rec", linked.replace('"int"', '"long"'))  # recursive types terminate


# --- config -----------------------------------------------------------------------------------


async def test_global_and_subject_config(sr: httpx.AsyncClient) -> None:
    assert (await sr.get("/config")).json() == {"compatibilityLevel": "BACKWARD"}
    assert (await sr.put("/config", json={"compatibility": "full"})).json() == {
        "compatibility": "FULL"
    }
    assert (await sr.get("/config")).json() == {"compatibilityLevel": "FULL"}
    error(await sr.get("/config/s"), 404, 40408)
    assert (await sr.get("/config/s?defaultToGlobal=true")).json() == {"compatibilityLevel": "FULL"}
    await sr.put("/config/s", json={"compatibilityLevel": "NONE"})
    assert (await sr.get("/config/s")).json() == {"compatibilityLevel": "NONE"}
    assert (await sr.delete("/config/s")).json() == {"compatibilityLevel": "NONE"}
    error(await sr.get("/config/s"), 404, 40408)
    assert (await sr.delete("/config")).json() == {"compatibilityLevel": "FULL"}
    assert (await sr.get("/config")).json() == {"compatibilityLevel": "BACKWARD"}


# --- deletes ----------------------------------------------------------------------------------


async def test_soft_and_hard_delete_of_a_version(sr: httpx.AsyncClient) -> None:
    await sr.put("/config/s", json={"compatibility": "NONE"})
    first = await register(sr, "s", record(A))
    second = await register(sr, "s", record(B))
    error(await sr.delete("/subjects/s/versions/1?permanent=true"), 404, 40407)
    assert (await sr.delete("/subjects/s/versions/1")).json() == 1
    error(await sr.delete("/subjects/s/versions/1"), 404, 40406)
    assert (await sr.get("/subjects/s/versions")).json() == [2]
    assert (await sr.get("/subjects/s/versions?deleted=true")).json() == [1, 2]
    assert (await sr.get("/subjects/s/versions?deleted_only=true")).json() == [1]
    error(await sr.get("/subjects/s/versions/1"), 404, 40402)
    assert (await sr.get("/subjects/s/versions/1?deleted=true")).json()["id"] == first
    # records written with a soft-deleted schema stay readable: the id still resolves
    assert (await sr.get(f"/schemas/ids/{first}")).status_code == 200
    assert (await sr.get(f"/schemas/ids/{first}/versions")).json() == []
    assert (await sr.get(f"/schemas/ids/{first}/versions?deleted=true")).json() == [
        {"subject": "s", "version": 1}
    ]
    error(await sr.post("/subjects/s", json={"schema": record(A)}), 404, 40403)
    assert (await sr.post("/subjects/s?deleted=true", json={"schema": record(A)})).json()[
        "version"
    ] == 1

    assert (await sr.delete("/subjects/s/versions/1?permanent=true")).json() == 1
    error(await sr.get(f"/schemas/ids/{first}"), 404, 40403)
    assert (await sr.get("/subjects/s/versions?deleted=true")).json() == [2]
    error(await sr.delete("/subjects/s/versions/1?permanent=true"), 404, 40402)
    # neither the version number nor the id of an erased schema is handed out again
    third = await register(sr, "s", record(B_DEFAULT))
    assert third not in (first, second)
    assert (await sr.get("/subjects/s/versions")).json() == [2, 3]
    # ``latest`` deletes the latest live version
    assert (await sr.delete("/subjects/s/versions/latest")).json() == 3


async def test_soft_and_hard_delete_of_a_subject(sr: httpx.AsyncClient) -> None:
    await register(sr, "keep", '"string"')
    await register(sr, "s", record(A))
    await register(sr, "s", record(A, B_DEFAULT))
    await sr.put("/config/s", json={"compatibility": "NONE"})
    error(await sr.delete("/subjects/s?permanent=true"), 404, 40405)
    assert (await sr.delete("/subjects/s")).json() == [1, 2]
    error(await sr.delete("/subjects/s"), 404, 40404)
    assert (await sr.get("/subjects")).json() == ["keep"]
    assert (await sr.get("/subjects?deleted=true")).json() == ["keep", "s"]
    assert (await sr.get("/subjects?deletedOnly=true")).json() == ["s"]
    assert (await sr.get("/subjects?subjectPrefix=k")).json() == ["keep"]
    error(await sr.get("/subjects/s/versions"), 404, 40401)
    error(await sr.get("/config/s"), 404, 40408)  # the subject's setting went with it
    assert (await sr.delete("/subjects/s?permanent=true")).json() == [1, 2]
    assert (await sr.get("/subjects?deleted=true")).json() == ["keep"]
    error(await sr.delete("/subjects/s?permanent=true"), 404, 40401)
    # re-registering continues the numbering
    await register(sr, "s", record(A))
    assert (await sr.get("/subjects/s/versions")).json() == [3]


async def test_the_id_of_an_erased_latest_schema_is_not_reused(sr: httpx.AsyncClient) -> None:
    # SQLite hands out max(rowid) + 1: erasing the newest row must not free its id.
    await sr.put("/config/s", json={"compatibility": "NONE"})
    await register(sr, "s", record(A))
    erased = await register(sr, "s", record(B))
    await sr.delete("/subjects/s/versions/2")
    assert (await sr.delete("/subjects/s/versions/2?permanent=true")).json() == 2
    error(await sr.get(f"/schemas/ids/{erased}"), 404, 40403)
    newer = await register(sr, "s", record(A, B_DEFAULT))
    assert newer > erased
    assert (await sr.get("/subjects/s/versions")).json() == [1, 3]


async def test_the_schema_bounds_come_from_the_settings(catalog: CatalogService) -> None:
    limits = SchemaRegistryLimits(max_list_items=3)  # catalog.schema_registry in mesh.yaml
    app = create_app(
        ApiContext(registry=MemoryRegistry([]), catalog=catalog, registry_limits=limits)
    )
    union = ["null", "int", "string", "boolean"]  # 4 items
    schema = json.dumps({"type": "record", "name": "R", "fields": [{"name": "u", "type": union}]})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as http:
        response = await http.post(
            "/schema-registry/subjects/bounded-value/versions",
            json={"schema": schema},
            headers={"content-type": "application/vnd.schemaregistry.v1+json"},
        )
    assert "over the limit of 3" in error(response, 422, 42201)
