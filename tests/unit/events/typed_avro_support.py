"""Entity schemas and events shared by the typed-Avro tests."""

from __future__ import annotations

from typing import Any

from dictamesh.core.models import (
    ChangeEvent,
    Classification,
    Entity,
    EntitySchema,
    EventType,
    FieldSpec,
    FieldType,
    SourceRef,
)

EVERY_TYPE = EntitySchema(
    entity_type="everything",
    domain="lab",
    description="One field of each type.",
    fields=[
        FieldSpec(
            name="s",
            type=FieldType.STRING,
            required=True,
            description="a required string",
            classification=Classification.PII_EMAIL,
        ),
        FieldSpec(name="i", type=FieldType.INTEGER),
        FieldSpec(name="n", type=FieldType.NUMBER),
        FieldSpec(name="b", type=FieldType.BOOLEAN),
        FieldSpec(name="at", type=FieldType.DATETIME),
        FieldSpec(name="day", type=FieldType.DATE),
        FieldSpec(name="blob", type=FieldType.JSON),
        FieldSpec(name="tags", type=FieldType.STRING, many=True),
    ],
)

CUSTOMER = EntitySchema(
    entity_type="customer",
    domain="crm",
    description="A customer.",
    fields=[
        FieldSpec(name="email", type=FieldType.STRING, required=True),
        FieldSpec(name="age", type=FieldType.INTEGER),
        FieldSpec(name="since", type=FieldType.DATETIME),
        FieldSpec(name="address", type=FieldType.JSON),
    ],
)

CRM = SourceRef(domain="crm", system="lab")
TOPIC = "crm.lab.entity_changed"


def customer_event(
    event_type: EventType = EventType.CREATED,
    *,
    entity_id: str = "c-1",
    before: dict[str, Any] | None = None,
    entity_type: str = "customer",
    **attributes: Any,
) -> ChangeEvent:
    """A change of a customer on ``TOPIC`` (attributes default to a full valid customer)."""
    values = attributes or {
        "email": "ada@example.org",
        "age": 36,
        "since": "2024-05-06T07:08:09.123Z",
        "address": {"city": "London", "lines": ["1 Main St"]},
    }
    entity = Entity(
        type=entity_type,
        id=entity_id,
        version=2,
        attributes=values,
        source=CRM,
        tenant_id="acme",
    )
    return ChangeEvent.for_change(event_type, entity, before=before)


def full(schema: EntitySchema, attributes: dict[str, Any]) -> dict[str, Any]:
    """``attributes`` as a decoded typed record has them: every field, null when unset."""
    return {spec.name: attributes.get(spec.name) for spec in schema.fields}
