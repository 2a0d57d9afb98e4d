"""Reference adapters: batching, query mapping, change capture, webhooks, errors."""

from __future__ import annotations

import pytest
from tests.unit.adapters.reference.conftest import Wired

from dictamesh.core.errors import ValidationError
from dictamesh.core.models import EventType, FieldFilter, FilterOp, Query, SortSpec


def _listing(wired: Wired, path: str) -> list[str]:
    return [str(r.url) for r in wired[1].requests if r.url.path == path]


async def test_customer_transform_is_canonical(customers: Wired) -> None:
    adapter, _, store = customers
    entity = await adapter.get_entity("1")
    raw = store.get(1)
    assert raw is not None
    assert entity.version == raw["version"]
    assert entity.attributes["email"] == raw["email"]
    assert entity.attributes["created_at"] == raw["date_created"]
    assert set(entity.attributes["address"]) == {"street", "city", "postal_code"}
    assert entity.updated_at is not None


async def test_customers_fetch_many_is_one_request(customers: Wired) -> None:
    adapter, _transport, _ = customers
    found = await adapter.get_entities(["1", "2", "3", "nope"])
    assert [e.id if e else None for e in found] == ["1", "2", "3", None]
    calls = _listing(customers, "/items/customers")
    assert len(calls) == 1
    assert "filter%5Bid%5D%5B_in%5D=1%2C2%2C3" in calls[0]


async def test_archived_customer_is_not_found(customers: Wired) -> None:
    adapter, _, store = customers
    await adapter.get_entity("2")
    store.soft_delete(2, {"status": "archived"})
    page = await adapter.query_entities(Query(limit=500))
    assert "2" not in {e.id for e in page.items}


async def test_customer_filters_and_sort(customers: Wired) -> None:
    adapter, _, store = customers
    country = store.get(1)["country"]  # type: ignore[index]
    page = await adapter.query_entities(
        Query(
            filters=[FieldFilter(field="country", value=country)],
            sort=[SortSpec(field="updated_at", descending=True)],
            limit=500,
        )
    )
    assert page.items
    assert all(e.attributes["country"] == country for e in page.items)
    stamps = [e.attributes["updated_at"] for e in page.items]
    assert stamps == sorted(stamps, reverse=True)
    with pytest.raises(ValidationError):
        await adapter.query_entities(Query(filters=[FieldFilter(field="address", value="x")]))


async def test_products_fetch_many_and_filters(products_wired: Wired) -> None:
    adapter, _, _ = products_wired
    found = await adapter.get_entities(["prd_1001", "prd_1002", "prd_9999"])
    assert [e.id if e else None for e in found] == ["prd_1001", "prd_1002", None]
    assert len(_listing(products_wired, "/v1/products")) == 1
    product = found[0]
    assert product is not None
    assert isinstance(product.attributes["price"], float)
    page = await adapter.query_entities(
        Query(filters=[FieldFilter(field="category", value="hardware")], limit=500)
    )
    assert page.items
    assert all(e.attributes["category"] == "hardware" for e in page.items)
    with pytest.raises(ValidationError):
        await adapter.query_entities(
            Query(filters=[FieldFilter(field="name", op=FilterOp.CONTAINS, value="x")])
        )
    with pytest.raises(ValidationError):
        await adapter.query_entities(Query(sort=[SortSpec(field="price", descending=True)]))


async def test_products_auth_header_from_config() -> None:
    from dictamesh.adapters.reference.products_rest import ThirdPartyProductsAdapter
    from dictamesh.core.settings import AdapterConfig

    config = AdapterConfig(name="p", kind="products_rest", base_url="http://x", api_key="k")
    adapter = ThirdPartyProductsAdapter(config)
    assert adapter.auth_headers() == {"X-API-Key": "k"}


