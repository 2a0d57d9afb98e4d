"""Writes on the sample sources: reservations, invoices, charges and refunds, each honouring
``Idempotency-Key`` server-side, counted in ``/_admin/effects``; over httpx ASGITransport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dictamesh.sources import invoices, payments, products
from dictamesh.sources._idempotency import IdempotencyKeys, fingerprint
from dictamesh.sources.runner import run_sample_sources

REPLAYED = "Idempotent-Replayed"


def _key(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def _client(app: Any, headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://src", headers=headers
    ) as client:
        yield client


@pytest.fixture
async def catalogue() -> AsyncIterator[httpx.AsyncClient]:
    app = products.create_app(rate_limit=None)
    async for c in _client(app, {"X-API-Key": "products-demo-key"}):
        yield c


@pytest.fixture
async def shop() -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(invoices.create_app(), {"Authorization": "Bearer shop-demo-token"}):
        yield c


@pytest.fixture
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    app = payments.create_app()
    async for c in _client(app, {"Authorization": "Bearer payments-demo-key"}):
        yield c


async def _counts(client: httpx.AsyncClient) -> dict[str, int]:
    body = (await client.get("/_admin/effects")).json()
    counts: dict[str, int] = body["counts"]
    return counts


async def _stock(client: httpx.AsyncClient, product_id: str = "prd_1001") -> int:
    stock: int = (await client.get(f"/v1/products/{product_id}")).json()["stock"]
    return stock


# --- the shared key table ---------------------------------------------------------------


def test_fingerprint_is_canonical_json_plus_method_and_path() -> None:
    a = fingerprint("POST", "/v1/x", b'{"a": 1, "b": [1, 2]}')
    assert a == fingerprint("post", "/v1/x", b'{"b":[1,2],"a":1}')
    assert a != fingerprint("POST", "/v1/y", b'{"a": 1, "b": [1, 2]}')
    assert a != fingerprint("PATCH", "/v1/x", b'{"a": 1, "b": [1, 2]}')
    assert a != fingerprint("POST", "/v1/x", b'{"a": 2, "b": [1, 2]}')


async def test_a_key_still_running_is_in_use_then_replayed() -> None:
    keys = IdempotencyKeys()
    entered, release = asyncio.Event(), asyncio.Event()
    applied: list[int] = []

    async def slow(request: Request) -> Response:
        entered.set()
        await release.wait()
        applied.append(1)
        return JSONResponse({"n": len(applied)}, 201)

    def error(message: str, code: str, status: int) -> Response:
        return JSONResponse({"code": code}, status)

    app = Starlette(routes=[Route("/w", keys.wrap(slow, error, required=True), methods=["POST"])])
    async for client in _client(app, {}):
        first = asyncio.create_task(client.post("/w", json={"a": 1}, headers=_key("k")))
        await entered.wait()  # the first one holds the key
        async with asyncio.timeout(2):  # were the key not held, this would wait on release
            busy = await client.post("/w", json={"a": 1}, headers=_key("k"))
        assert busy.status_code == 409
        assert busy.json() == {"code": "idempotency_key_in_use"}
        other = await client.post("/w", json={"a": 2}, headers=_key("k"))
        assert other.status_code == 422
        release.set()
        assert (await first).status_code == 201
        again = await client.post("/w", json={"a": 1}, headers=_key("k"))
        assert (again.status_code, again.json(), again.headers[REPLAYED]) == (201, {"n": 1}, "true")
        assert applied == [1]


async def test_key_table_keeps_the_newest_keys() -> None:
    keys = IdempotencyKeys(max_keys=2)

    async def ok(request: Request) -> Response:
        return JSONResponse({}, 200)

    def error(message: str, code: str, status: int) -> Response:
        return JSONResponse({"code": code}, status)

    app = Starlette(routes=[Route("/w", keys.wrap(ok, error, required=True), methods=["POST"])])
    async for client in _client(app, {}):
        for key in ("a", "b", "c"):
            assert (await client.post("/w", headers=_key(key))).status_code == 200
    assert "a" not in keys
    assert "b" in keys
    assert "c" in keys


# --- products: reservations --------------------------------------------------------------


async def test_reservation_applies_once_and_replays(catalogue: httpx.AsyncClient) -> None:
    before = (await catalogue.get("/v1/products/prd_1001")).json()
    body = {"product_id": "prd_1001", "quantity": 2}
    first = await catalogue.post("/v1/reservations", json=body, headers=_key("saga-1:reserve"))
    assert first.status_code == 201
    reservation = first.json()
    assert reservation["id"] == "rsv_1"
    assert reservation["status"] == "active"
    assert reservation["sku"] == "SKU-1001"
    assert reservation["quantity"] == 2
    assert reservation["idempotency_key"] == "saga-1:reserve"
    assert REPLAYED not in first.headers
    after = (await catalogue.get("/v1/products/prd_1001")).json()
    assert after["stock"] == before["stock"] - 2
    assert after["version"] == before["version"] + 1
    assert after["updated_at"] > before["updated_at"]

    # same key, same body written differently: the stored answer, no new effect
    replay = await catalogue.post(
        "/v1/reservations",
        content=b'{"quantity":2,  "product_id":"prd_1001"}',
        headers={**_key("saga-1:reserve"), "Content-Type": "application/json"},
    )
    assert replay.status_code == 201
    assert replay.content == first.content
    assert replay.headers[REPLAYED] == "true"
    assert await _stock(catalogue) == before["stock"] - 2
    assert await _counts(catalogue) == {"reserve": 1}

    reused = await catalogue.post(
        "/v1/reservations",
        json={"product_id": "prd_1001", "quantity": 3},
        headers=_key("saga-1:reserve"),
    )
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    missing = await catalogue.post("/v1/reservations", json=body)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "idempotency_key_missing"
    bad = await catalogue.post("/v1/reservations", json=body, headers=_key("no spaces"))
    assert bad.status_code == 400
    too_long = await catalogue.post("/v1/reservations", json=body, headers=_key("k" * 201))
    assert too_long.status_code == 400
    assert await _counts(catalogue) == {"reserve": 1}

    found = await catalogue.get("/v1/reservations", params={"idempotency_key": "saga-1:reserve"})
    assert [r["id"] for r in found.json()["reservations"]] == ["rsv_1"]
    none = await catalogue.get("/v1/reservations", params={"idempotency_key": "other"})
    assert none.json()["reservations"] == []
    one = await catalogue.get("/v1/reservations/rsv_1")
    assert one.json() == reservation


async def test_reservation_validation(catalogue: httpx.AsyncClient) -> None:
    for n, body in enumerate(
        [
            {"product_id": "prd_1001", "quantity": 0},
            {"product_id": "prd_1001", "quantity": 10_001},
            {"product_id": "prd_1001", "quantity": True},
            {"product_id": "prd_1001", "quantity": "2"},
            {"product_id": 1001, "quantity": 2},
            [],
        ]
    ):
        r = await catalogue.post("/v1/reservations", json=body, headers=_key(f"v{n}"))
        assert r.status_code == 400, body
    unknown = await catalogue.post(
        "/v1/reservations", json={"product_id": "prd_9", "quantity": 1}, headers=_key("u")
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    assert (await catalogue.delete("/v1/products/prd_1002")).status_code == 204
    deleted = await catalogue.post(
        "/v1/reservations", json={"product_id": "prd_1002", "quantity": 1}, headers=_key("d")
    )
    assert deleted.status_code == 404
    assert "reserve" not in await _counts(catalogue)


async def test_insufficient_stock_is_stored_and_replayed(catalogue: httpx.AsyncClient) -> None:
    stock = await _stock(catalogue)
    body = {"product_id": "prd_1001", "quantity": stock + 1}
    short = await catalogue.post("/v1/reservations", json=body, headers=_key("short"))
    assert short.status_code == 409
    error = short.json()["error"]
    assert (error["code"], error["available"]) == ("insufficient_stock", stock)
    assert await _stock(catalogue) == stock
    # stock arrives; the same key still answers what it answered (Stripe's behaviour)
    await catalogue.patch("/v1/products/prd_1001", json={"stock": stock + 100})
    again = await catalogue.post("/v1/reservations", json=body, headers=_key("short"))
    assert again.status_code == 409
    assert again.headers[REPLAYED] == "true"
    assert again.content == short.content
    assert await _stock(catalogue) == stock + 100
    assert "reserve" not in await _counts(catalogue)
    fresh = await catalogue.post("/v1/reservations", json=body, headers=_key("short-2"))
    assert fresh.status_code == 201


async def test_release_restores_stock_once(catalogue: httpx.AsyncClient) -> None:
    stock = await _stock(catalogue)
    body = {"product_id": "prd_1001", "quantity": 5}
    rsv = (await catalogue.post("/v1/reservations", json=body, headers=_key("r"))).json()
    assert await _stock(catalogue) == stock - 5
    url = f"/v1/reservations/{rsv['id']}/release"
    assert (await catalogue.post(url)).status_code == 400  # the key is required
    first = await catalogue.post(url, headers=_key("rel-1"))
    assert first.status_code == 200
    assert first.json()["status"] == "released"
    assert first.json()["updated_at"] > rsv["updated_at"]
    replay = await catalogue.post(url, headers=_key("rel-1"))
    assert replay.headers[REPLAYED] == "true"
    # another key: releasing is naturally idempotent too
    second = await catalogue.post(url, headers=_key("rel-2"))
    assert second.status_code == 200
    assert REPLAYED not in second.headers
    assert second.json() == first.json()
    assert await _stock(catalogue) == stock
    assert await _counts(catalogue) == {"reserve": 1, "release": 1}
    effects = (await catalogue.get("/_admin/effects")).json()["effects"]
    assert [(e["kind"], e["key"], e["id"]) for e in effects] == [
        ("reserve", "r", rsv["id"]),
        ("release", "rel-1", rsv["id"]),
    ]
    unknown = await catalogue.post("/v1/reservations/rsv_999/release", headers=_key("x"))
    assert unknown.status_code == 404
    released = await catalogue.get("/v1/reservations", params={"status": "released"})
    assert [r["id"] for r in released.json()["reservations"]] == [rsv["id"]]


async def test_concurrent_same_key_reservations_apply_once(catalogue: httpx.AsyncClient) -> None:
    stock = await _stock(catalogue)
    body = {"product_id": "prd_1001", "quantity": 1}
    answers = await asyncio.gather(
        *(catalogue.post("/v1/reservations", json=body, headers=_key("race")) for _ in range(8))
    )
    assert {a.status_code for a in answers} <= {201, 409}
    created = [a for a in answers if a.status_code == 201]
    assert {a.json()["id"] for a in created} == {"rsv_1"}
    assert sum(1 for a in answers if REPLAYED not in a.headers and a.status_code == 201) == 1
    assert await _stock(catalogue) == stock - 1
    assert await _counts(catalogue) == {"reserve": 1}


async def test_patch_and_delete_take_an_optional_key(catalogue: httpx.AsyncClient) -> None:
    first = await catalogue.patch("/v1/products/prd_1001", json={"stock": 3}, headers=_key("p"))
    replay = await catalogue.patch("/v1/products/prd_1001", json={"stock": 3}, headers=_key("p"))
    assert replay.headers[REPLAYED] == "true"
    assert replay.json() == first.json()
    plain = await catalogue.patch("/v1/products/prd_1001", json={"stock": 3})
    assert plain.json()["version"] == first.json()["version"] + 1
    deleted = await catalogue.delete("/v1/products/prd_1003", headers=_key("del"))
    again = await catalogue.delete("/v1/products/prd_1003", headers=_key("del"))
    assert (deleted.status_code, again.status_code) == (204, 204)
    assert again.headers[REPLAYED] == "true"
    assert await _counts(catalogue) == {"update_product": 2, "delete_product": 1}


async def test_reservations_show_in_product_change_polling(catalogue: httpx.AsyncClient) -> None:
    newest = (
        await catalogue.get(
            "/v1/products", params={"updated_since": "2020-01-01T00:00:00Z", "per_page": 100}
        )
    ).json()["products"][-1]["updated_at"]
    body = {"product_id": "prd_1007", "quantity": 1}
    await catalogue.post("/v1/reservations", json=body, headers=_key("poll"))
    changed = (
        await catalogue.get("/v1/products", params={"updated_since": newest, "per_page": 100})
    ).json()["products"]
    assert changed[-1]["id"] == "prd_1007"
    assert changed[-1]["stock"] == await _stock(catalogue, "prd_1007")


async def test_reservation_fires_the_product_webhook() -> None:
    received: list[dict[str, Any]] = []

    async def hook(payload: dict[str, Any]) -> None:
        received.append(payload)

    store = products.create_store()
    store.subscribe(hook)
    app = products.create_app(store, rate_limit=None)
    async for client in _client(app, {"X-API-Key": "products-demo-key"}):
        body = {"product_id": "prd_1001", "quantity": 1}
        await client.post("/v1/reservations", json=body, headers=_key("w"))
        await client.post("/v1/reservations", json=body, headers=_key("w"))  # replay: none
        await store.wait_deliveries()
    assert received == [{"type": "product.updated", "data": {"id": "prd_1001"}}]


# --- invoices ----------------------------------------------------------------------------

_INVOICE = {
    "invoice": {
        "customer_id": "1",
        "currency": "EUR",
        "line_items": [
            {"product_id": "prd_1001", "quantity": 2, "unit_price_cents": 1250},
            {"product_id": "prd_1002", "quantity": 1, "unit_price_cents": 500},
        ],
    }
}


async def test_create_invoice_once_and_replay(shop: httpx.AsyncClient) -> None:
    first = await shop.post("/api/invoices", json=_INVOICE, headers=_key("inv-1"))
    assert first.status_code == 201
    invoice = first.json()["invoice"]
    assert invoice["id"] == invoice["invoice_number"] == "INV-2026-00151"
    assert invoice["status"] == "open"
    assert invoice["total_cents"] == 3000
    assert invoice["customer_id"] == "1"
    assert [i["id"] for i in invoice["line_items"]] == ["1", "2"]
    assert invoice["idempotency_key"] == "inv-1"
    assert invoice["version"] == 1
    assert invoice["issued_at"] == invoice["updated_at"] == invoice["created_at"]
    assert invoice["deleted_at"] is None
    replay = await shop.post("/api/invoices", json=_INVOICE, headers=_key("inv-1"))
    assert (replay.status_code, replay.content) == (201, first.content)
    assert replay.headers[REPLAYED] == "true"
    assert await _counts(shop) == {"create_invoice": 1}
    second = await shop.post("/api/invoices", json=_INVOICE, headers=_key("inv-2"))
    assert second.json()["invoice"]["id"] == "INV-2026-00152"
    found = await shop.get("/api/invoices", params={"idempotency_key": "inv-1"})
    assert [i["id"] for i in found.json()["invoices"]] == ["INV-2026-00151"]
    assert (await shop.get("/api/invoices/INV-2026-00151")).json()["invoice"] == invoice
    other = {"invoice": {**_INVOICE["invoice"], "currency": "USD"}}
    reused = await shop.post("/api/invoices", json=other, headers=_key("inv-1"))
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert reused.json()["errors"]["base"]
    missing = await shop.post("/api/invoices", json=_INVOICE)
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_missing")
    assert await _counts(shop) == {"create_invoice": 2}


async def test_create_invoice_validation(shop: httpx.AsyncClient) -> None:
    good = _INVOICE["invoice"]
    bad_bodies: list[Any] = [
        {},
        {"invoice": []},
        {"invoice": {**good, "customer_id": ""}},
        {"invoice": {**good, "currency": "euro"}},
        {"invoice": {**good, "line_items": []}},
        {"invoice": {**good, "line_items": [{"product_id": "prd_1001", "quantity": 0}]}},
        {
            "invoice": {
                **good,
                "line_items": [{"product_id": "p", "quantity": 1, "unit_price_cents": -1}],
            }
        },
    ]
    for n, body in enumerate(bad_bodies):
        r = await shop.post("/api/invoices", json=body, headers=_key(f"bad-{n}"))
        assert r.status_code == 400, body
        assert r.json()["code"] == "invalid_request"
    assert "create_invoice" not in await _counts(shop)


async def test_cancel_invoice_once(shop: httpx.AsyncClient) -> None:
    created = (await shop.post("/api/invoices", json=_INVOICE, headers=_key("c"))).json()
    url = f"/api/invoices/{created['invoice']['id']}/cancel"
    assert (await shop.post(url)).status_code == 400
    first = await shop.post(url, headers=_key("cancel-1"))
    assert first.status_code == 200
    assert first.json()["invoice"]["status"] == "cancelled"
    assert first.json()["invoice"]["version"] == 2
    again = await shop.post(url, headers=_key("cancel-2"))
    assert again.status_code == 200
    assert again.json() == first.json()
    assert await _counts(shop) == {"create_invoice": 1, "cancel_invoice": 1}
    unknown = await shop.post("/api/invoices/INV-0/cancel", headers=_key("x"))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


# --- payments ----------------------------------------------------------------------------

_CHARGE = {"amount_cents": 3000, "currency": "EUR", "customer_id": "1", "invoice_id": "INV-1"}


async def test_seeded_charges_and_reads(gateway: httpx.AsyncClient) -> None:
    listing = (await gateway.get("/v1/charges", params={"limit": 100})).json()
    assert listing["has_more"] is False
    charges = listing["data"]
    assert len(charges) == 12
    assert charges[0]["id"] == "ch_1"
    assert all(c["status"] == "succeeded" for c in charges)
    one = (await gateway.get("/v1/charges/ch_1")).json()
    assert one == charges[0]
    assert (await gateway.get("/v1/charges/ch_999")).status_code == 404
    page = (await gateway.get("/v1/charges", params={"limit": 5})).json()
    assert ([c["id"] for c in page["data"]], page["has_more"]) == (
        ["ch_1", "ch_2", "ch_3", "ch_4", "ch_5"],
        True,
    )
    nxt = (await gateway.get("/v1/charges", params={"limit": 5, "starting_after": "ch_5"})).json()
    assert nxt["data"][0]["id"] == "ch_6"
    ids = (await gateway.get("/v1/charges", params={"ids": "ch_2,ch_4"})).json()["data"]
    assert [c["id"] for c in ids] == ["ch_2", "ch_4"]
    assert (await gateway.get("/v1/charges", params={"limit": 0})).status_code == 400
    assert (await gateway.get("/v1/charges", params={"updated_since": "x"})).status_code == 400
    unauth = await gateway.get("/v1/charges", headers={"Authorization": "Bearer no"})
    assert unauth.status_code == 401


async def test_charge_once_and_replay(gateway: httpx.AsyncClient) -> None:
    first = await gateway.post("/v1/charges", json=_CHARGE, headers=_key("saga-1:charge"))
    assert first.status_code == 201
    charge = first.json()
    assert charge["id"] == "ch_13"
    assert charge["status"] == "succeeded"
    assert (charge["amount_cents"], charge["amount_refunded_cents"]) == (3000, 0)
    assert charge["idempotency_key"] == "saga-1:charge"
    assert charge["version"] == 1
    assert charge["created_at"] == charge["updated_at"]
    replay = await gateway.post("/v1/charges", json=_CHARGE, headers=_key("saga-1:charge"))
    assert (replay.status_code, replay.content) == (201, first.content)
    assert replay.headers[REPLAYED] == "true"
    assert await _counts(gateway) == {"charge": 1}
    reused = await gateway.post(
        "/v1/charges", json={**_CHARGE, "amount_cents": 1}, headers=_key("saga-1:charge")
    )
    assert reused.status_code == 422
    assert reused.json()["error"] == {
        "type": "idempotency_error",
        "code": "idempotency_key_reused",
        "message": reused.json()["error"]["message"],
    }
    assert (await gateway.post("/v1/charges", json=_CHARGE)).status_code == 400
    for n, bad in enumerate(
        [
            {**_CHARGE, "amount_cents": 0},
            {**_CHARGE, "currency": "eu"},
            {**_CHARGE, "invoice_id": ""},
        ]
    ):
        assert (
            await gateway.post("/v1/charges", json=bad, headers=_key(f"b{n}"))
        ).status_code == 400
    found = await gateway.get("/v1/charges", params={"idempotency_key": "saga-1:charge"})
    assert [c["id"] for c in found.json()["data"]] == ["ch_13"]
    assert await _counts(gateway) == {"charge": 1}


async def test_decline_by_fault_is_stored_and_replayed(gateway: httpx.AsyncClient) -> None:
    await gateway.post("/_admin/faults", json={"mode": "decline"})
    declined = await gateway.post("/v1/charges", json=_CHARGE, headers=_key("d1"))
    assert declined.status_code == 402
    assert declined.json()["error"]["type"] == "card_error"
    assert declined.json()["error"]["code"] == "card_declined"
    assert (await gateway.get("/v1/charges", params={"limit": 100})).json()["has_more"] is False
    await gateway.delete("/_admin/faults")
    again = await gateway.post("/v1/charges", json=_CHARGE, headers=_key("d1"))
    assert (again.status_code, again.headers[REPLAYED]) == (402, "true")
    assert again.content == declined.content
    assert "charge" not in await _counts(gateway)
    fresh = await gateway.post("/v1/charges", json=_CHARGE, headers=_key("d2"))
    assert fresh.status_code == 201


async def test_decline_for_listed_customers(gateway: httpx.AsyncClient) -> None:
    r = await gateway.post("/_admin/declines", json={"customer_ids": ["7"]})
    assert r.json() == {"customer_ids": ["7"]}
    assert (await gateway.post("/_admin/declines", json={"customer_ids": "7"})).status_code == 400
    declined = await gateway.post(
        "/v1/charges", json={**_CHARGE, "customer_id": "7"}, headers=_key("c7")
    )
    assert declined.status_code == 402
    ok = await gateway.post("/v1/charges", json=_CHARGE, headers=_key("c1"))
    assert ok.status_code == 201
    assert (await gateway.delete("/_admin/declines")).status_code == 204
    replay = await gateway.post(
        "/v1/charges", json={**_CHARGE, "customer_id": "7"}, headers=_key("c7")
    )
    assert (replay.status_code, replay.headers[REPLAYED]) == (402, "true")
    other_key = await gateway.post(
        "/v1/charges", json={**_CHARGE, "customer_id": "7"}, headers=_key("c7-b")
    )
    assert other_key.status_code == 201
    assert await _counts(gateway) == {"charge": 2}


async def test_lost_answer_then_retry_replays_the_success(gateway: httpx.AsyncClient) -> None:
    await gateway.post("/_admin/faults", json={"mode": "error500_after"})
    lost = await gateway.post("/v1/charges", json=_CHARGE, headers=_key("lost"))
    assert lost.status_code == 500
    assert await _counts(gateway) == {"charge": 1}  # applied although the answer was lost
    await gateway.delete("/_admin/faults")
    retry = await gateway.post("/v1/charges", json=_CHARGE, headers=_key("lost"))
    assert retry.status_code == 201
    assert retry.headers[REPLAYED] == "true"
    assert retry.json()["id"] == "ch_13"
    assert await _counts(gateway) == {"charge": 1}


async def test_a_5xx_fault_stores_nothing(gateway: httpx.AsyncClient) -> None:
    await gateway.post("/_admin/faults", json={"mode": "error500"})
    failed = await gateway.post("/v1/charges", json=_CHARGE, headers=_key("retry-me"))
    assert failed.status_code == 500
    await gateway.post("/_admin/faults", json={"mode": "garbage"})
    garbage = await gateway.post("/v1/charges", json=_CHARGE, headers=_key("retry-me"))
    with pytest.raises(ValueError):
        garbage.json()
    assert "charge" not in await _counts(gateway)
    await gateway.delete("/_admin/faults")
    retry = await gateway.post("/v1/charges", json=_CHARGE, headers=_key("retry-me"))
    assert retry.status_code == 201
    assert REPLAYED not in retry.headers
    assert await _counts(gateway) == {"charge": 1}


async def test_hang_and_latency_faults_on_payments(gateway: httpx.AsyncClient) -> None:
    await gateway.post("/_admin/faults", json={"mode": "latency", "delay_seconds": 0.05})
    slow = await gateway.post("/v1/charges", json=_CHARGE, headers=_key("slow"))
    assert slow.status_code == 201
    await gateway.post("/_admin/faults", json={"mode": "hang"})
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await gateway.post("/v1/charges", json=_CHARGE, headers=_key("hung"))
    assert await _counts(gateway) == {"charge": 1}


async def test_other_sources_ignore_the_decline_fault(catalogue: httpx.AsyncClient) -> None:
    await catalogue.post("/_admin/faults", json={"mode": "decline"})
    body = {"product_id": "prd_1001", "quantity": 1}
    assert (
        await catalogue.post("/v1/reservations", json=body, headers=_key("k"))
    ).status_code == 201
    assert (await catalogue.get("/v1/products/prd_1001")).status_code == 200


async def test_refunds(gateway: httpx.AsyncClient) -> None:
    charge = (await gateway.post("/v1/charges", json=_CHARGE, headers=_key("ch"))).json()
    assert (await gateway.post("/v1/refunds", json={"charge_id": charge["id"]})).status_code == 400
    too_much = await gateway.post(
        "/v1/refunds", json={"charge_id": charge["id"], "amount_cents": 3001}, headers=_key("r0")
    )
    assert (too_much.status_code, too_much.json()["error"]["code"]) == (400, "amount_too_large")
    unknown = await gateway.post("/v1/refunds", json={"charge_id": "ch_0"}, headers=_key("r-x"))
    assert unknown.status_code == 404
    part = await gateway.post(
        "/v1/refunds", json={"charge_id": charge["id"], "amount_cents": 1000}, headers=_key("r1")
    )
    assert part.status_code == 201
    refund = part.json()
    assert (refund["id"], refund["amount_cents"], refund["status"]) == ("re_1", 1000, "succeeded")
    assert refund["charge_id"] == charge["id"]
    assert refund["idempotency_key"] == "r1"
    partly = (await gateway.get(f"/v1/charges/{charge['id']}")).json()
    assert (partly["status"], partly["amount_refunded_cents"]) == ("succeeded", 1000)
    rest = await gateway.post("/v1/refunds", json={"charge_id": charge["id"]}, headers=_key("r2"))
    assert rest.json()["amount_cents"] == 2000
    replay = await gateway.post("/v1/refunds", json={"charge_id": charge["id"]}, headers=_key("r2"))
    assert (replay.status_code, replay.headers[REPLAYED]) == (201, "true")
    full = (await gateway.get(f"/v1/charges/{charge['id']}")).json()
    assert (full["status"], full["amount_refunded_cents"], full["refunded"]) == (
        "refunded",
        3000,
        True,
    )
    assert full["version"] == charge["version"] + 2
    over = await gateway.post("/v1/refunds", json={"charge_id": charge["id"]}, headers=_key("r3"))
    assert (over.status_code, over.json()["error"]["code"]) == (400, "charge_already_refunded")
    assert (await gateway.get("/v1/refunds/re_2")).json() == rest.json()
    assert (await gateway.get("/v1/refunds/re_9")).status_code == 404
    by_key = (await gateway.get("/v1/refunds", params={"idempotency_key": "r2"})).json()["data"]
    assert [r["id"] for r in by_key] == ["re_2"]
    assert await _counts(gateway) == {"charge": 1, "refund": 2}


async def test_change_polling_sees_a_refunded_charge(gateway: httpx.AsyncClient) -> None:
    seeded = (await gateway.get("/v1/charges", params={"limit": 100})).json()["data"]
    watermark = max(c["updated_at"] for c in seeded)
    await gateway.post("/v1/refunds", json={"charge_id": "ch_3"}, headers=_key("refund-3"))
    await gateway.post("/v1/charges", json=_CHARGE, headers=_key("new"))
    changed = (
        await gateway.get("/v1/charges", params={"updated_since": watermark, "limit": 100})
    ).json()["data"]
    keys = [(c["updated_at"], c["id"]) for c in changed]
    assert keys == sorted(keys)
    assert [c["id"] for c in changed][-2:] == ["ch_3", "ch_13"]
    assert changed[-2]["status"] == "refunded"
    page = (
        await gateway.get(
            "/v1/charges",
            params={"updated_since": watermark, "limit": 1, "starting_after": changed[-2]["id"]},
        )
    ).json()
    assert ([c["id"] for c in page["data"]], page["has_more"]) == (["ch_13"], False)


async def test_charge_webhooks() -> None:
    received: list[dict[str, Any]] = []

    async def hook(payload: dict[str, Any]) -> None:
        received.append(payload)

    store = payments.create_store()
    store.subscribe(hook)
    app = payments.create_app(store)
    async for client in _client(app, {"Authorization": "Bearer payments-demo-key"}):
        await client.post("/v1/charges", json=_CHARGE, headers=_key("w"))
        # a key is bound to one request, whatever the endpoint
        refund = {"charge_id": "ch_13"}
        reused = await client.post("/v1/refunds", json=refund, headers=_key("w"))
        assert reused.status_code == 422
        await client.post("/v1/refunds", json=refund, headers=_key("w2"))
        await store.wait_deliveries()
    assert [(p["type"], p["data"]["object"]["id"]) for p in received] == [
        ("charge.created", "ch_13"),
        ("charge.updated", "ch_13"),
    ]


# --- the runner --------------------------------------------------------------------------


async def test_runner_serves_payments_with_keys_surviving_a_restart() -> None:
    async with run_sample_sources(products_rate_limit=None) as sources:
        assert sources.payments_url.startswith("http://127.0.0.1:")
        assert sources.endpoints().payments_token == "payments-demo-key"
        headers = {"Authorization": f"Bearer {sources.payments_token}"}
        async with httpx.AsyncClient(base_url=sources.payments_url, headers=headers) as client:
            first = await client.post("/v1/charges", json=_CHARGE, headers=_key("k"))
            assert first.status_code == 201
            await sources.stop("payments")
            await sources.start("payments")
            again = await client.post("/v1/charges", json=_CHARGE, headers=_key("k"))
            assert again.headers[REPLAYED] == "true"
            assert again.json() == first.json()
        assert sources.payments_store.get(first.json()["id"]) is not None
        headers = {"X-API-Key": sources.products_api_key}
        async with httpx.AsyncClient(base_url=sources.products_url, headers=headers) as client:
            body = {"product_id": "prd_1001", "quantity": 1}
            await client.post("/v1/reservations", json=body, headers=_key("k"))
        assert sources.reservations_store.ids() == ["rsv_1"]
        assert sources.refunds_store.ids() == []
