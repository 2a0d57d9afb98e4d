"""Reference adapter writes against the sample source apps: one effect per idempotency key
(``/_admin/effects``), business refusals, compensation by the original key."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.adapters.reference.conftest import Wired

from dictamesh.adapters.contract import AdapterCapability
from dictamesh.core.errors import EntityNotFound, SourceUnavailable, WriteRejected
from dictamesh.core.inputs import InvalidInput


async def effects(wired: Wired, kind: str) -> int:
    response = await wired[0].client.get("/_admin/effects")
    response.raise_for_status()
    counts: dict[str, int] = response.json()["counts"]
    return counts.get(kind, 0)


def requests_to(wired: Wired, path: str) -> int:
    return sum(1 for r in wired[1].requests if r.url.path.startswith(path))


# --- products -----------------------------------------------------------------------------


async def test_products_capabilities(products_wired: Wired) -> None:
    adapter = products_wired[0]
    assert {AdapterCapability.WRITE, AdapterCapability.COMMANDS} <= adapter.capabilities
    assert adapter.commands == {"reserve", "release"}


async def test_reserve_same_key_twice_is_one_reservation(products_wired: Wired) -> None:
    adapter, _, store = products_wired
    stock = (await adapter.get_entity("prd_1001")).attributes["stock"]
    payload = {"product_id": "prd_1001", "quantity": 2}
    first = await adapter.run_command("reserve", payload, idempotency_key="order-1:reserve")
    again = await adapter.run_command("reserve", payload, idempotency_key="order-1:reserve")
    assert first.data["status"] == "active"
    assert first.data["idempotency_key"] == "order-1:reserve"
    assert first.same_effect(again)
    assert (first.replayed, again.replayed) == (False, True)
    assert await effects(products_wired, "reserve") == 1
    assert store.get("prd_1001")["stock"] == stock - 2  # type: ignore[index]
    # the product's cached copy was dropped: the new stock is read
    assert (await adapter.get_entity("prd_1001")).attributes["stock"] == stock - 2


async def test_insufficient_stock_is_rejected_and_replayed(products_wired: Wired) -> None:
    adapter, _, store = products_wired
    stock = store.get("prd_1001")["stock"]  # type: ignore[index]
    payload = {"product_id": "prd_1001", "quantity": stock + 1}
    for _ in range(2):
        with pytest.raises(WriteRejected) as refused:
            await adapter.run_command("reserve", payload, idempotency_key="order-2:reserve")
        assert refused.value.reason == "insufficient_stock"
    assert await effects(products_wired, "reserve") == 0
    with pytest.raises(WriteRejected) as missing:
        await adapter.run_command(
            "reserve", {"product_id": "prd_9999", "quantity": 1}, idempotency_key="k-404"
        )
    assert missing.value.reason == "not_found"


async def test_release_by_the_reserve_key(products_wired: Wired) -> None:
    adapter, _, store = products_wired
    stock = store.get("prd_1002")["stock"]  # type: ignore[index]
    made = await adapter.run_command(
        "reserve", {"product_id": "prd_1002", "quantity": 3}, idempotency_key="order-3:reserve"
    )
    released = await adapter.run_command(
        "release", {"reserve_key": "order-3:reserve"}, idempotency_key="order-3:release"
    )
    assert released.data["id"] == made.data["id"]
    assert released.data["status"] == "released"
    # released again (another key, by id): the same reservation, no second effect
    again = await adapter.run_command(
        "release", {"reservation_id": made.data["id"]}, idempotency_key="order-3:release-2"
    )
    assert again.data["status"] == "released"
    assert await effects(products_wired, "release") == 1
    assert store.get("prd_1002")["stock"] == stock  # type: ignore[index]
    assert (await adapter.get_entity("prd_1002")).attributes["stock"] == stock


async def test_release_of_a_reservation_never_made_is_no_error(products_wired: Wired) -> None:
    adapter = products_wired[0]
    result = await adapter.run_command(
        "release", {"reserve_key": "order-never:reserve"}, idempotency_key="order-never:release"
    )
    assert result.data == {"released": False, "reason": "not_found"}
    assert requests_to(products_wired, "/v1/reservations/") == 0
    assert await effects(products_wired, "release") == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"product_id": "prd_1001"},
        {"product_id": "prd_1001", "quantity": 0},
        {"product_id": "../x", "quantity": 1},
        {"quantity": 1},
    ],
)
async def test_bad_reserve_payload_is_invalid_input_before_the_source(
    products_wired: Wired, payload: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInput):
        await products_wired[0].run_command("reserve", payload, idempotency_key="k")
    assert requests_to(products_wired, "/v1/reservations") == 0


async def test_release_needs_one_of_id_and_key(products_wired: Wired) -> None:
    adapter = products_wired[0]
    for payload in ({}, {"reservation_id": "rsv_1", "reserve_key": "k"}):
        with pytest.raises(InvalidInput):
            await adapter.run_command("release", payload, idempotency_key="k")


async def test_product_update_maps_canonical_fields(products_wired: Wired) -> None:
    adapter, _, store = products_wired
    await adapter.get_entity("prd_1003")
    result = await adapter.update_entity(
        "prd_1003", {"price": 12.5, "name": "Renamed"}, idempotency_key="upd-1"
    )
    assert store.get("prd_1003")["price_cents"] == 1250  # type: ignore[index]
    assert result.entity is not None
    assert result.entity.attributes["price"] == 12.5
    assert (await adapter.get_entity("prd_1003")).attributes["name"] == "Renamed"
    again = await adapter.update_entity(
        "prd_1003", {"price": 12.5, "name": "Renamed"}, idempotency_key="upd-1"
    )
    assert again.replayed
    assert await effects(products_wired, "update_product") == 1
    for bad in ({"id": "x"}, {"updated_at": "2026-01-01"}, {"price": "abc"}, {}):
        with pytest.raises(InvalidInput):
            await adapter.update_entity("prd_1003", bad, idempotency_key="upd-2")


async def test_product_delete(products_wired: Wired) -> None:
    adapter = products_wired[0]
    await adapter.get_entity("prd_1004")
    result = await adapter.delete_entity("prd_1004", idempotency_key="del-1")
    assert result.data == {"id": "prd_1004", "deleted": True}
    assert (await adapter.delete_entity("prd_1004", idempotency_key="del-1")).replayed
    assert await effects(products_wired, "delete_product") == 1
    with pytest.raises(EntityNotFound):
        await adapter.get_entity("prd_1004")


async def test_lost_answer_is_retried_with_the_same_key(products_wired: Wired) -> None:
    """The source applied the reservation but its answer was lost (500): asking again with
    the same key gets the stored answer, and the stock is taken once."""
    adapter = products_wired[0]
    client = adapter.client
    await client.post("/_admin/faults", json={"mode": "error500_after", "probability": 1})
    payload = {"product_id": "prd_1005", "quantity": 1}
    with pytest.raises(SourceUnavailable):  # max_attempts=1 in these configs
        await adapter.run_command("reserve", payload, idempotency_key="order-5:reserve")
    await client.delete("/_admin/faults")
    result = await adapter.run_command("reserve", payload, idempotency_key="order-5:reserve")
    assert result.replayed
    assert await effects(products_wired, "reserve") == 1


# --- invoices -----------------------------------------------------------------------------

NEW_INVOICE = {
    "customer_id": "7",
    "currency": "EUR",
    "items": [
        {"product_id": "prd_1001", "quantity": 2, "unit_price": 19.99},
        {"product_id": "prd_1002", "quantity": 1, "unit_price": 5},
    ],
}


async def test_invoice_create_from_canonical_attributes(invoices_wired: Wired) -> None:
    adapter = invoices_wired[0]
    assert AdapterCapability.WRITE in adapter.capabilities
    first = await adapter.create_entity(NEW_INVOICE, idempotency_key="order-6:invoice")
    again = await adapter.create_entity(NEW_INVOICE, idempotency_key="order-6:invoice")
    assert first.entity is not None
    assert first.entity.attributes["status"] == "open"
    assert first.entity.attributes["total"] == 44.98
    assert first.entity.attributes["customer_id"] == "7"
    assert [i["unit_price"] for i in first.entity.attributes["items"]] == [19.99, 5.0]
    assert first.same_effect(again)
    assert again.replayed
    assert await effects(invoices_wired, "create_invoice") == 1
    assert (await adapter.get_entity(first.entity.id)).attributes["total"] == 44.98
    # the command ``create`` is the same write
    by_command = await adapter.run_command("create", NEW_INVOICE, idempotency_key="order-6:invoice")
    assert by_command.same_effect(first)


async def test_invoice_cancel_by_the_create_key(invoices_wired: Wired) -> None:
    adapter = invoices_wired[0]
    made = await adapter.create_entity(NEW_INVOICE, idempotency_key="order-8:invoice")
    assert made.entity is not None
    await adapter.get_entity(made.entity.id)
    cancelled = await adapter.run_command(
        "cancel", {"create_key": "order-8:invoice"}, idempotency_key="order-8:cancel"
    )
    assert cancelled.entity is not None
    assert cancelled.entity.id == made.entity.id
    assert cancelled.entity.attributes["status"] == "cancelled"
    assert (await adapter.get_entity(made.entity.id)).attributes["status"] == "cancelled"
    never = await adapter.run_command(
        "cancel", {"create_key": "order-never:invoice"}, idempotency_key="order-never:cancel"
    )
    assert never.data == {"cancelled": False, "reason": "not_found"}
    assert await effects(invoices_wired, "cancel_invoice") == 1


@pytest.mark.parametrize(
    "attributes",
    [
        {**NEW_INVOICE, "items": []},
        {**NEW_INVOICE, "status": "paid"},
        {**NEW_INVOICE, "items": [{"product_id": "prd_1", "quantity": 1, "unit_price": 1.001}]},
        {k: v for k, v in NEW_INVOICE.items() if k != "currency"},
    ],
)
async def test_bad_invoice_is_invalid_input(invoices_wired: Wired, attributes: Any) -> None:
    with pytest.raises(InvalidInput):
        await invoices_wired[0].create_entity(attributes, idempotency_key="k")
    assert await effects(invoices_wired, "create_invoice") == 0


async def test_invoice_source_refusal_is_write_rejected(invoices_wired: Wired) -> None:
    bad_currency = {**NEW_INVOICE, "currency": "euro"}
    with pytest.raises(WriteRejected) as refused:
        await invoices_wired[0].create_entity(bad_currency, idempotency_key="k-cur")
    assert refused.value.reason == "invalid_request"


# --- payments -----------------------------------------------------------------------------

CHARGE = {"amount_cents": 4498, "currency": "EUR", "customer_id": "7", "invoice_id": "INV-X-1"}


async def test_charge_same_key_twice_is_one_charge(payments_wired: Wired) -> None:
    adapter = payments_wired[0]
    first = await adapter.run_command("charge", CHARGE, idempotency_key="order-9:charge")
    again = await adapter.run_command("charge", CHARGE, idempotency_key="order-9:charge")
    assert first.entity is not None
    assert first.entity.type == "payment"
    assert first.entity.attributes["amount"] == 44.98
    assert first.entity.attributes["status"] == "succeeded"
    assert first.data["idempotency_key"] == "order-9:charge"
    assert first.same_effect(again)
    assert again.replayed
    assert await effects(payments_wired, "charge") == 1


async def test_declined_card_is_write_rejected(payments_wired: Wired) -> None:
    adapter = payments_wired[0]
    await adapter.client.post("/_admin/declines", json={"customer_ids": ["13"]})
    for _ in range(2):
        with pytest.raises(WriteRejected) as refused:
            await adapter.run_command(
                "charge", {**CHARGE, "customer_id": "13"}, idempotency_key="order-10:charge"
            )
        assert refused.value.reason == "card_declined"
        assert refused.value.details["status"] == 402
    assert await effects(payments_wired, "charge") == 0
    assert adapter.policy.breaker.state.value == "closed"


async def test_refund_by_the_charge_key(payments_wired: Wired) -> None:
    adapter = payments_wired[0]
    made = await adapter.run_command("charge", CHARGE, idempotency_key="order-11:charge")
    assert made.entity is not None
    await adapter.get_entity(made.entity.id)
    refund = await adapter.run_command(
        "refund", {"charge_key": "order-11:charge"}, idempotency_key="order-11:refund"
    )
    assert refund.data["charge_id"] == made.entity.id
    assert refund.data["amount_cents"] == 4498
    again = await adapter.run_command(
        "refund", {"charge_key": "order-11:charge"}, idempotency_key="order-11:refund"
    )
    assert again.replayed
    assert await effects(payments_wired, "refund") == 1
    payment = await adapter.get_entity(made.entity.id)  # the cached copy was dropped
    assert payment.attributes["status"] == "refunded"
    assert payment.attributes["amount_refunded"] == 44.98
    never = await adapter.run_command(
        "refund", {"charge_key": "order-never:charge"}, idempotency_key="order-never:refund"
    )
    assert never.data == {"refunded": False, "reason": "not_found"}
    with pytest.raises(WriteRejected) as twice:  # another key: the charge is refunded already
        await adapter.run_command(
            "refund", {"charge_id": made.entity.id}, idempotency_key="order-11:refund-2"
        )
    assert twice.value.reason == "charge_already_refunded"


async def test_payments_does_not_create_update_or_delete(payments_wired: Wired) -> None:
    adapter = payments_wired[0]
    assert AdapterCapability.WRITE not in adapter.capabilities
    assert adapter.commands == {"charge", "refund"}
