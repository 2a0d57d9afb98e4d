"""Schema registry clients: the in-memory one, and the HTTP one against a fake Confluent API."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from dictamesh.core.errors import (
    CatalogError,
    NotFoundError,
    SchemaCompatibilityError,
    ValidationError,
)
from dictamesh.core.models import ChangeEvent, EventType, SourceRef
from dictamesh.events.avro import AvroEventSerializer, change_event_schema_str
from dictamesh.events.schema_registry import (
    SCHEMA_REGISTRY_CONTENT_TYPE,
    HttpSchemaRegistryClient,
    InMemorySchemaRegistry,
    SchemaRegistryClient,
    canonical_schema,
)

SCHEMA_A = json.dumps({"type": "record", "name": "A", "fields": [{"name": "x", "type": "int"}]})
SCHEMA_B = json.dumps({"type": "record", "name": "A", "fields": [{"name": "y", "type": "string"}]})


class FakeConfluentRegistry:
    """Just enough of the Confluent Schema Registry REST API, as an httpx handler."""

    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[httpx.Request] = []
        self.incompatible: set[str] = set()
        self.fail_with: int | None = None

    def _error(self, status: int, code: int, message: str) -> httpx.Response:
        return httpx.Response(
            status,
            json={"error_code": code, "message": message},
            headers={"content-type": SCHEMA_REGISTRY_CONTENT_TYPE},
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_with is not None:
            return httpx.Response(self.fail_with, text="<html>proxy error</html>")
        path = request.url.raw_path.decode().split("?")[0].removeprefix("/api")
        parts = [unquote(p) for p in path.split("/")[1:]]
        ok = {"content-type": SCHEMA_REGISTRY_CONTENT_TYPE}
        if request.method == "POST" and parts[0] == "subjects":
            body = json.loads(request.content)
            schema = body["schema"]
            if body.get("schemaType", "AVRO") != "AVRO":
                return self._error(422, 42201, "Invalid schema type")
            try:
                json.loads(schema)
            except ValueError:
                return self._error(422, 42201, "Invalid schema")
            subject = parts[1]
            canonical = canonical_schema(schema)
            found = next(
                (i for i, s in self.schemas.items() if canonical_schema(s) == canonical), None
            )
            versions = self.subjects.get(subject, [])
            if len(parts) == 2:  # lookup
                if found is None or found not in versions:
                    return self._error(404, 40403, "Schema not found")
                return httpx.Response(
                    200,
                    json={
                        "subject": subject,
                        "id": found,
                        "version": versions.index(found) + 1,
                        "schema": schema,
                    },
                    headers=ok,
                )
            if subject in self.incompatible and versions:
                return self._error(
                    409,
                    409,
                    "Schema being registered is incompatible with an earlier schema for subject",
                )
            if found is None:
                found = len(self.schemas) + 1
                self.schemas[found] = schema
            if found not in versions:
                self.subjects.setdefault(subject, []).append(found)
            return httpx.Response(200, json={"id": found}, headers=ok)
        if request.method == "GET" and parts[:2] == ["schemas", "ids"]:
            schema_id = int(parts[2])
            if schema_id not in self.schemas:
                return self._error(404, 40403, "Schema not found")
            return httpx.Response(200, json={"schema": self.schemas[schema_id]}, headers=ok)
        if (
            request.method == "GET"
            and parts[0] == "subjects"
            and parts[2:] == ["versions", "latest"]
        ):
            latest_versions = self.subjects.get(parts[1])
            if not latest_versions:
                return self._error(404, 40401, f"Subject '{parts[1]}' not found.")
            return httpx.Response(
                200,
                json={
                    "subject": parts[1],
                    "id": latest_versions[-1],
                    "version": len(latest_versions),
                    "schema": self.schemas[latest_versions[-1]],
                },
                headers=ok,
            )
        return self._error(404, 404, "HTTP 404 Not Found")


@pytest.fixture
def fake() -> FakeConfluentRegistry:
    return FakeConfluentRegistry()


@pytest.fixture
async def client(fake: FakeConfluentRegistry) -> Any:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    async with HttpSchemaRegistryClient("http://registry.test/api/", client=http) as c:
        yield c
    await http.aclose()


# -- in memory -----------------------------------------------------------------------------


async def test_in_memory_ids_and_versions() -> None:
    reg = InMemorySchemaRegistry()
    assert isinstance(reg, SchemaRegistryClient)
    a = await reg.register("s1", SCHEMA_A)
    assert await reg.register("s1", json.dumps(json.loads(SCHEMA_A), indent=4)) == a  # same schema
    assert await reg.register("s2", SCHEMA_A) == a  # ids are global
    b = await reg.register("s1", SCHEMA_B)
    assert b != a
    assert await reg.get_latest("s1") == (b, 2, SCHEMA_B)
    assert await reg.get_latest("s2") == (a, 1, SCHEMA_A)
    assert await reg.get_by_id(a) == SCHEMA_A
    assert [v.version for v in reg.versions("s1")] == [1, 2]


async def test_in_memory_errors() -> None:
    reg = InMemorySchemaRegistry(compatible=lambda old, new: "field x removed")
    with pytest.raises(NotFoundError):
        await reg.get_by_id(99)
    with pytest.raises(NotFoundError):
        await reg.get_latest("nope")
    with pytest.raises(ValidationError):
        await reg.register("", SCHEMA_A)
    await reg.register("s", SCHEMA_A)
    with pytest.raises(SchemaCompatibilityError, match="field x removed") as info:
        await reg.register("s", SCHEMA_B)
    assert info.value.http_status == 409


# -- HTTP client ---------------------------------------------------------------------------


async def test_http_register_speaks_the_confluent_api(
    client: HttpSchemaRegistryClient, fake: FakeConfluentRegistry
) -> None:
    assert isinstance(client, SchemaRegistryClient)
    schema_id = await client.register("orders.v1/x-value", SCHEMA_A)
    request = fake.requests[-1]
    assert request.method == "POST"
    # subject is path-escaped (a '/' must not split the path); base_url path is kept
    assert request.url.raw_path == b"/api/subjects/orders.v1%2Fx-value/versions"
    assert request.headers["content-type"] == SCHEMA_REGISTRY_CONTENT_TYPE
    assert "application/vnd.schemaregistry.v1+json" in request.headers["accept"]
    assert json.loads(request.content) == {"schema": SCHEMA_A, "schemaType": "AVRO"}
    assert schema_id == 1


async def test_http_caches_ids_and_schemas(
    client: HttpSchemaRegistryClient, fake: FakeConfluentRegistry
) -> None:
    schema_id = await client.register("s-value", SCHEMA_A)
    await client.register("s-value", SCHEMA_A)
    assert await client.get_by_id(schema_id) == SCHEMA_A
    assert len(fake.requests) == 1
    fresh = HttpSchemaRegistryClient(
        "http://registry.test/api", client=httpx.AsyncClient(transport=httpx.MockTransport(fake))
    )
    assert await fresh.get_by_id(schema_id) == SCHEMA_A
    assert await fresh.get_by_id(schema_id) == SCHEMA_A
    assert len(fake.requests) == 2
    assert fake.requests[-1].url.path == f"/api/schemas/ids/{schema_id}"


async def test_http_get_latest_and_lookup(client: HttpSchemaRegistryClient) -> None:
    a = await client.register("s-value", SCHEMA_A)
    b = await client.register("s-value", SCHEMA_B)
    assert await client.get_latest("s-value") == (b, 2, SCHEMA_B)
    assert await client.lookup("s-value", SCHEMA_A) == a
    assert await client.lookup("other-value", SCHEMA_A) is None


async def test_http_409_is_schema_compatibility_error_with_message(
    client: HttpSchemaRegistryClient, fake: FakeConfluentRegistry
) -> None:
    fake.incompatible.add("s-value")
    await client.register("s-value", SCHEMA_A)
    with pytest.raises(
        SchemaCompatibilityError, match="incompatible with an earlier schema"
    ) as info:
        await client.register("s-value", SCHEMA_B)
    assert info.value.details["status"] == 409
    assert info.value.details["registry_error_code"] == 409


async def test_http_error_mapping(
    client: HttpSchemaRegistryClient, fake: FakeConfluentRegistry
) -> None:
    with pytest.raises(NotFoundError, match="Schema not found"):
        await client.get_by_id(12)
    with pytest.raises(NotFoundError, match="not found"):
        await client.get_latest("missing-value")
    with pytest.raises(ValidationError, match="Invalid schema"):
        await client.register("s-value", "{not json")
    fake.fail_with = 502
    with pytest.raises(CatalogError, match="Bad Gateway") as info:
        await client.get_by_id(1)
    assert info.value.details["status"] == 502


async def test_http_unreachable_is_catalog_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    client = HttpSchemaRegistryClient("http://registry.test", client=http)
    with pytest.raises(CatalogError, match="unreachable"):
        await client.register("s-value", SCHEMA_A)
    await http.aclose()


async def test_http_malformed_answer_is_catalog_error() -> None:
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"idx": 1}))
    )
    client = HttpSchemaRegistryClient("http://registry.test", client=http)
    with pytest.raises(CatalogError, match="integer 'id'"):
        await client.register("s-value", SCHEMA_A)
    await http.aclose()


async def test_owned_client_is_closed() -> None:
    client = HttpSchemaRegistryClient("http://registry.test")
    await client.aclose()
    assert client._client.is_closed


async def test_avro_serializer_over_http_registry(
    client: HttpSchemaRegistryClient, fake: FakeConfluentRegistry
) -> None:
    event = ChangeEvent(
        event_type=EventType.CREATED,
        entity={"type": "customer", "id": "c-7", "version": 1},
        source=SourceRef(domain="customers", system="directus"),
        after={"email": "x@y.z"},
    )
    writer = AvroEventSerializer(client)
    value, headers = await writer.encode_async(event)
    assert list(fake.subjects) == ["customers.directus.entity_changed-value"]
    assert json.loads(fake.schemas[1]) == json.loads(change_event_schema_str())
    reader_http = HttpSchemaRegistryClient(
        "http://registry.test/api", client=httpx.AsyncClient(transport=httpx.MockTransport(fake))
    )
    assert await AvroEventSerializer(reader_http).decode_async(value, headers) == event
