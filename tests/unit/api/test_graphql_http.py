"""GraphQL-over-HTTP conformance of /graphql (the audits of graphql-http's serverAudits,
MUST ones first, plus the choices documented in docs/graphql.md)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.unit.api.conftest import Node

from dictamesh.core.errors import SourceUnavailable
from dictamesh.core.settings import GraphQLSettings

GQL = "application/graphql-response+json"
JSON = "application/json"
TYPENAME = {"query": "{ __typename }"}


@pytest.fixture(scope="module")
def shared_node() -> Node:
    # One app for the module's many small requests (building one costs ~0.1 s); without
    # a rate limit, since they come faster than the default 50/s.
    return Node(graphql=GraphQLSettings(rate_limit_per_second=0))


@pytest.fixture
async def client(shared_node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async with shared_node.client() as http:
        yield http


async def post(
    client: httpx.AsyncClient,
    body: Any = TYPENAME,
    *,
    accept: str | None = None,
    content_type: str | None = JSON,
    raw: bytes | str | None = None,
) -> httpx.Response:
    headers = {}
    if accept is not None:
        headers["accept"] = accept
    if content_type is not None:
        headers["content-type"] = content_type
    content = raw if raw is not None else json.dumps(body)
    return await client.post("/graphql", content=content, headers=headers)


def gql_errors(response: httpx.Response) -> list[str]:
    body = response.json()
    assert isinstance(body, dict), body
    return [e["extensions"]["code"] for e in body.get("errors", [])]


# --- media types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (JSON, JSON),  # 4655 MUST
        (GQL, GQL),  # 22EB
        ("*/*", JSON),  # 47DE
        (None, JSON),  # 80D8
        ("", JSON),
        ("application/*", JSON),
        (f"{GQL}, {JSON};q=0.9", GQL),  # what Apollo Client sends
        (f"{GQL};q=0.5, {JSON}", JSON),
        (f"{GQL}, {JSON}, multipart/mixed", GQL),  # GraphiQL
        (f"text/html, {GQL};q=0", "406"),
    ],
)
async def test_response_media_type_follows_accept(
    client: httpx.AsyncClient, accept: str | None, media: str
) -> None:
    response = await post(client, accept=accept)
    if media == "406":
        assert response.status_code == 406
        assert gql_errors(response) == ["NOT_ACCEPTABLE"]
        return
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media
    assert response.json() == {"data": {"__typename": "Query"}}
    assert response.headers["vary"] == "Accept"


async def test_graphql_response_json_says_utf8(client: httpx.AsyncClient) -> None:
    response = await post(client, accept=GQL)
    assert response.headers["content-type"] == f"{GQL}; charset=utf-8"


async def test_utf8_requests(client: httpx.AsyncClient) -> None:
    # BF61 / 78D5 / 82A3 MUST
    body = {"query": '{ __type(name: "Run🏃Swim🏊") { name } }'}
    response = await post(client, body, content_type=f"{JSON}; charset=utf-8")
    assert response.status_code == 200
    assert response.json() == {"data": {"__type": None}}
    response = await post(client, body, raw=json.dumps(body, ensure_ascii=False).encode())
    assert response.status_code == 200
    response.content.decode("utf-8")


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/graphql", f"{JSON}; charset=latin-1", "multipart/form-data"],
)
async def test_post_bodies_must_be_json(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    # 9ABE: a 4xx without content type; we use 415 for every unsupported media type.
    response = await post(client, content_type=content_type)
    assert response.status_code == 415
    assert gql_errors(response) == ["UNSUPPORTED_MEDIA_TYPE"]


# --- request parameters -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        ("", None),  # A5BF: no body
        ('{ "not a JSON', None),  # BCF8 / B7N8
        (None, {"notquery": "{ __typename }"}),  # 423L / 3E3A
        (None, {"query": {"obj": "ect"}}),  # LKJ0-3
        (None, {"query": 0}),
        (None, {"query": False}),
        (None, {"query": ["array"]}),
        (None, {"query": "{ __typename }", "operationName": {"obj": "ect"}}),  # 6C00-3
        (None, {"query": "{ __typename }", "operationName": 0}),
        (None, {"query": "{ __typename }", "operationName": False}),
        (None, {"query": "{ __typename }", "operationName": ["array"]}),
        (None, {"query": "{ __typename }", "variables": "string"}),  # 4760-3
        (None, {"query": "{ __typename }", "variables": 0}),
        (None, {"query": "{ __typename }", "variables": False}),
        (None, {"query": "{ __typename }", "variables": ["array"]}),
        (None, {"query": "{ __typename }", "extensions": "string"}),  # 58B0-3
        (None, {"query": "{ __typename }", "extensions": 0}),
        (None, {"query": "{ __typename }", "extensions": ["array"]}),
        (None, ["a", "batch"]),
        (None, "just a string"),
    ],
)
@pytest.mark.parametrize("accept", [JSON, GQL, None])
async def test_malformed_requests_are_400_with_a_graphql_error(
    client: httpx.AsyncClient, raw: str | None, body: Any, accept: str | None
) -> None:
    response = await post(client, body, raw=raw, accept=accept)
    assert response.status_code == 400
    assert gql_errors(response) == ["BAD_REQUEST"]
    assert "data" not in response.json()


@pytest.mark.parametrize("parameter", ["variables", "operationName", "extensions"])
@pytest.mark.parametrize("accept", [JSON, GQL])
async def test_null_parameters_are_fine(
    client: httpx.AsyncClient, parameter: str, accept: str
) -> None:
    # 0220-0222 MUST / 94B0-94B2
    response = await post(client, {"query": "{ __typename }", parameter: None}, accept=accept)
    assert response.status_code == 200
    assert "errors" not in response.json()


@pytest.mark.parametrize("accept", [JSON, GQL])
async def test_string_operation_name_map_variables_and_extensions(
    client: httpx.AsyncClient, accept: str
) -> None:
    # B8B3 / 28B9 / 1B7A MUST
    bodies = [
        {"operationName": "Query", "query": "query Query { __typename }"},
        {
            "query": "query Type($name: String!) { __type(name: $name) { name } }",
            "variables": {"name": "sometype"},
        },
        {"query": "{ __typename }", "extensions": {"some": "value"}},
    ]
    for body in bodies:
        response = await post(client, body, accept=accept)
        assert response.status_code == 200, body
        assert "errors" not in response.json()


# --- GET --------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [JSON, GQL])
async def test_queries_over_get(client: httpx.AsyncClient, accept: str) -> None:
    # 5A70, D6D5, 6A70
    params = {
        "query": "query Type($name: String!) { __type(name: $name) { name } }",
        "variables": json.dumps({"name": "Customer"}),
    }
    response = await client.get("/graphql", params=params, headers={"accept": accept})
    assert response.status_code == 200
    assert response.json() == {"data": {"__type": {"name": "Customer"}}}
    empty = await client.get(
        "/graphql", params={"query": "{ __typename }", "variables": ""}, headers={"accept": accept}
    )
    assert empty.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("accept", [JSON, GQL, "*/*"])
async def test_mutations_over_get_are_405(client: httpx.AsyncClient, accept: str) -> None:
    # 9C48; the spec says 405 (Method Not Allowed)
    response = await client.get(
        "/graphql", params={"query": "mutation { __typename }"}, headers={"accept": accept}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert gql_errors(response) == ["METHOD_NOT_ALLOWED"]


async def test_get_with_bad_variables_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ __typename }", "variables": "{"})
    assert response.status_code == 400
    assert gql_errors(response) == ["BAD_REQUEST"]


async def test_graphiql_only_for_browsers(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    no_query = await client.get("/graphql", headers={"accept": JSON})
    assert no_query.status_code == 400
    hash_only = await client.get(
        "/graphql",
        params={
            "extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}})
        },
        headers={"accept": "*/*"},
    )
    assert gql_errors(hash_only) == ["PERSISTED_QUERY_NOT_FOUND"]


# --- status codes of GraphQL errors ----------------------------------------------------------

REQUEST_ERRORS = [
    ({"query": "{"}, "GRAPHQL_VALIDATION_FAILED"),  # 572B / 556A / D586 (parse)
    ({"query": "{ 8f31403dfe404bccbb0e835f2629c6a7 }"}, "GRAPHQL_VALIDATION_FAILED"),  # FDE2/74FF
    (  # 7B9B / 86EE (variable coercion)
        {"query": "query CoerceFailure($id: ID!){ __typename }", "variables": {"id": None}},
        "BAD_USER_INPUT",
    ),
    ({"query": "mutation { __typename }"}, "GRAPHQL_VALIDATION_FAILED"),  # no mutations here
    ({"query": "query A { __typename }", "operationName": "B"}, "BAD_REQUEST"),
]


@pytest.mark.parametrize(("body", "code"), REQUEST_ERRORS)
async def test_request_errors_are_200_for_application_json(
    client: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    response = await post(client, body, accept=JSON)
    assert response.status_code == 200
    assert gql_errors(response) == [code]
    assert "data" not in response.json()


@pytest.mark.parametrize(("body", "code"), REQUEST_ERRORS)
async def test_request_errors_are_400_for_graphql_response_json(
    client: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    response = await post(client, body, accept=GQL)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GQL)
    assert gql_errors(response) == [code]
    assert "data" not in response.json()


async def test_field_errors_with_data_are_200_for_both(node: Node) -> None:
    node.invoices.fail = SourceUnavailable("billing down")
    async with node.client() as client:
        for accept in (JSON, GQL):
            body = {"query": '{ customer(id: "c-1") { name invoices { id } } }'}
            response = await post(client, body, accept=accept)
            assert response.status_code == 200
            assert response.json()["data"] == {"customer": {"name": "Customer 1", "invoices": None}}
            assert gql_errors(response) == ["SOURCE_UNAVAILABLE"]
