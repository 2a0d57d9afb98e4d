"""The three sample source HTTP apps, over httpx ASGITransport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dictamesh.sources import directus, invoices, products


async def _client(app: Any, headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://src", headers=headers
    ) as client:
        yield client


@pytest.fixture
async def cms() -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(directus.create_app(), {"Authorization": "Bearer directus-demo-token"}):
        yield c


@pytest.fixture
async def shop() -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(invoices.create_app(), {"Authorization": "Bearer shop-demo-token"}):
        yield c


@pytest.fixture
async def catalogue() -> AsyncIterator[httpx.AsyncClient]:
    app = products.create_app(rate_limit=None)
    async for c in _client(app, {"X-API-Key": "products-demo-key"}):
        yield c


# --- Directus -------------------------------------------------------------------------


async def test_directus_filters_sort_and_meta(cms: httpx.AsyncClient) -> None:
    r = await cms.get(
        "/items/customers",
        params={
            "filter[id][_in]": "3,1,2",
            "filter[status][_eq]": "published",
            "sort": "-id",
            "meta": "total_count,filter_count",
        },
    )
    assert r.status_code == 200
    body = r.json()
    ids = [row["id"] for row in body["data"]]
    assert ids == sorted(ids, reverse=True)
    assert set(ids) <= {1, 2, 3}
    assert body["meta"]["total_count"] == 50
    assert body["meta"]["filter_count"] == len(ids)


async def test_directus_limit_offset_and_all(cms: httpx.AsyncClient) -> None:
    page = (await cms.get("/items/customers", params={"limit": 5, "offset": 5})).json()["data"]
    assert [row["id"] for row in page] == [6, 7, 8, 9, 10]
    everything = (await cms.get("/items/customers", params={"limit": -1})).json()["data"]
    assert len(everything) == 50
    gte = (await cms.get("/items/customers", params={"filter[id][_gte]": 48, "limit": -1})).json()[
        "data"
    ]
    assert [row["id"] for row in gte] == [48, 49, 50]


async def test_directus_errors(cms: httpx.AsyncClient) -> None:
    r = await cms.get("/items/customers/999")
    assert r.status_code == 404
    assert r.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (await cms.get("/items/customers", params={"filter[id][_bogus]": 1})).status_code == 400
    assert (await cms.get("/items/customers", params={"filter[nope][_eq]": 1})).status_code == 400
    assert (await cms.get("/items/customers", params={"filter[id][_eq]": "x"})).status_code == 400
    r = await cms.get("/items/customers", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


async def test_directus_patch_delete_post(cms: httpx.AsyncClient) -> None:
    before = (await cms.get("/items/customers/1")).json()["data"]
    r = await cms.patch("/items/customers/1", json={"email": "new@example.com"})
    after = r.json()["data"]
    assert after["email"] == "new@example.com"
    assert after["version"] == before["version"] + 1
    assert after["date_updated"] > before["date_updated"]
    assert (await cms.delete("/items/customers/1")).status_code == 204
    assert (await cms.get("/items/customers/1")).json()["data"]["status"] == "archived"
    created = (await cms.post("/items/customers", json={"email": "x@example.com"})).json()
    assert created["data"]["id"] == 51
    assert created["data"]["version"] == 1


# --- products -------------------------------------------------------------------------


async def test_products_pagination_and_filters(catalogue: httpx.AsyncClient) -> None:
    body = (await catalogue.get("/v1/products", params={"page": 2, "per_page": 15})).json()
    assert body["pagination"] == {"page": 2, "per_page": 15, "total": 40, "total_pages": 3}
    assert body["products"][0]["id"] == "prd_1016"
    capped = (await catalogue.get("/v1/products", params={"per_page": 1000})).json()
    assert capped["pagination"]["per_page"] == 100
    ids = (await catalogue.get("/v1/products", params={"ids": "prd_1003,prd_1001"})).json()
    assert sorted(p["id"] for p in ids["products"]) == ["prd_1001", "prd_1003"]
    active = await catalogue.get("/v1/products", params={"active": "true", "per_page": 100})
    assert all(p["active"] for p in active.json()["products"])
    since = (await catalogue.get("/v1/products", params={"updated_since": "x"})).status_code
    assert since == 400


async def test_products_auth_and_crud(catalogue: httpx.AsyncClient) -> None:
    assert (await catalogue.get("/v1/products", headers={"X-API-Key": "no"})).status_code == 401
    r = await catalogue.patch("/v1/products/prd_1001", json={"stock": 7})
    assert r.json()["stock"] == 7
    assert (await catalogue.patch("/v1/products/prd_1001", json={"id": "x"})).status_code == 400
    assert (await catalogue.delete("/v1/products/prd_1001")).status_code == 204
    assert (await catalogue.get("/v1/products/prd_1001")).status_code == 404
    changed = (
        await catalogue.get(
            "/v1/products", params={"updated_since": "2020-01-01T00:00:00Z", "per_page": 100}
        )
    ).json()["products"]
    assert changed[-1]["id"] == "prd_1001"
    assert changed[-1]["deleted_at"] is not None


async def test_products_rate_limit_answers_429_with_retry_after() -> None:
    app = products.create_app(rate_limit=2)
    async for client in _client(app, {"X-API-Key": "products-demo-key"}):
        codes = [(await client.get("/v1/products")).status_code for _ in range(4)]
        assert codes[:2] == [200, 200]
        r = await client.get("/v1/products")
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) >= 1
        assert (await client.get("/_admin/stats")).status_code == 200  # admin never limited


# --- invoices -------------------------------------------------------------------------


async def test_invoices_repeated_params_and_cursor(shop: httpx.AsyncClient) -> None:
    r = await shop.get("/api/invoices", params=[("customer_id", "1"), ("customer_id", "2")])
    body = r.json()
    assert body["invoices"]
    assert {i["customer_id"] for i in body["invoices"]} <= {"1", "2"}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 40}
        if cursor:
            params["cursor"] = cursor
        page = (await shop.get("/api/invoices", params=params)).json()
        seen += [i["id"] for i in page["invoices"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 150
    capped = (await shop.get("/api/invoices", params={"limit": 500})).json()
    assert len(capped["invoices"]) == 150  # 150 < the 200 cap
    assert (await shop.get("/api/invoices", params={"cursor": "garbage!"})).status_code == 400


async def test_invoices_one_and_errors(shop: httpx.AsyncClient) -> None:
    one = (await shop.get("/api/invoices/INV-2026-00001")).json()["invoice"]
    assert one["invoice_number"] == "INV-2026-00001"
    assert (await shop.get("/api/invoices/INV-0")).status_code == 404
    r = await shop.get("/api/invoices", headers={"Authorization": "Bearer x"})
    assert r.status_code == 401
    patched = await shop.patch("/api/invoices/INV-2026-00001", json={"status": "paid"})
    assert patched.json()["invoice"]["version"] == one["version"] + 1


# --- admin ----------------------------------------------------------------------------


async def test_faults_stats_and_webhook_subscription(shop: httpx.AsyncClient) -> None:
    r = await shop.post("/_admin/faults", json={"mode": "error500", "probability": 1.0})
    assert r.status_code == 200
    assert (await shop.get("/api/invoices")).status_code == 500
    await shop.post("/_admin/faults", json={"mode": "garbage"})
    garbage = await shop.get("/api/invoices")
    with pytest.raises(ValueError):
        garbage.json()
    assert (await shop.post("/_admin/faults", json={"mode": "nope"})).status_code == 400
    assert (await shop.delete("/_admin/faults")).status_code == 204
    assert (await shop.get("/api/invoices")).status_code == 200
    stats = (await shop.get("/_admin/stats")).json()
    assert stats["requests"]["/api/invoices"] == 3
    r = await shop.post("/_admin/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 201
    assert (await shop.post("/_admin/webhooks", json={"url": "ftp://x"})).status_code == 400