async def test_invoices_customer_in_filter_is_one_request(invoices_wired: Wired) -> None:
    adapter, _, store = invoices_wired
    page = await adapter.query_entities(
        Query(filters=[FieldFilter(field="customer_id", op=FilterOp.IN, value=["1", "2"])])
    )
    calls = _listing(invoices_wired, "/api/invoices")
    assert len(calls) == 1
    assert "customer_id=1&customer_id=2" in calls[0]
    expected = {r["id"] for r in store.all() if r["customer_id"] in ("1", "2")}
    assert {e.id for e in page.items} == expected
    invoice = page.items[0]
    item = invoice.attributes["items"][0]
    assert set(item) == {"id", "product_id", "quantity", "unit_price", "line_total"}
    assert invoice.attributes["total"] == pytest.approx(
        sum(i["line_total"] for i in invoice.attributes["items"])
    )


async def test_invoices_fetch_many_repeats_id(invoices_wired: Wired) -> None:
    adapter, _, _ = invoices_wired
    found = await adapter.get_entities(["INV-2026-00001", "INV-2026-00002"])
    assert all(found)
    calls = _listing(invoices_wired, "/api/invoices")
    assert len(calls) == 1
    assert "id=INV-2026-00001&id=INV-2026-00002" in calls[0]


async def test_invoice_schema_links_customer_and_products(invoices_wired: Wired) -> None:
    schema = invoices_wired[0].get_schema()
    (rel,) = schema.relationships
    assert (rel.target_type, rel.via_field, rel.inverse) == ("customer", "customer_id", "invoices")
    assert schema.nested["items"].relationships[0].target_type == "product"
    assert schema.field("items") is None  # described by ``nested`` only


async def test_changed_since_is_ordered_and_inclusive(
    customers: Wired, products_wired: Wired, invoices_wired: Wired
) -> None:
    for adapter, _, _ in (customers, products_wired, invoices_wired):
        client = adapter.client
        first = await adapter.fetch_changed_since(client, None, 30)
        assert len(first) == 30
        marks = [adapter.watermark_of(r) for r in first]
        assert marks == sorted(marks)
        again = await adapter.fetch_changed_since(client, marks[-1], 5)
        assert adapter.watermark_of(again[0]) == marks[-1]


async def test_update_and_delete_become_events(invoices_wired: Wired) -> None:
    adapter, _, store = invoices_wired
    client = adapter.client
    everything = await adapter.fetch_changed_since(client, None, 1000)
    for raw in everything:  # the initial sync, straight into the seen state
        assert await adapter._detect(raw) is not None
        await adapter.state.commit(
            adapter.name,
            adapter.watermark_of(raw),
            [(str(raw["id"]), int(raw["version"]), adapter.transform(raw).attributes)],
        )
    store.update("INV-2026-00001", {"status": "paid"})
    store.soft_delete("INV-2026-00002")
    watermark = adapter.watermark_of(everything[-1])
    changed = await adapter.fetch_changed_since(client, watermark, 100)
    events = [d[0] for raw in changed if (d := await adapter._detect(raw)) is not None]
    kinds = {(e.entity.id, e.event_type) for e in events}
    assert ("INV-2026-00001", EventType.UPDATED) in kinds
    assert ("INV-2026-00002", EventType.DELETED) in kinds


async def test_parse_webhooks(
    customers: Wired, products_wired: Wired, invoices_wired: Wired
) -> None:
    assert customers[0].parse_webhook(
        {"event": "items.update", "collection": "customers", "keys": [12], "payload": {}}
    ) == ["12"]
    assert customers[0].parse_webhook({"collection": "other", "keys": ["1"]}) == []
    assert products_wired[0].parse_webhook(
        {"type": "product.updated", "data": {"id": "prd_1001"}}
    ) == ["prd_1001"]
    assert invoices_wired[0].parse_webhook(
        {"topic": "invoices/update", "invoice_id": "INV-2026-00003"}
    ) == ["INV-2026-00003"]


async def test_webhook_refetches_in_one_call(customers: Wired) -> None:
    adapter = customers[0]
    count = await adapter.handle_webhook(
        {"event": "items.update", "collection": "customers", "keys": ["1", "2"], "payload": {}}
    )
    assert count == 2
    assert len(_listing(customers, "/items/customers")) == 1
