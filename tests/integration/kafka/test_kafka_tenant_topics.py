"""Per-tenant topic prefixes on a real Kafka broker: the publisher routes each event to
``<tenant>.<domain>.<source>.<event>``, a consumer of the configured tenants' topics gets
them all and handles each in its topic's tenant (a contradicting event is refused)."""

from __future__ import annotations

import pytest
from tests.integration.kafka.conftest import PollUntil

from dictamesh.core.context import current_tenant
from dictamesh.core.errors import PermissionDenied
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.core.settings import TenancySettings
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.tenancy import event_for_topic, subscription_topics, tenant_context

pytestmark = pytest.mark.kafka


def _event(source: SourceRef, entity_id: str, tenant: str | None) -> ChangeEvent:
    entity = Entity(
        type="widget", id=entity_id, source=source, tenant_id=tenant, attributes={"n": 1}
    )
    return ChangeEvent.for_change(EventType.CREATED, entity)


async def test_tenant_prefixed_topics_on_kafka(
    kafka_bus: KafkaBus, uid: str, poll_until: PollUntil
) -> None:
    source = SourceRef(domain="it", system=f"k{uid}")
    base = f"it.k{uid}.entity_changed"
    serializer = JsonEventSerializer()
    publisher = EventPublisher(kafka_bus, serializer, topic_specs=(), tenant_topics=True)
    metas = await publisher.publish_events(
        [
            _event(source, "w-1", "acme"),
            _event(source, "w-2", "globex"),
            _event(source, "w-3", None),
        ]
    )
    assert [m.topic for m in metas] == [f"acme.{base}", f"globex.{base}", base]
    # a producer with access to acme's topic writing for globex
    rogue, headers = serializer.encode(_event(source, "w-4", "globex"))
    await kafka_bus.publish(f"acme.{base}", rogue, key="w-4", headers=headers)

    tenancy = TenancySettings(tenants=["acme", "globex"], topic_prefix_per_tenant=True)
    topics = subscription_topics([base], tenancy)
    assert topics == [base, f"acme.{base}", f"globex.{base}"]
    seen: dict[str, tuple[str, str | None]] = {}
    refused: list[str] = []
    async with kafka_bus.consumer(f"it-tenants-{uid}", topics) as consumer:
        for message in await poll_until(consumer, 4, timeout=30):
            decoded = serializer.decode(message.value, message.headers)
            try:
                event = event_for_topic(decoded, message.topic, strict=True)
            except PermissionDenied:
                refused.append(decoded.entity.id)
                continue
            with tenant_context(event.tenant_id):
                seen[event.entity.id] = (message.topic, current_tenant.get())
    assert seen == {
        "w-1": (f"acme.{base}", "acme"),
        "w-2": (f"globex.{base}", "globex"),
        "w-3": (base, None),
    }
    assert refused == ["w-4"]
