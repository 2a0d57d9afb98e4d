"""The reference adapters' writes against the real sample sources (``run_sample_sources``,
over TCP), built from ``reference_adapter_configs`` through the adapter registry, governed
by the demo policy through a WriteGuard."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import httpx
import pytest

from dictamesh.adapters.base import AdapterBase
from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.core.errors import PermissionDenied, SourceUnavailable, WriteRejected
from dictamesh.core.principal import Principal
from dictamesh.governance import PolicyEngine, WriteGuard, write_details
from dictamesh.governance.audit import AuditEntry
from dictamesh.governance.enforce import Governance
from dictamesh.governance.runtime import DEMO_POLICY_FILE
from dictamesh.sources.runner import SampleSources, reference_adapter_configs, run_sample_sources


class Sink:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def submit(self, entries: Sequence[AuditEntry]) -> bool:
        self.entries.extend(entries)
        return True

    def submit_nowait(self, entries: Sequence[AuditEntry]) -> bool:
        self.entries.extend(entries)
        return True


@dataclass
class Live:
    sources: SampleSources
    adapters: dict[str, AdapterBase]

    async def effects(self, url: str, kind: str) -> int:
        async with httpx.AsyncClient(base_url=url) as client:
            counts: dict[str, int] = (await client.get("/_admin/effects")).json()["counts"]
        return counts.get(kind, 0)

    async def admin(self, url: str, method: str, path: str, **kwargs: object) -> None:
        async with httpx.AsyncClient(base_url=url) as client:
            (await client.request(method, f"/_admin/{path}", **kwargs)).raise_for_status()  # type: ignore[arg-type]


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    async with run_sample_sources(products_rate_limit=None) as sources:
        configs = reference_adapter_configs(
            sources, poll_interval_seconds=None, resilience={"max_attempts": 3}
        )
        registry = AdapterRegistry()
        async with contextlib.AsyncExitStack() as stack:
            adapters = {}
            for config in configs:
                adapter = registry.build(config)
                adapters[config.kind] = await stack.enter_async_context(adapter)
            yield Live(sources, adapters)


async def test_payments_is_one_of_the_reference_configs(live: Live) -> None:
    assert set(live.adapters) == {
        "customers_directus",
        "products_rest",
        "invoices_ecommerce",
        "payments_gateway",
    }
    assert (await live.adapters["payments_gateway"].get_entity("ch_1")).type == "payment"


async def test_order_writes_and_their_compensation(live: Live) -> None:
    """What an order saga does: reserve, invoice, charge — each twice with its key, one
    effect each — then compensate all three by the original keys."""
    products = live.adapters["products_rest"]
    invoices = live.adapters["invoices_ecommerce"]
    payments = live.adapters["payments_gateway"]
    src = live.sources
    reserve = {"product_id": "prd_1010", "quantity": 1}
    invoice = {
        "customer_id": "4",
        "currency": "EUR",
        "items": [{"product_id": "prd_1010", "quantity": 1, "unit_price": 25}],
    }
    for _ in range(2):
        held = await products.run_command("reserve", reserve, idempotency_key="o-1:reserve")
        made = await invoices.create_entity(invoice, idempotency_key="o-1:invoice")
        assert made.entity is not None
        charge = {
            "amount_cents": 2500,
            "currency": "EUR",
            "customer_id": "4",
            "invoice_id": made.entity.id,
        }
        paid = await payments.run_command("charge", charge, idempotency_key="o-1:charge")
    assert held.replayed
    assert made.replayed
    assert paid.replayed
    assert await live.effects(src.products_url, "reserve") == 1
    assert await live.effects(src.invoices_url, "create_invoice") == 1
    assert await live.effects(src.payments_url, "charge") == 1

    refund = await payments.run_command(
        "refund", {"charge_key": "o-1:charge"}, idempotency_key="o-1:undo-charge"
    )
    cancel = await invoices.run_command(
        "cancel", {"create_key": "o-1:invoice"}, idempotency_key="o-1:undo-invoice"
    )
    release = await products.run_command(
        "release", {"reserve_key": "o-1:reserve"}, idempotency_key="o-1:undo-reserve"
    )
    assert refund.data["status"] == "succeeded"
    assert cancel.entity is not None
    assert cancel.entity.attributes["status"] == "cancelled"
    assert release.data["status"] == "released"
    assert (await payments.get_entity(str(paid.data["id"]))).attributes["status"] == "refunded"
    assert await live.effects(src.payments_url, "refund") == 1
    assert await live.effects(src.invoices_url, "cancel_invoice") == 1
    assert await live.effects(src.products_url, "release") == 1


async def test_refusals_are_write_rejected_with_the_sources_reason(live: Live) -> None:
    src = live.sources
    products = live.adapters["products_rest"]
    payments = live.adapters["payments_gateway"]
    with pytest.raises(WriteRejected) as short:
        await products.run_command(
            "reserve", {"product_id": "prd_1011", "quantity": 10_000}, idempotency_key="o-2:r"
        )
    assert short.value.reason == "insufficient_stock"
    await live.admin(src.payments_url, "POST", "faults", json={"mode": "decline"})
    charge = {"amount_cents": 100, "currency": "EUR", "customer_id": "5", "invoice_id": "INV-1"}
    with pytest.raises(WriteRejected) as declined:
        await payments.run_command("charge", charge, idempotency_key="o-2:charge")
    assert declined.value.reason == "card_declined"
    await live.admin(src.payments_url, "DELETE", "faults")
    # the decline was stored under its key: asking again is the same refusal
    with pytest.raises(WriteRejected):
        await payments.run_command("charge", charge, idempotency_key="o-2:charge")
    assert await live.effects(src.payments_url, "charge") == 0
    assert payments.policy.breaker.state.value == "closed"


async def test_a_lost_answer_is_retried_without_a_second_effect(live: Live) -> None:
    """The gateway charged but its answer was lost (500, then the fault stops): the adapter's
    retry with the same key gets the stored charge, and the card is charged once."""
    src = live.sources
    payments = live.adapters["payments_gateway"]
    await live.admin(src.payments_url, "POST", "faults", json={"mode": "error500_after"})
    charge = {"amount_cents": 700, "currency": "EUR", "customer_id": "6", "invoice_id": "INV-2"}
    with pytest.raises(SourceUnavailable):  # every attempt lost its answer
        await payments.run_command("charge", charge, idempotency_key="o-3:charge")
    assert await live.effects(src.payments_url, "charge") == 1
    await live.admin(src.payments_url, "DELETE", "faults")
    result = await payments.run_command("charge", charge, idempotency_key="o-3:charge")
    assert result.replayed
    assert await live.effects(src.payments_url, "charge") == 1


async def test_demo_policy_governs_and_audits_the_writes(live: Live) -> None:
    sink = Sink()
    guard = WriteGuard(Governance(PolicyEngine.from_file(DEMO_POLICY_FILE), audit=sink))
    products = live.adapters["products_rest"]
    customers = live.adapters["customers_directus"]
    reserve = {"product_id": "prd_1012", "quantity": 1}
    await guard.run_command(products, "reserve", reserve, idempotency_key="o-4:r", principal=None)
    await guard.run_command(products, "reserve", reserve, idempotency_key="o-4:r", principal=None)
    with pytest.raises(PermissionDenied):
        await guard.update_entity(
            customers, "1", {"company": "x"}, idempotency_key="o-4:c", principal=None
        )
    viewer = Principal("v", roles=frozenset({"viewer"}))
    await guard.check(viewer, [("product", "products"), ("payment", "payments")])
    outcomes = [(e.entity_type, e.decision, write_details(e.reason)) for e in sink.entries]
    assert [(t, d, w.get("outcome"), w.get("replayed")) for t, d, w in outcomes] == [
        ("product", "allow", "ok", "false"),
        ("product", "allow", "ok", "true"),
        ("customer", "deny", "denied", None),
    ]
    assert await live.effects(live.sources.products_url, "reserve") == 1
