"""Seed data and the RecordStore behind the sample sources."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from dictamesh.sources._store import RecordStore, StoreClock
from dictamesh.sources.seed import N_CUSTOMERS, N_INVOICES, N_PRODUCTS, generate

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_seed_is_deterministic_and_sized() -> None:
    a, b = generate(42), generate(42)
    assert a.customers == b.customers
    assert a.invoices == b.invoices
    assert generate(7).customers != a.customers
    assert (len(a.customers), len(a.products), len(a.invoices)) == (
        N_CUSTOMERS,
        N_PRODUCTS,
        N_INVOICES,
    )


def test_seed_is_coherent() -> None:
    data = generate(42)
    customer_ids = {str(c["id"]) for c in data.customers}
    prices = {p["id"]: p["price_cents"] for p in data.products}
    assert data.customers[0]["status"] == "published"
    assert data.products[0]["id"] == "prd_1001"
    assert data.products[0]["sku"] == "SKU-1001"
    assert data.invoices[0]["id"] == data.invoices[0]["invoice_number"] == "INV-2026-00001"
    for customer in data.customers:
        assert re.match(r"^\+\d{8,15}$", customer["phone"])
        assert len(customer["country"]) == 2
        assert TS.match(customer["date_updated"])
        assert customer["date_created"] <= customer["date_updated"]
    for invoice in data.invoices:
        assert invoice["customer_id"] in customer_ids
        assert TS.match(invoice["updated_at"])
        total = 0
        for item in invoice["line_items"]:
            assert item["unit_price_cents"] == prices[item["product_id"]]
            total += item["quantity"] * item["unit_price_cents"]
        assert invoice["total_cents"] == total
    assert any(i["customer_id"] == "1" for i in data.invoices)


def test_clock_never_goes_backwards() -> None:
    fixed = datetime(2020, 1, 1, tzinfo=UTC)
    clock = StoreClock(lambda: fixed)
    clock.advance_to(datetime(2030, 1, 1, tzinfo=UTC))
    first, second = clock(), clock()
    assert datetime(2030, 1, 1, tzinfo=UTC) < first < second


def _store(**kwargs: Any) -> RecordStore:
    return RecordStore("products", generate(42).products, deleted_field="deleted_at", **kwargs)


def test_writes_bump_version_and_timestamp() -> None:
    store = _store()
    before = store.get("prd_1001")
    assert before is not None
    after = store.update("prd_1001", {"stock": 1})
    assert after["version"] == before["version"] + 1
    assert after["updated_at"] > before["updated_at"]
    deleted = store.soft_delete("prd_1002")
    assert deleted["deleted_at"] == deleted["updated_at"]
    assert store.is_deleted(deleted)
    assert "prd_1002" in store.ids()  # soft: still there


def test_changed_since_orders_by_update_then_id() -> None:
    store = _store()
    rows = store.changed_since(None)
    keys = [(r["updated_at"], r["id"]) for r in rows]
    assert keys == sorted(keys)
    store.update("prd_1005", {"stock": 3})
    latest = store.changed_since(rows[-1]["updated_at"])
    assert latest[-1]["id"] == "prd_1005"
    assert store.changed_since(None, limit=3) == rows[:3]


async def test_webhooks_are_delivered_after_writes() -> None:
    received: list[dict[str, Any]] = []

    async def target(payload: dict[str, Any]) -> None:
        received.append(payload)

    store = _store()
    store.subscribe(target)
    store.update("prd_1001", {"stock": 9})
    await store.wait_deliveries()
    assert received
    assert received[0]["record"]["id"] == "prd_1001"
