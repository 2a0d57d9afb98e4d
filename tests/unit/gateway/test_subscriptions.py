"""Subscriptions generated from the entity schemas, fed by a ChangeFeed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import Any

import pytest
from tests.unit.gateway.fakes import CUSTOMER, MemoryAdapter, MemoryRegistry, shop

from dictamesh.core.context import bind
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import ChangeEvent, Entity, EntitySchema, EventType, SourceRef
from dictamesh.core.principal import Principal
from dictamesh.events.fanout import ChangeFeed
from dictamesh.gateway import GatewayContext
from dictamesh.gateway.subscriptions import build_live_schema

Stream = AsyncGenerator[Any, None]


def event(
    adapter: MemoryAdapter,
    entity_id: str,
    *,
    event_type: EventType = EventType.UPDATED,
    tenant: str | None = None,
    before: dict[str, Any] | None = None,
    version: int = 2,
) -> ChangeEvent:
    attributes = {k: v for k, v in adapter.records.get(entity_id, {}).items() if k != "id"}
    entity = Entity(
        type=adapter.entity_type,
        id=entity_id,
        version=version,
        attributes=attributes,
        source=adapter.source,
        tenant_id=tenant,
    )
    return ChangeEvent.for_change(event_type, entity, before=before)


class Reader:
    """Reads a subscription's results in one task of its own, as the WebSocket transport
    does (extensions keep context variables across the whole stream)."""

    def __init__(self, live: Live, stream: Stream) -> None:
        self.live = live
        self.results: asyncio.Queue[Any] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(stream))

    async def _run(self, stream: Stream) -> None:
        async with contextlib.aclosing(stream):
            async for result in stream:
                await self.results.put(result)
        await self.results.put(_END)

    async def next(self, publish: Callable[[], Any] | None = None) -> Any:
        """The next result, publishing once the subscription is registered."""
        if publish is not None:
            for _ in range(100):
                if self.live.feed.subscriber_count > 0:
                    break
                await asyncio.sleep(0)
            assert self.live.feed.subscriber_count > 0
            publish()
        return await asyncio.wait_for(self.results.get(), 2)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


_END = object()


class Live:
    def __init__(self, queue_size: int = 100) -> None:
        self.customers, self.invoices, self.products = shop()
        self.registry = MemoryRegistry([self.customers, self.invoices, self.products])
        self.feed = ChangeFeed(queue_size=queue_size)
        self.schema = build_live_schema(self.registry, self.feed)

    async def subscribe(self, query: str, **variables: Any) -> Reader:
        result = await self.schema.subscribe(
            query, variable_values=variables or None, context_value=GatewayContext(self.registry)
        )
        assert not hasattr(result, "errors"), result
        return Reader(self, result)  # type: ignore[arg-type]


CUSTOMER_CHANGED = """
subscription ($id: ID) {
  customerChanged(id: $id) {
    eventId eventType entityType entityId version changedFields timestamp
    entity { name country invoices { invoiceNumber items { product { sku } } } }
  }
}"""


async def test_a_change_arrives_with_the_entity_loaded_through_the_gateway() -> None:
    live = Live()
    stream = await live.subscribe(CUSTOMER_CHANGED, id="c-1")
    live.customers.records["c-1"]["country"] = "FR"
    change = event(live.customers, "c-1", before={"country": "DE", "created_at": "x"})
    result = await stream.next(lambda: live.feed.publish(change))
    assert result.errors is None
    payload = result.data["customerChanged"]
    assert payload["eventId"] == str(change.event_id)
    assert payload["eventType"] == "UPDATED"
    assert (payload["entityType"], payload["entityId"], payload["version"]) == (
        "customer",
        "c-1",
        2,
    )
    # GraphQL names, of the fields that differ between before and after
    assert "country" in payload["changedFields"]
    assert "createdAt" in payload["changedFields"]
    assert payload["timestamp"].startswith("20")
    entity = payload["entity"]
    assert entity["name"] == "Customer 1"
    assert entity["country"] == "FR"  # loaded now, not copied from the event
    assert entity["invoices"][0]["items"][0]["product"]["sku"].startswith("SKU-")
    await stream.close()
    assert live.feed.subscriber_count == 0


async def test_each_event_is_resolved_with_fresh_loaders() -> None:
    live = Live()
    stream = await live.subscribe("subscription { productChanged { entity { name } } }")
    first = await stream.next(lambda: live.feed.publish(event(live.products, "p-1")))
    live.products.records["p-1"]["name"] = "Renamed"
    second = await stream.next(lambda: live.feed.publish(event(live.products, "p-1")))
    assert first.data == {"productChanged": {"entity": {"name": "Product 1"}}}
    assert second.data == {"productChanged": {"entity": {"name": "Renamed"}}}
    assert live.products.calls["get_entities"] == 2
    await stream.close()


async def test_entity_changed_filters_by_type_and_id_and_resolves_the_union() -> None:
    live = Live()
    stream = await live.subscribe(
        """subscription ($id: ID) { entityChanged(type: "Invoice", id: $id) {
             entityType entity { __typename ... on Invoice { invoiceNumber } } } }""",
        id="inv-1-2",
    )

    def publish() -> None:
        live.feed.publish(event(live.customers, "c-1"))  # another type
        live.feed.publish(event(live.invoices, "inv-1-1"))  # another id
        live.feed.publish(event(live.invoices, "inv-1-2"))

    result = await stream.next(publish)
    assert result.data == {
        "entityChanged": {
            "entityType": "invoice",
            "entity": {"__typename": "Invoice", "invoiceNumber": "INV-001-2"},
        }
    }
    await stream.close()


async def test_a_deleted_entity_arrives_without_entity() -> None:
    live = Live()
    stream = await live.subscribe(
        'subscription { entityChanged(type: "customer") { eventType entity { __typename } } }'
    )
    gone = event(live.customers, "c-3", event_type=EventType.DELETED)
    result = await stream.next(lambda: live.feed.publish(gone))
    assert result.data == {"entityChanged": {"eventType": "DELETED", "entity": None}}
    assert live.customers.calls == {}  # nothing to load
    await stream.close()


async def test_a_subscriber_sees_only_its_tenants_events() -> None:
    live = Live()
    acme = Principal(subject="alice", tenant="acme")
    with bind(acme):
        stream = await live.subscribe("subscription { customerChanged { entityId } }")

        def publish() -> None:
            live.feed.publish(event(live.customers, "c-1"))  # no tenant
            live.feed.publish(event(live.customers, "c-2", tenant="globex"))
            live.feed.publish(event(live.customers, "c-3", tenant="acme"))

        result = await stream.next(publish)
        await stream.close()
    assert result.data == {"customerChanged": {"entityId": "c-3"}}


async def test_bad_arguments_are_refused_before_subscribing() -> None:
    live = Live()
    for query in (
        'subscription { entityChanged(type: "nope") { version } }',
        'subscription { customerChanged(id: "a/b") { version } }',
    ):
        stream = await live.subscribe(query)
        result = await stream.next()
        assert result.data is None
        assert [e.extensions["code"] for e in result.errors] == ["BAD_USER_INPUT"]
        await stream.close()
    assert live.feed.subscriber_count == 0


async def test_a_slow_subscriber_gets_a_coded_error_and_ends() -> None:
    live = Live(queue_size=2)
    stream = await live.subscribe("subscription { customerChanged { version } }")

    def flood() -> None:
        for version in range(2, 8):
            live.feed.publish(event(live.customers, "c-1", version=version))

    result = await stream.next(flood)
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["SUBSCRIBER_TOO_SLOW"]
    assert await stream.next() is _END


def test_without_a_feed_the_schema_has_no_subscriptions() -> None:
    customers, invoices, products = shop()
    schema = build_live_schema(MemoryRegistry([customers, invoices, products]), None)
    assert schema.subscription is None


def test_a_mesh_without_entity_types_has_a_schema_without_change_subscriptions() -> None:
    # a catalog-only node (no adapters) still serves GraphQL: the container image's default
    schema = build_live_schema(MemoryRegistry([]), ChangeFeed())
    assert schema.subscription is None
    assert schema.execute_sync("{ __typename }").data == {"__typename": "Query"}


def test_names_that_would_clash_are_refused() -> None:
    clash = EntitySchema(
        entity_type="customer_change", domain="customers", fields=list(CUSTOMER.fields)
    )
    adapter = MemoryAdapter(clash)
    adapter.source = SourceRef(domain="customers", system="memory")
    customers, _, _ = shop()
    with pytest.raises(ConfigurationError, match="CustomerChange"):
        build_live_schema(MemoryRegistry([customers, adapter]), ChangeFeed())
