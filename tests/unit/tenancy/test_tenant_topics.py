"""Per-tenant topics: naming, the publisher's routing and quota, the event's tenant on
consumption, and a whole embedded node consuming its tenants' topics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.gateway.fakes import CUSTOMER, MemoryAdapter

from dictamesh.cache.keys import entity_key
from dictamesh.core.errors import (
    ConfigurationError,
    EntityNotFound,
    PermissionDenied,
    TenantQuotaExceeded,
    ValidationError,
)
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.core.settings import DictaMeshSettings, QuotaSettings, TenancySettings
from dictamesh.events.publisher import EventPublisher
from dictamesh.node import MeshNode
from dictamesh.tenancy import (
    TenantQuotas,
    event_for_topic,
    subscription_topics,
    tenant_context,
    tenant_topic,
    topic_tenant,
)
from dictamesh.testing.bus import InMemoryBus

SOURCE = SourceRef(domain="customers", system="crm")
TOPIC = "customers.crm.entity_changed"


def event(entity_id: str = "c-1", tenant: str | None = None, name: str = "Ada") -> ChangeEvent:
    entity = Entity(
        type="customer", id=entity_id, source=SOURCE, tenant_id=tenant, attributes={"name": name}
    )
    return ChangeEvent.for_change(EventType.CREATED, entity)


# --- naming ---------------------------------------------------------------------------------


def test_tenant_topic_names() -> None:
    assert tenant_topic(TOPIC, "acme") == f"acme.{TOPIC}"
    assert tenant_topic(TOPIC, None) == TOPIC
    assert tenant_topic(TOPIC, "default") == TOPIC
    for bad in ("Acme", "acme-corp", "a.b", "9lives"):
        with pytest.raises(ValidationError, match="cannot prefix"):
            tenant_topic(TOPIC, bad)
    assert topic_tenant(f"acme.{TOPIC}") == "acme"
    assert topic_tenant(f"acme.{TOPIC}.dlq") == "acme"
    assert topic_tenant(TOPIC) is None
    assert topic_tenant(f"{TOPIC}.dlq") is None


def test_subscription_covers_the_configured_tenants() -> None:
    on = TenancySettings(tenants=["acme", "globex"], topic_prefix_per_tenant=True)
    assert subscription_topics([TOPIC, TOPIC], on) == [
        TOPIC,
        f"acme.{TOPIC}",
        f"globex.{TOPIC}",
    ]
    off = TenancySettings(tenants=["acme"])
    assert subscription_topics([TOPIC], off) == [TOPIC]


def test_tenants_that_cannot_prefix_topics_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="cannot prefix topics"):
        DictaMeshSettings.from_mapping(
            {"tenancy": {"tenants": ["Acme-Corp"], "topic_prefix_per_tenant": True}}
        )
    # without prefixes any tenant id is fine
    DictaMeshSettings.from_mapping({"tenancy": {"tenants": ["Acme-Corp"]}})


# --- the consumer's view: the topic is the authority ------------------------------------------


def test_an_event_without_tenant_gets_its_topics_tenant() -> None:
    assert event_for_topic(event(), f"acme.{TOPIC}").tenant_id == "acme"
    assert event_for_topic(event(tenant="acme"), f"acme.{TOPIC}").tenant_id == "acme"
    assert event_for_topic(event(), TOPIC).tenant_id is None


def test_an_event_claiming_another_tenant_is_refused() -> None:
    with pytest.raises(PermissionDenied, match="globex"):
        event_for_topic(event(tenant="globex"), f"acme.{TOPIC}")
    # shared topics: anything goes unless the mesh uses per-tenant topics
    assert event_for_topic(event(tenant="globex"), TOPIC).tenant_id == "globex"
    with pytest.raises(PermissionDenied, match="shared topic"):
        event_for_topic(event(tenant="globex"), TOPIC, strict=True)
    assert event_for_topic(event(tenant="default"), TOPIC, strict=True).tenant_id == "default"


# --- the publisher --------------------------------------------------------------------------


@pytest.fixture
async def bus() -> AsyncIterator[InMemoryBus]:
    async with InMemoryBus() as bus:
        yield bus


async def test_publisher_routes_each_event_to_its_tenants_topic(bus: InMemoryBus) -> None:
    publisher = EventPublisher(bus, tenant_topics=True)
    metas = await publisher.publish_events(
        [event("c-1", "acme"), event("c-2"), event("c-3", "globex")]
    )
    assert [m.topic for m in metas] == [f"acme.{TOPIC}", TOPIC, f"globex.{TOPIC}"]
    single = await publisher.publish_event(event("c-4", "default"))
    assert single.topic == TOPIC
    with pytest.raises(ValidationError):
        await publisher.publish_event(event("c-5", "Not-A-Prefix"))
    # a tenant's topic is created with its base topic's spec
    base = publisher.spec_for("customers.directus.entity_changed")
    acme = publisher.spec_for("acme.customers.directus.entity_changed")
    assert acme.retention_ms == base.retention_ms
    assert acme.name == "acme.customers.directus.entity_changed"


async def test_publisher_without_tenant_topics_keeps_one_topic(bus: InMemoryBus) -> None:
    publisher = EventPublisher(bus)
    assert (await publisher.publish_event(event("c-1", "acme"))).topic == TOPIC


async def test_publisher_quota_refuses_a_whole_call_before_sending_anything(
    bus: InMemoryBus,
) -> None:
    quotas = TenantQuotas(
        QuotaSettings.model_validate(
            {
                "default": {
                    "events_per_second": 1,
                    "event_burst": 2,
                    "max_publish_delay_seconds": 0,
                }
            }
        )
    )
    publisher = EventPublisher(bus, tenant_topics=True, quota=quotas)
    await publisher.publish_events([event("c-1", "acme"), event("c-2", "acme")])
    with pytest.raises(TenantQuotaExceeded):
        await publisher.publish_events([event("c-3", "globex"), event("c-4", "acme")])
    with pytest.raises(TenantQuotaExceeded):
        await publisher.publish_event(event("c-5", "acme"))
    assert sum(publisher.stats.published.values()) == 2
    # globex's own quota is untouched by acme's
    await publisher.publish_event(event("c-6", "globex"))


# --- a node on the embedded bus ---------------------------------------------------------------


class QuietCustomers(MemoryAdapter):
    """Customers of the ``crm`` system; change capture waits forever (events come from the
    test)."""

    async def stream_changes(self) -> AsyncIterator[ChangeEvent]:
        await asyncio.Event().wait()
        yield event()  # pragma: no cover


def node_settings(state: Path, catalog_url: str, **tenancy: Any) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "tenants",
            "state_dir": str(state),
            "bus": {"path": str(state / "bus.sqlite3"), "max_delivery_attempts": 1},
            "catalog": {"url": catalog_url},
            "tenancy": tenancy,
        }
    )


async def eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except (AssertionError, EntityNotFound):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_embedded_node_consumes_each_tenants_topic_in_its_context(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    settings = node_settings(
        tmp_path, sqlite_catalog_url, tenants=["acme", "globex"], topic_prefix_per_tenant=True
    )
    adapter = QuietCustomers(CUSTOMER, system="crm")
    async with MeshNode(settings, adapters=[adapter]) as node:
        assert node.topics == [TOPIC, f"acme.{TOPIC}", f"globex.{TOPIC}"]
        for tenant in ("acme", "globex"):
            await node.cache.set(entity_key(tenant, "customer", "c-1"), {"name": "cached"})
        metas = await node.publisher.publish_events(
            [event("c-1", "acme", "Ada"), event("c-1", "globex", "Gus"), event("c-1", None, "Dee")]
        )
        assert [m.topic for m in metas] == [f"acme.{TOPIC}", f"globex.{TOPIC}", TOPIC]
        # a producer on acme's topic writing for globex: dead-lettered, never applied
        rogue, headers = node.serializer.encode(event("c-666", "globex", "Mallory"))
        await node.bus.publish(f"acme.{TOPIC}", rogue, key="c-666", headers=headers)
        # and an event on acme's topic naming no tenant is acme's
        anonymous, headers = node.serializer.encode(event("c-2", None, "Ann"))
        await node.bus.publish(f"acme.{TOPIC}", anonymous, key="c-2", headers=headers)

        async def ingested() -> dict[str, str]:
            names = {}
            for tenant in ("acme", "globex", None):
                with tenant_context(tenant):
                    location = await node.catalog.get_entity_location("customer", "c-1")
                    names[location.tenant_id] = location.attributes["name"]
            with tenant_context("acme"):
                await node.catalog.get_entity_location("customer", "c-2")
            return names

        assert await eventually(ingested) == {"acme": "Ada", "globex": "Gus", "default": "Dee"}

        async def invalidated() -> None:
            for tenant in ("acme", "globex"):
                assert await node.cache.get(entity_key(tenant, "customer", "c-1")) is None

        await eventually(invalidated)

        async def dead_lettered() -> None:
            for tenant in ("acme", "globex", None):
                with tenant_context(tenant), pytest.raises(EntityNotFound):
                    await node.catalog.get_entity_location("customer", "c-666")
            async with node.bus.consumer("t-dlq", [f"acme.{TOPIC}.dlq"]) as consumer:
                messages = await consumer.poll(timeout=0.2)
                assert [m.key for m in messages] == ["c-666"]

        await eventually(dead_lettered)


async def test_embedded_node_without_tenant_topics_is_unchanged(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    adapter = QuietCustomers(CUSTOMER, system="crm")
    settings = node_settings(tmp_path, sqlite_catalog_url, tenants=["acme"])
    async with MeshNode(settings, adapters=[adapter]) as node:
        assert node.topics == [TOPIC]
        meta = await node.publisher.publish_event(event("c-1", "acme"))
        assert meta.topic == TOPIC

        async def ingested() -> None:
            with tenant_context("acme"):
                await node.catalog.get_entity_location("customer", "c-1")

        await eventually(ingested)
