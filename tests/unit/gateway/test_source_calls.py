"""Source calls of a cross-domain request, counted at the sample sources themselves.

customer → invoices → items → product is three relationship levels: a request costs one
batched source call per level whatever the fan-out, and with the cache on a repeated
request costs none — inverse lookups (the invoices of a customer) are cached too, and
dropped by the change events, writes and webhooks that could alter them.

The node runs embedded (SQLite bus and catalog), its adapters read the sample sources over
real HTTP on local ports, and requests go through the node's ASGI app.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from dictamesh.adapters.base import AdapterBase
from dictamesh.core.models import ChangeEvent, EntityVersionRef, EventType
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode
from dictamesh.sources.runner import (
    SampleSources,
    SourceEndpoints,
    reference_adapter_configs,
    run_sample_sources,
)
from dictamesh.tenancy import tenant_context

QUERY = """
query ($id: ID!) {
  customer(id: $id) {
    id
    invoices { invoiceNumber items { quantity product { sku name } } }
  }
}"""
LEVELS = 3  # customer by id, its invoices (inverse lookup), their items' products by id


@pytest.fixture
async def sources() -> AsyncIterator[SampleSources]:
    async with run_sample_sources(products_rate_limit=None) as running:
        yield running


@pytest.fixture
async def node(
    tmp_path: Path, sqlite_catalog_url: str, sources: SampleSources
) -> AsyncIterator[MeshNode]:
    settings = DictaMeshSettings.from_mapping(
        {
            "node_name": "calls",
            "state_dir": str(tmp_path),
            "bus": {"path": str(tmp_path / "bus.sqlite3")},
            "catalog": {"url": sqlite_catalog_url},
            "adapters": [
                c.model_dump(mode="python")
                for c in reference_adapter_configs(sources.endpoints(), poll_interval_seconds=None)
            ],
        }
    )
    async with MeshNode(settings) as running:
        yield running


@pytest.fixture
async def client(node: MeshNode) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=node.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as c:
        yield c


async def source_requests(endpoints: SourceEndpoints) -> int:
    """Requests the three read sources served so far (their admin routes not counted)."""
    total = 0
    async with httpx.AsyncClient() as admin:
        for url in (endpoints.customers_url, endpoints.products_url, endpoints.invoices_url):
            stats = (await admin.get(f"{url}/_admin/stats")).json()["requests"]
            total += sum(n for path, n in stats.items() if not path.startswith("/_admin"))
    return total


async def ask(client: httpx.AsyncClient, customer_id: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": QUERY, "variables": {"id": customer_id}}
    )
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    customer: dict[str, Any] = body["data"]["customer"]
    return customer


async def calls_of(
    client: httpx.AsyncClient, sources: SampleSources, customer_id: str
) -> tuple[int, dict[str, Any]]:
    before = await source_requests(sources.endpoints())
    answer = await ask(client, customer_id)
    return await source_requests(sources.endpoints()) - before, answer


def fanned_out(sources: SampleSources, least: int = 2) -> list[str]:
    """Customers with at least ``least`` live invoices over at least ``least`` products."""
    invoices: dict[str, list[dict[str, Any]]] = {}
    for record in sources.invoices_store.all():
        if record.get("deleted_at") is None:
            invoices.setdefault(str(record["customer_id"]), []).append(record)
    return sorted(
        (
            c
            for c, rows in invoices.items()
            if len(rows) >= least
            and len({i["product_id"] for r in rows for i in r["line_items"]}) >= least
        ),
        key=int,
    )


def invoice_numbers(customer: dict[str, Any]) -> set[str]:
    return {i["invoiceNumber"] for i in customer["invoices"]}


async def test_one_source_call_per_level_then_none_once_cached(
    client: httpx.AsyncClient, sources: SampleSources
) -> None:
    first, second = fanned_out(sources)[:2]
    calls, answer = await calls_of(client, sources, first)
    assert len(answer["invoices"]) >= 2
    assert calls == LEVELS
    # a repeated request: the customer, its invoices (the inverse lookup) and every
    # product come from the cache
    calls, again = await calls_of(client, sources, first)
    assert (calls, again) == (0, answer)
    # another customer: its own lookup and customer, products it shares are cached
    calls, _ = await calls_of(client, sources, second)
    assert 2 <= calls <= LEVELS


async def test_a_change_event_drops_the_lookups_it_could_alter(
    node: MeshNode, client: httpx.AsyncClient, sources: SampleSources
) -> None:
    customer = fanned_out(sources)[0]
    before = invoice_numbers(await ask(client, customer))
    template = next(r for r in sources.invoices_store.all() if str(r["customer_id"]) == customer)
    made = sources.invoices_store.insert(
        {
            **{k: v for k, v in template.items() if k not in ("id", "updated_at", "version")},
            "id": "INV-NEW-1",
            "invoice_number": "INV-NEW-1",
            "deleted_at": None,
        }
    )
    # the source has it, the cached lookup does not know yet
    assert invoice_numbers(await ask(client, customer)) == before
    invoices = node.registry.for_type("invoice")
    event = ChangeEvent(
        event_type=EventType.CREATED,
        entity=EntityVersionRef(type="invoice", id=str(made["id"]), version=1),
        source=invoices.source,
        after={"customer_id": customer, "invoice_number": "INV-NEW-1"},
    )
    await node.publisher.publish_event(event)

    async def shows_up() -> set[str]:
        for _ in range(200):
            numbers = invoice_numbers(await ask(client, customer))
            if "INV-NEW-1" in numbers:
                return numbers
            await asyncio.sleep(0.05)
        raise AssertionError("the new invoice never showed up")

    assert await shows_up() == before | {"INV-NEW-1"}
    # cached again: no source call
    calls, _ = await calls_of(client, sources, customer)
    assert calls == 0


def _adapter(node: MeshNode, entity_type: str) -> AdapterBase:
    adapter = node.registry.for_type(entity_type)
    assert isinstance(adapter, AdapterBase)
    return adapter


async def _lookup(adapter: AdapterBase, customer: str) -> list[str]:
    [group] = await adapter.get_related("customer_id", [customer])
    return [e.id for e in group]


async def test_cached_lookups_are_per_tenant_and_dropped_per_tenant(
    node: MeshNode, sources: SampleSources
) -> None:
    invoices = _adapter(node, "invoice")
    customer = fanned_out(sources)[0]
    calls = invoices.get_metrics().calls
    with tenant_context("acme"):
        acme = await _lookup(invoices, customer)
        assert await _lookup(invoices, customer) == acme
    assert invoices.get_metrics().calls == calls + 1
    with tenant_context("globex"):  # another tenant never reads acme's copy
        assert await _lookup(invoices, customer) == acme
    assert invoices.get_metrics().calls == calls + 2
    # globex's change drops globex's lookup only
    event = ChangeEvent(
        event_type=EventType.UPDATED,
        entity=EntityVersionRef(type="invoice", id=acme[0], version=2),
        source=invoices.source,
        before={"customer_id": customer},
        after={"customer_id": customer},
        tenant_id="globex",
    )
    await node.publisher.publish_event(event)
    for _ in range(200):
        with tenant_context("globex"):
            await _lookup(invoices, customer)
        if invoices.get_metrics().calls == calls + 3:
            break
        await asyncio.sleep(0.05)
    assert invoices.get_metrics().calls == calls + 3
    with tenant_context("acme"):
        await _lookup(invoices, customer)
    assert invoices.get_metrics().calls == calls + 3


async def test_a_write_drops_the_lookups_of_its_values(
    node: MeshNode, sources: SampleSources
) -> None:
    invoices = _adapter(node, "invoice")
    first, second = fanned_out(sources)[:2]
    seen = {c: await _lookup(invoices, c) for c in (first, second)}
    made = await invoices.create_entity(
        {
            "customer_id": first,
            "currency": "EUR",
            "items": [{"product_id": "prd_1001", "quantity": 1, "unit_price": 1.5}],
        },
        idempotency_key="calls-test:create",
    )
    assert made.entity is not None
    assert await _lookup(invoices, first) == [*seen[first], made.entity.id]
    calls = invoices.get_metrics().calls
    assert await _lookup(invoices, second) == seen[second]  # still cached
    assert invoices.get_metrics().calls == calls


async def test_a_webhook_drops_the_lookups_before_its_refetch(
    node: MeshNode, sources: SampleSources
) -> None:
    invoices = _adapter(node, "invoice")
    first, second = fanned_out(sources)[:2]
    moved = (await _lookup(invoices, first))[0]
    assert moved not in await _lookup(invoices, second)
    await invoices.get_entity(moved)  # its cached copy tells which lookups hold it
    sources.invoices_store.update(moved, {"customer_id": second})
    await invoices.handle_webhook({"topic": "invoices/update", "invoice_id": moved})
    assert moved not in await _lookup(invoices, first)
    assert moved in await _lookup(invoices, second)


# --- no import on the request path ------------------------------------------------------------


class _ImportSpy(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``: sees every import not answered by ``sys.modules``
    (a first import, or a failing one such as a missing optional module), finds nothing."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        self.names.append(fullname)


async def test_a_warmed_up_request_with_source_calls_imports_nothing(
    client: httpx.AsyncClient, sources: SampleSources
) -> None:
    customers = fanned_out(sources)
    for customer in customers[:3]:  # warm-up: every code path of the request has run once
        await ask(client, customer)
    spy = _ImportSpy()
    sys.meta_path.insert(0, spy)
    try:
        calls, _ = await calls_of(client, sources, customers[3])  # not cached yet
    finally:
        sys.meta_path.remove(spy)
    assert calls >= 2  # the request did go to the sources
    assert spy.names == []
