"""The saga routes: a real engine on a SQLite catalog, in-memory sources, over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.unit.api.conftest import Node
from tests.unit.saga.fake_sources import FakeSources
from tests.unit.saga.support import ORDER, fail_for_good, running_engine

from dictamesh.api.sagas import parse_prefer_wait
from dictamesh.auth import hash_api_key
from dictamesh.core.settings import AuthSettings
from dictamesh.saga import SagaEngine

READER_KEY = "dmk_reader_test_key_0123456789"
ADMIN_KEY = "dmk_admin_test_key_0123456789"
KEYS = [
    {"sha256": hash_api_key(READER_KEY), "subject": "shop", "roles": ["reader"], "tenant": "acme"},
    {"sha256": hash_api_key(ADMIN_KEY), "subject": "ops", "roles": ["admin"], "tenant": "acme"},
]
READER = {"X-API-Key": READER_KEY}
ADMIN = {"X-API-Key": ADMIN_KEY}
START = "/api/v1/sagas/create-invoice"


@pytest.fixture
def sources() -> FakeSources:
    return FakeSources()


@pytest.fixture
async def engine(sqlite_catalog_url: str, sources: FakeSources) -> AsyncIterator[SagaEngine]:
    async with running_engine(sqlite_catalog_url, sources) as running:
        yield running


@pytest.fixture
async def http(engine: SagaEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with Node(sagas=engine).client() as client:
        yield client


@pytest.fixture
async def secured(engine: SagaEngine) -> AsyncIterator[httpx.AsyncClient]:
    node = Node(sagas=engine, auth=AuthSettings(mode="required", api_keys=KEYS))
    async with node.client() as client:
        yield client


async def ended(http: httpx.AsyncClient, saga_id: str, **kw: Any) -> dict[str, Any]:
    for _ in range(200):
        body: dict[str, Any] = (await http.get(f"/api/v1/sagas/{saga_id}", **kw)).json()
        if body["status"] not in ("running", "compensating"):
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(f"saga {saga_id} did not end: {body['status']}")


async def nothing_started(engine: SagaEngine, sources: FakeSources) -> None:
    assert await engine.store.list_sagas("default") == []
    assert await engine.store.list_sagas("acme") == []
    assert not sources.calls


async def test_a_saga_is_accepted_then_completes_with_its_step_log(
    http: httpx.AsyncClient, sources: FakeSources
) -> None:
    response = await http.post(START, json=ORDER)
    assert response.status_code == 202
    body = response.json()
    saga_id = body["saga_id"]
    assert uuid.UUID(saga_id)
    assert body == {
        "saga_id": saga_id,
        "saga": "create_invoice",
        "status": "running",
        "links": {"self": f"/api/v1/sagas/{saga_id}"},
    }
    assert response.headers["location"] == f"/api/v1/sagas/{saga_id}"
    done = await ended(http, saga_id)
    assert done["status"] == "completed"
    assert done["outputs"]["create_invoice"]["total_cents"] == 2500
    assert [(s["step"], s["status"]) for s in done["steps"] if s["status"] != "started"] == [
        ("reserve_inventory", "completed"),
        ("create_invoice", "completed"),
        ("charge_customer", "completed"),
    ]
    assert len({s["step"] for s in done["steps"]}) == 3
    assert sources.effects == {"reserve": 1, "create": 1, "charge": 1}


async def test_prefer_wait_answers_with_the_final_state(http: httpx.AsyncClient) -> None:
    response = await http.post(START, json=ORDER, headers={"Prefer": "wait=10"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert body["finished_at"] is not None
    assert len(body["steps"]) == 6
    assert response.headers["preference-applied"] == "wait=10"
    assert response.headers["location"] == f"/api/v1/sagas/{body['saga_id']}"


def test_prefer_wait_parsing() -> None:
    assert parse_prefer_wait(None) is None
    assert parse_prefer_wait("wait=5") == 5
    assert parse_prefer_wait("respond-async, wait=2.5") == 2.5
    assert parse_prefer_wait("wait=3600") == 30  # capped
    assert parse_prefer_wait("wait=soon") is None
    assert parse_prefer_wait("wait=-1") is None
    assert parse_prefer_wait("wait=nan") is None
    assert parse_prefer_wait("return=minimal") is None


async def test_a_repeated_idempotency_key_returns_the_same_saga_once(
    http: httpx.AsyncClient, sources: FakeSources
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await http.post(START, json=ORDER, headers=headers)
    assert first.status_code == 202
    saga_id = first.json()["saga_id"]
    await ended(http, saga_id)
    again = await http.post(START, json=ORDER, headers=headers)
    assert again.status_code == 200
    assert again.json()["saga_id"] == saga_id
    assert again.json()["status"] == "completed"
    assert again.headers["location"] == f"/api/v1/sagas/{saga_id}"
    assert sources.effects == {"reserve": 1, "create": 1, "charge": 1}

    other = {**ORDER, "currency": "USD"}
    conflict = await http.post(START, json=other, headers=headers)
    assert conflict.status_code == 422
    assert conflict.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    listed = (await http.get("/api/v1/sagas")).json()["sagas"]
    assert [s["id"] for s in listed] == [saga_id]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"customer_id": "1"}',
        b'{"customer_id": "1", "items": []}',
        b'{"customer_id": "1", "items": [{"product_id": "p", "quantity": 0}]}',
        b'{"customer_id": "1", "currency": "euro", "items": [{"product_id": "p", "quantity": 1}]}',
        b'{"customer_id": "1", "items": [{"product_id": "p", "quantity": 1}], "extra": 1}',
        b'{"customer_id": "\\u0000", "items": [{"product_id": "p", "quantity": 1}]}',
    ],
)
async def test_bad_input_is_400_and_nothing_starts(
    http: httpx.AsyncClient, engine: SagaEngine, sources: FakeSources, content: bytes
) -> None:
    response = await http.post(START, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    await nothing_started(engine, sources)


async def test_a_bad_idempotency_key_is_400_and_nothing_starts(
    http: httpx.AsyncClient, engine: SagaEngine, sources: FakeSources
) -> None:
    response = await http.post(START, json=ORDER, headers={"Idempotency-Key": "x" * 300})
    assert response.status_code == 400
    await nothing_started(engine, sources)


async def test_a_caller_who_may_not_write_gets_403_and_nothing_starts(
    http: httpx.AsyncClient, engine: SagaEngine, sources: FakeSources
) -> None:
    sources.denied_types.add("payment")
    response = await http.post(START, json=ORDER, headers={"Prefer": "wait=5"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    await nothing_started(engine, sources)


async def test_unknown_sagas_and_bad_ids(http: httpx.AsyncClient) -> None:
    unknown = await http.post("/api/v1/sagas/refund-everything", json=ORDER)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["details"]["known_sagas"] == ["create-invoice"]
    assert (await http.post("/api/v1/sagas/create_invoice", json=ORDER)).status_code == 404
    missing = await http.get(f"/api/v1/sagas/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "SAGA_NOT_FOUND"
    bad = await http.get("/api/v1/sagas/not-a-uuid")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_listing_filters_and_pages(http: httpx.AsyncClient) -> None:
    ids = []
    for _ in range(3):
        response = await http.post(START, json=ORDER, headers={"Prefer": "wait=10"})
        ids.append(response.json()["saga_id"])
    listed = (await http.get("/api/v1/sagas", params={"limit": 2})).json()
    assert [s["id"] for s in listed["sagas"]] == ids[::-1][:2]
    rest = (await http.get("/api/v1/sagas", params={"before": listed["next_before"]})).json()
    assert [s["id"] for s in rest["sagas"]] == ids[:1]
    assert rest["next_before"] is None
    completed = await http.get(
        "/api/v1/sagas", params={"status": "completed", "saga": "create-invoice"}
    )
    assert len(completed.json()["sagas"]) == 3
    assert (await http.get("/api/v1/sagas", params={"status": "failed"})).json()["sagas"] == []
    for params in ({"status": "sleeping"}, {"limit": 0}, {"limit": 201}, {"before": "yesterday"}):
        response = await http.get("/api/v1/sagas", params=params)
        assert response.status_code == 400, params


async def test_admin_retry_and_abort(secured: httpx.AsyncClient, sources: FakeSources) -> None:
    done = await secured.post(START, json=ORDER, headers={**READER, "Prefer": "wait=10"})
    assert done.json()["status"] == "completed"
    assert done.json()["started_by"] == "shop"
    completed_id = done.json()["saga_id"]
    for action in ("retry", "abort"):
        path = f"/api/v1/admin/sagas/{completed_id}/{action}"
        assert (await secured.post(path, headers=READER)).status_code == 403  # admins only
        conflict = await secured.post(path, headers=ADMIN)
        assert conflict.status_code == 409
        assert conflict.json()["error"]["code"] == "SAGA_STATE_CONFLICT"
    missing = await secured.post(f"/api/v1/admin/sagas/{uuid.uuid4()}/retry", headers=ADMIN)
    assert missing.status_code == 404
    assert (await secured.post("/api/v1/admin/sagas/x/abort", headers=ADMIN)).status_code == 400

    for action, final in (("retry", "compensated"), ("abort", "aborted")):
        fail_for_good(sources)
        started = await secured.post(START, json=ORDER, headers={**READER, "Prefer": "wait=10"})
        failed = started.json()
        assert failed["status"] == "failed", failed
        assert failed["failed_step"] == "charge_customer"
        answer = await secured.post(f"/api/v1/admin/sagas/{failed['id']}/{action}", headers=ADMIN)
        assert answer.status_code == 200
        assert answer.json()["id"] == failed["id"]
        result = await ended(secured, failed["id"], headers=READER)
        assert result["status"] == final


async def test_openapi_shows_each_sagas_input(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    route = document["paths"]["/api/v1/sagas/create-invoice"]["post"]
    schema = route["requestBody"]["content"]["application/json"]["schema"]
    assert schema["title"] == "CreateInvoiceInput"
    assert "/api/v1/sagas/{saga}" not in document["paths"]
    assert "/api/v1/admin/sagas/{saga_id}/retry" in document["paths"]
