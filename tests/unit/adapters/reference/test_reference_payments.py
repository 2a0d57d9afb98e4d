"""The payments reference adapter's reads: batching, query mapping, change capture,
webhooks, relationships."""

from __future__ import annotations

import pytest
from tests.unit.adapters.reference.conftest import Wired

from dictamesh.core.errors import ValidationError
from dictamesh.core.models import EventType, FieldFilter, FilterOp, Query, SortSpec


def _listing(wired: Wired) -> list[str]:
    return [str(r.url) for r in wired[1].requests if r.url.path == "/v1/charges"]


async def test_payment_transform_is_canonical(payments_wired: Wired) -> None:
    adapter, _, store = payments_wired
    entity = await adapter.get_entity("ch_1")
    raw = store.get("ch_1")
    assert raw is not None
    assert entity.type == "payment"
    assert entity.version == raw["version"]
    assert entity.attributes["amount"] == round(raw["amount_cents"] / 100, 2)
    assert entity.attributes["invoice_id"] == raw["invoice_id"]
    assert entity.attributes["amount_refunded"] == 0
    assert entity.updated_at is not None


async def test_payments_fetch_many_is_one_request(payments_wired: Wired) -> None:
    adapter = payments_wired[0]
    found = await adapter.get_entities(["ch_1", "ch_2", "ch_404"])
    assert [e.id if e else None for e in found] == ["ch_1", "ch_2", None]
    calls = _listing(payments_wired)
    assert len(calls) == 1
    assert "ids=ch_1%2Cch_2%2Cch_404" in calls[0]


async def test_payments_filters(payments_wired: Wired) -> None:
    adapter, _, store = payments_wired
    raw = store.get("ch_3")
    assert raw is not None
    page = await adapter.query_entities(
        Query(filters=[FieldFilter(field="customer_id", value=raw["customer_id"])], limit=100)
    )
    assert "ch_3" in {e.id for e in page.items}
    assert all(e.attributes["customer_id"] == raw["customer_id"] for e in page.items)
    by_invoice = await adapter.query_entities(
        Query(filters=[FieldFilter(field="invoice_id", value=raw["invoice_id"])])
    )
    assert [e.id for e in by_invoice.items] == ["ch_3"]
    ids = await adapter.query_entities(
        Query(filters=[FieldFilter(field="id", op=FilterOp.IN, value=["ch_2", "ch_5"])])
    )
    assert {e.id for e in ids.items} == {"ch_2", "ch_5"}
    with pytest.raises(ValidationError):
        await adapter.query_entities(Query(filters=[FieldFilter(field="amount", value=1)]))
    with pytest.raises(ValidationError):
        await adapter.query_entities(Query(sort=[SortSpec(field="id")]))


async def test_payments_sort_by_update_time(payments_wired: Wired) -> None:
    adapter = payments_wired[0]
    page = await adapter.query_entities(Query(sort=[SortSpec(field="updated_at")], limit=100))
    stamps = [e.attributes["updated_at"] for e in page.items]
    assert stamps == sorted(stamps)
    assert len(stamps) >= 12
    with pytest.raises(ValidationError):
        await adapter.query_entities(Query(cursor="not a cursor!"))


async def test_payments_changed_since_and_refund_events(payments_wired: Wired) -> None:
    adapter, _, store = payments_wired
    client = adapter.client
    everything = await adapter.fetch_changed_since(client, None, 1000)
    marks = [adapter.watermark_of(r) for r in everything]
    assert marks == sorted(marks)
    assert len(everything) == len(store)
    # pages of 5 give the same records
    paged = await adapter.fetch_changed_since(client, None, 5)
    assert [r["id"] for r in paged] == [r["id"] for r in everything[:5]]
    for raw in everything:
        assert await adapter._detect(raw) is not None
        await adapter.state.commit(
            adapter.name,
            adapter.watermark_of(raw),
            [(str(raw["id"]), int(raw["version"]), adapter.transform(raw).attributes)],
        )
    await adapter.run_command("refund", {"charge_id": "ch_2"}, idempotency_key="refund-ch2")
    changed = await adapter.fetch_changed_since(client, marks[-1], 100)
    events = [d[0] for raw in changed if (d := await adapter._detect(raw)) is not None]
    assert [(e.entity.id, e.event_type) for e in events] == [("ch_2", EventType.UPDATED)]
    assert events[0].after is not None
    assert events[0].after["status"] == "refunded"


async def test_payments_webhooks(payments_wired: Wired) -> None:
    adapter = payments_wired[0]
    assert adapter.parse_webhook(
        {"type": "charge.updated", "data": {"object": {"id": "ch_4"}}}
    ) == ["ch_4"]
    assert adapter.parse_webhook(
        {"type": "refund.created", "data": {"object": {"id": "re_1", "charge_id": "ch_4"}}}
    ) == ["ch_4"]
    assert adapter.parse_webhook({"type": "customer.created", "data": {}}) == []
    assert (
        await adapter.handle_webhook({"type": "charge.created", "data": {"object": {"id": "ch_1"}}})
        == 1
    )


def test_payment_schema_links_customer_and_invoice(payments_wired: Wired) -> None:
    schema = payments_wired[0].get_schema()
    links = {r.name: (r.target_type, r.via_field, r.inverse) for r in schema.relationships}
    assert links == {
        "customer": ("customer", "customer_id", "payments"),
        "invoice": ("invoice", "invoice_id", "payments"),
    }
    lineage = payments_wired[0].get_lineage()
    assert lineage.edges[0].upstream.name.endswith("charges")
