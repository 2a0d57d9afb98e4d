"""REST routes: answers, exact status codes, and JSON error codes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.unit.api.catalog_fake import Location
from tests.unit.api.conftest import Node

from dictamesh.core.errors import SourceRateLimited, SourceUnavailable
from dictamesh.core.models import (
    EntityRef,
    EntitySchema,
    FieldSpec,
    FieldType,
    HealthState,
    HealthStatus,
)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


# --- entities ---------------------------------------------------------------------------


async def test_entity_location(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/entities/customer/c-1")
    assert response.status_code == 200
    assert response.json() == {
        "entity_type": "customer",
        "entity_id": "c-1",
        "domain": "customers",
        "system": "directus",
        "version": 1,
    }


async def test_entity_location_with_live_record(client: httpx.AsyncClient, node: Node) -> None:
    response = await client.get("/api/v1/entities/customer/c-1", params={"live": "true"})
    assert response.status_code == 200
    body = response.json()
    assert body["entity_id"] == "c-1"
    assert body["live"]["id"] == "c-1"
    assert body["live"]["attributes"]["name"] == "Customer 1"
    assert node.customers.calls == {"get_entity": 1}


async def test_live_read_failure_still_answers_with_the_location(
    client: httpx.AsyncClient, node: Node
) -> None:
    node.customers.fail = SourceUnavailable("directus down")
    response = await client.get("/api/v1/entities/customer/c-1?live=true")
    assert response.status_code == 200
    body = response.json()
    assert body["live"] is None
    assert body["live_error"] == {"code": "SOURCE_UNAVAILABLE", "message": "directus down"}


async def test_unknown_entity_type(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/entities/spaceship/x-1")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "UNKNOWN_ENTITY_TYPE"
    assert error["details"] == {
        "entity_type": "spaceship",
        "known_types": ["customer", "invoice", "product"],
    }


async def test_type_known_only_to_the_catalog(client: httpx.AsyncClient, node: Node) -> None:
    node.catalog.locations[("legacy_order", "o-1")] = Location(
        entity_type="legacy_order", entity_id="o-1", domain="erp", system="sap"
    )
    assert (await client.get("/api/v1/entities/legacy_order/o-1")).status_code == 200
    response = await client.get("/api/v1/entities/legacy_order/o-2")
    assert response.status_code == 404
    assert error_of(response)["code"] == "ENTITY_NOT_FOUND"


async def test_entity_not_in_catalog(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/entities/customer/c-404")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "ENTITY_NOT_FOUND"
    assert error["details"] == {"entity_type": "customer", "entity_id": "c-404"}


@pytest.mark.parametrize("bad_id", ["bad%20id", "-leading-dash", "x" * 129, "%C3%A9", "a%00b"])
async def test_malformed_entity_id(client: httpx.AsyncClient, node: Node, bad_id: str) -> None:
    response = await client.get(f"/api/v1/entities/customer/{bad_id}")
    assert response.status_code == 400
    assert error_of(response)["code"] == "VALIDATION_ERROR"
    assert node.catalog.calls == []


async def test_an_encoded_slash_is_no_entity_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/entities/customer/a%2Fb")
    assert response.status_code == 404
    assert error_of(response)["code"] == "NOT_FOUND"


async def test_list_entities(client: httpx.AsyncClient, node: Node) -> None:
    response = await client.get("/api/v1/entities/product", params={"limit": 3})
    assert response.status_code == 200
    page = response.json()
    assert [e["id"] for e in page["items"]] == ["p-1", "p-2", "p-3"]
    assert page["total"] == 4
    response = await client.get(
        "/api/v1/entities/product", params={"limit": 3, "cursor": page["next_cursor"]}
    )
    assert [e["id"] for e in response.json()["items"]] == ["p-4"]
    assert response.json()["next_cursor"] is None
    assert [q.limit for q in node.products.queries] == [3, 3]


async def test_list_limit_above_maximum(client: httpx.AsyncClient, node: Node) -> None:
    response = await client.get("/api/v1/entities/product?limit=501")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "QUERY_LIMIT_EXCEEDED"
    assert error["details"] == {"limit": 501, "max_limit": 500}
    assert node.products.calls == {}
    assert (await client.get("/api/v1/entities/product?limit=500")).status_code == 200


@pytest.mark.parametrize("query", ["limit=0", "limit=ten", "cursor=" + "c" * 513])
async def test_list_bad_parameters(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/v1/entities/product?{query}")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["problems"][0]["loc"][0] == "query"


async def test_list_unknown_type(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/entities/spaceship")
    assert response.status_code == 404
    assert error_of(response)["code"] == "UNKNOWN_ENTITY_TYPE"


async def test_source_errors_keep_their_status(client: httpx.AsyncClient, node: Node) -> None:
    node.products.fail = SourceUnavailable("pim down", adapter="products_rest")
    response = await client.get("/api/v1/entities/product")
    assert response.status_code == 503
    assert error_of(response) == {
        "code": "SOURCE_UNAVAILABLE",
        "message": "pim down",
        "details": {"adapter": "products_rest"},
    }
    node.products.fail = SourceRateLimited("slow down", retry_after=2.4)
    response = await client.get("/api/v1/entities/product")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert error_of(response)["code"] == "SOURCE_RATE_LIMITED"


# --- catalog: graph, events, lineage ------------------------------------------------------


async def test_relationship_graph(client: httpx.AsyncClient, node: Node) -> None:
    response = await client.get(
        "/api/v1/entities/invoice/inv-1-1/graph", params={"depth": 2, "direction": "outgoing"}
    )
    assert response.status_code == 200
    assert response.json()["root"] == {"type": "invoice", "id": "inv-1-1"}
    assert node.catalog.calls[-1] == (
        "query_relationship_graph",
        {
            "root": EntityRef(type="invoice", id="inv-1-1"),
            "max_depth": 2,
            "direction": "outgoing",
            "limit": 1000,
        },
    )
    default = await client.get("/api/v1/entities/invoice/inv-1-1/graph")
    assert default.json()["depth"] == 3
    assert default.json()["direction"] == "both"


@pytest.mark.parametrize("depth", ["0", "11", "-1", "deep"])
async def test_graph_depth_out_of_range(client: httpx.AsyncClient, node: Node, depth: str) -> None:
    response = await client.get(f"/api/v1/entities/invoice/inv-1-1/graph?depth={depth}")
    assert response.status_code == 400
    assert error_of(response)["code"] == "VALIDATION_ERROR"
    assert node.catalog.calls == []


async def test_graph_errors(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/entities/invoice/inv-404/graph")
    assert response.status_code == 404
    assert error_of(response)["code"] == "ENTITY_NOT_FOUND"
    response = await client.get("/api/v1/entities/spaceship/s-1/graph")
    assert error_of(response)["code"] == "UNKNOWN_ENTITY_TYPE"
    response = await client.get("/api/v1/entities/invoice/inv-1-1/graph?direction=sideways")
    assert response.status_code == 400
    assert error_of(response)["code"] == "VALIDATION_ERROR"


async def test_event_log(client: httpx.AsyncClient, node: Node) -> None:
    response = await client.get(
        "/api/v1/entities/customer/c-1/events", params={"limit": 5, "since_ms": 0}
    )
    assert response.status_code == 200
    assert response.json() == {
        "events": [
            {"entity_type": "customer", "entity_id": "c-1", "event_type": "UPDATED", "timestamp": 1}
        ]
    }
    assert node.catalog.calls[-1] == (
        "get_event_log",
        {"entity_type": "customer", "entity_id": "c-1", "limit": 5, "since_ms": 0},
    )
    assert (await client.get("/api/v1/entities/customer/c-1/events?limit=0")).status_code == 400
    response = await client.get("/api/v1/entities/spaceship/s-1/events")
    assert response.status_code == 404
    assert error_of(response)["code"] == "UNKNOWN_ENTITY_TYPE"


async def test_lineage(client: httpx.AsyncClient, node: Node) -> None:
    response = await client.get("/api/v1/lineage/customer")
    assert response.status_code == 200
    assert response.json() == {
        "entity_type": "customer",
        "entity_id": None,
        "edges": [],
        "withheld_edges": 0,  # flows naming types the caller may not read (governance)
    }
    response = await client.get("/api/v1/lineage/customer/c-1")
    assert response.json()["entity_id"] == "c-1"
    assert (await client.get("/api/v1/lineage/customer/bad%20id")).status_code == 400
    response = await client.get("/api/v1/lineage/spaceship")
    assert response.status_code == 404
    assert error_of(response)["code"] == "UNKNOWN_ENTITY_TYPE"


# --- schemas and adapters -------------------------------------------------------------------


async def test_schemas(client: httpx.AsyncClient, node: Node) -> None:
    response = await client.get("/api/v1/schemas")
    assert response.status_code == 200
    assert [s["entity_type"] for s in response.json()["schemas"]] == [
        "customer",
        "invoice",
        "product",
    ]
    response = await client.get("/api/v1/schemas/invoice")
    assert response.status_code == 200
    assert response.json()["nested"]["items"]["entity_type"] == "invoice_item"


async def test_schema_versions_come_from_the_catalog(client: httpx.AsyncClient, node: Node) -> None:
    v2 = EntitySchema(
        entity_type="product",
        domain="catalog",
        version=2,
        fields=[FieldSpec(name="sku", type=FieldType.STRING)],
    )
    node.catalog.schemas["product"].append(v2)
    response = await client.get("/api/v1/schemas/product?version=2")
    assert response.json()["version"] == 2
    response = await client.get("/api/v1/schemas/product?version=7")
    assert response.status_code == 404
    assert error_of(response)["code"] == "NOT_FOUND"
    assert (await client.get("/api/v1/schemas/product?version=0")).status_code == 400


async def test_schema_of_unknown_type(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/schemas/spaceship")
    assert response.status_code == 404
    assert error_of(response)["code"] == "UNKNOWN_ENTITY_TYPE"


async def test_adapters(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/adapters")
    assert response.status_code == 200
    adapters = response.json()["adapters"]
    assert [a["name"] for a in adapters] == [
        "customers_directus",
        "invoices_ecommerce",
        "products_rest",
    ]
    first = adapters[0]
    assert first["entity_type"] == "customer"
    assert first["source"] == {"domain": "customers", "system": "directus"}
    assert first["capabilities"] == ["batch_get", "filter", "webhooks"]
    assert first["sla"]["freshness_seconds"] == 60
    assert first["metrics"]["adapter"] == "customers_directus"


# --- webhooks ------------------------------------------------------------------------------


async def test_webhook_accepted(client: httpx.AsyncClient, node: Node) -> None:
    response = await client.post("/webhooks/customers_directus", json={"ids": ["c-1", "c-2"]})
    assert response.status_code == 202
    assert response.json() == {"accepted": 2}
    assert node.customers.webhooks == [{"ids": ["c-1", "c-2"]}]


async def test_webhook_errors(client: httpx.AsyncClient, node: Node) -> None:
    response = await client.post("/webhooks/nobody", json={})
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "NOT_FOUND"
    assert error["details"]["known_adapters"] == [
        "customers_directus",
        "invoices_ecommerce",
        "products_rest",
    ]
    response = await client.post(
        "/webhooks/customers_directus",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "VALIDATION_ERROR"
    response = await client.post("/webhooks/customers_directus", content=b"")
    assert response.status_code == 400
    response = await client.post("/webhooks/customers_directus", json={"no": "ids"})
    assert response.status_code == 400  # the adapter's own ValidationError
    response = await client.post(
        "/webhooks/customers_directus", content=b'{"ids": ["' + b"x" * 1_100_000 + b'"]}'
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "PAYLOAD_TOO_LARGE"
    assert node.customers.webhooks == [{"no": "ids"}]
    assert (await client.get("/webhooks/customers_directus")).status_code == 405


async def test_custom_webhook_sink() -> None:
    received: list[tuple[str, Any]] = []

    async def sink(adapter: str, payload: Any) -> int:
        received.append((adapter, payload))
        return 7

    node = Node(webhook_sink=sink)
    async with node.client() as client:
        response = await client.post("/webhooks/products_rest", json=[1, 2])
    assert (response.status_code, response.json()) == (202, {"accepted": 7})
    assert received == [("products_rest", [1, 2])]
    assert node.products.webhooks == []


# --- health and readiness -------------------------------------------------------------------


async def test_health_always_answers() -> None:
    async def broken() -> dict[str, Any]:
        raise RuntimeError("db gone")

    node = Node(readiness=broken)
    node.catalog.fail = RuntimeError("db gone")
    async with node.client() as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "9.9.9"}


async def test_ready_without_checks(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert (response.status_code, response.json()) == (200, {"status": "ready", "checks": {}})


async def test_ready_when_healthy_or_degraded() -> None:
    async def checks() -> dict[str, HealthStatus | dict[str, Any]]:
        return {
            "catalog": HealthStatus(status=HealthState.HEALTHY, latency_ms=1.5),
            "bus": {"status": "degraded", "details": {"lag": 10}},
        }

    async with Node(readiness=checks).client() as client:
        response = await client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["catalog"]["status"] == "healthy"
    assert body["checks"]["bus"] == {"status": "degraded", "details": {"lag": 10}}


async def test_not_ready_names_the_reasons() -> None:
    async def checks() -> dict[str, HealthStatus | dict[str, Any]]:
        return {
            "catalog": HealthStatus(status=HealthState.HEALTHY),
            "bus": HealthStatus(status=HealthState.UNHEALTHY, details={"error": "refused"}),
            "cache": {"status": "unknown"},
        }

    async with Node(readiness=checks).client() as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert set(body["reasons"]) == {"bus", "cache"}
    assert body["reasons"]["bus"]["details"] == {"error": "refused"}


async def test_not_ready_when_the_check_fails_or_hangs() -> None:
    async def broken() -> dict[str, Any]:
        raise RuntimeError("secret-dsn")

    async def hangs() -> dict[str, Any]:
        await asyncio.sleep(10)
        return {}

    async with Node(readiness=broken).client() as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert "secret-dsn" not in response.text
    async with Node(readiness=hangs, readiness_timeout=0.05).client() as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["reasons"] == {"readiness": "timed out"}


# --- error shape -----------------------------------------------------------------------------


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v2/nothing")
    assert response.status_code == 404
    assert error_of(response)["code"] == "NOT_FOUND"
    response = await client.delete("/api/v1/schemas")
    assert response.status_code == 405
    assert error_of(response)["code"] == "METHOD_NOT_ALLOWED"


async def test_unexpected_errors_are_generic_500s(client: httpx.AsyncClient, node: Node) -> None:
    node.catalog.fail = RuntimeError("connection to postgres://admin:s3cret@db failed")
    response = await client.get("/api/v1/entities/customer/c-1")
    assert response.status_code == 500
    assert error_of(response) == {"code": "INTERNAL", "message": "internal error"}
    assert "s3cret" not in response.text
    assert "Traceback" not in response.text
