"""Dead letters written the way ``run_consumer`` writes them: the event published to its
topic, read back, then copied to ``<topic>.dlq`` with ``dead_letter_headers``."""

from __future__ import annotations

from dictamesh.core.errors import SerializationError
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.events.consume import dead_letter_headers
from dictamesh.events.inspect import InspectableBus
from dictamesh.events.serde import HEADER_TENANT_ID, JsonEventSerializer
from dictamesh.events.topics import TopicSpec, dlq_topic

CRM = SourceRef(domain="customers", system="crm")


def customer_event(entity_id: str, email: str, tenant: str | None = None) -> ChangeEvent:
    entity = Entity(
        type="customer",
        id=entity_id,
        attributes={"name": f"Customer {entity_id}", "email": email, "country": "DE"},
        source=CRM,
        tenant_id=tenant,
    )
    return ChangeEvent.for_change(EventType.CREATED, entity)


async def send_to_dlq(
    bus: InspectableBus,
    topic: str,
    event: ChangeEvent,
    error: Exception | None = None,
    *,
    tenant: str | None = None,
) -> None:
    """Publish ``event`` to ``topic``, then dead-letter that record as a consumer would."""
    for name in (topic, dlq_topic(topic)):
        if name not in await bus.topic_names():
            await bus.ensure_topic(TopicSpec(name=name, partitions=1))
    value, headers = JsonEventSerializer().encode(event)
    if tenant is not None:
        headers[HEADER_TENANT_ID] = tenant.encode()
    written = await bus.publish(topic, value, key=event.entity.id, headers=headers)
    [original] = await bus.read(topic, written.partition, written.offset, 1)
    failure = error or SerializationError("customer.email: not a valid address")
    await bus.publish(
        dlq_topic(topic),
        original.value,
        key=original.key,
        headers=dead_letter_headers(original, failure, attempts=3),
    )
