"""Avro (parsed by fastavro, the typed-events records), JSON Schema 2020-12 (validating the
sample sources' entities read through the reference adapters, rejecting bad ones) and the
GraphQL SDL."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import fastavro
import httpx
import jsonschema
import pytest
from graphql import build_schema

from dictamesh.adapters.reference.customers_directus import DirectusCustomersAdapter
from dictamesh.adapters.reference.invoices_ecommerce import EcommerceInvoicesAdapter
from dictamesh.adapters.reference.payments_gateway import PaymentsGatewayAdapter
from dictamesh.adapters.reference.products_rest import ThirdPartyProductsAdapter
from dictamesh.codegen import avro, graphql
from dictamesh.codegen import jsonschema as jsonschema_target
from dictamesh.core.bus_config import AvroTimestamps
from dictamesh.core.models import Entity, Query
from dictamesh.core.settings import AdapterConfig, DictaMeshSettings
from dictamesh.events.avro_schema import entity_record
from dictamesh.events.avro_values import to_avro
from dictamesh.sources import directus, invoices, payments, products


def files(generated: list[Any]) -> dict[str, Any]:
    return {f.path: f.content for f in generated}


# --- Avro ------------------------------------------------------------------------------


def test_each_avsc_parses_with_fastavro_and_is_the_typed_event_record(
    settings: DictaMeshSettings, registry: Any
) -> None:
    written = files(avro.generate(settings, registry))
    for entity_type, schema in registry.schemas().items():
        document = json.loads(written[f"{entity_type}.avsc"])
        fastavro.parse_schema(document)
        assert document == entity_record(schema).schema  # one generator: the events'
    invoice = json.loads(written["invoice.avsc"])
    by_name = {f["name"]: f["type"] for f in invoice["fields"]}
    assert by_name["invoice_number"] == "string"  # required: not nullable
    assert by_name["total"] == ["null", "double"]
    assert by_name["issued_at"][1]["logicalType"] == "timestamp-millis"
    items = by_name["items"][1]
    assert items["type"] == "array"
    assert items["items"]["type"] == "record"


def test_avro_timestamps_follow_the_bus_setting(registry: Any) -> None:
    micros = DictaMeshSettings.from_mapping({"bus": {"avro_timestamps": "micros"}})
    invoice = json.loads(files(avro.generate(micros, registry))["invoice.avsc"])
    issued = next(f for f in invoice["fields"] if f["name"] == "issued_at")
    assert issued["type"][1] == {"type": "long", "logicalType": "timestamp-micros"}


async def test_sample_entities_round_trip_through_the_generated_avsc(
    settings: DictaMeshSettings, registry: Any, sample_entities: dict[str, list[Entity]]
) -> None:
    # the sample sources keep microseconds: millis would refuse them (docs/events.md)
    micros = settings.model_copy(
        update={"bus": settings.bus.model_copy(update={"avro_timestamps": AvroTimestamps.MICROS})}
    )
    written = files(avro.generate(micros, registry))
    schemas = registry.schemas()
    for entity_type, entities in sample_entities.items():
        parsed = fastavro.parse_schema(json.loads(written[f"{entity_type}.avsc"]))
        record = entity_record(schemas[entity_type], timestamps=AvroTimestamps.MICROS)
        for entity in entities:
            value = to_avro(record, entity.attributes, where=entity.id)
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, parsed, value)
            buffer.seek(0)
            assert fastavro.schemaless_reader(buffer, parsed)["id"] == entity.attributes["id"]
        required = next(f["name"] for f in parsed["fields"] if isinstance(f["type"], str))
        with pytest.raises((ValueError, TypeError)):
            fastavro.schemaless_writer(io.BytesIO(), parsed, {**value, required: None})


# --- JSON Schema -----------------------------------------------------------------------


def _config(kind: str) -> AdapterConfig:
    return AdapterConfig(
        name=kind,
        kind=kind,
        base_url="http://source",
        poll_interval_seconds=None,
        resilience={"max_attempts": 1, "timeout_seconds": 5},
    )


SOURCES = [
    (DirectusCustomersAdapter, "customers_directus", directus, "Bearer"),
    (ThirdPartyProductsAdapter, "products_rest", products, "X-API-Key"),
    (EcommerceInvoicesAdapter, "invoices_ecommerce", invoices, "Bearer"),
    (PaymentsGatewayAdapter, "payments_gateway", payments, "Bearer"),
]


@pytest.fixture
async def sample_entities() -> AsyncIterator[dict[str, list[Entity]]]:
    """The first page of every sample source, read through its reference adapter."""
    found: dict[str, list[Entity]] = {}
    for cls, kind, module, scheme in SOURCES:
        app = module.create_app(rate_limit=None) if module is products else module.create_app()
        headers = (
            {"X-API-Key": module.DEFAULT_API_KEY}
            if scheme == "X-API-Key"
            else {"Authorization": f"Bearer {module.DEFAULT_TOKEN}"}
        )
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(
                transport=transport, base_url="http://source", headers=headers
            ) as client,
            cls(_config(kind), client=client) as adapter,
        ):
            page = await adapter.query_entities(Query(limit=50))
            found[adapter.entity_type] = page.items
        await app.state.store.aclose()
    return found


def _validators(settings: DictaMeshSettings, registry: Any) -> dict[str, Any]:
    written = files(jsonschema_target.generate(settings, registry))
    index = json.loads(written["index.json"])["entity_types"]
    validators = {}
    for entity_type, entry in index.items():
        schema = json.loads(written[entry["schema"]])
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        validators[entity_type] = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
    return validators


async def test_the_sample_sources_entities_validate(
    settings: DictaMeshSettings, registry: Any, sample_entities: dict[str, list[Entity]]
) -> None:
    validators = _validators(settings, registry)
    assert sorted(validators) == ["customer", "invoice", "payment", "product"]
    for entity_type, entities in sample_entities.items():
        assert len(entities) >= 5, entity_type
        for entity in entities:
            errors = [e.message for e in validators[entity_type].iter_errors(entity.attributes)]
            assert errors == [], (entity_type, entity.id, errors)


async def test_bad_entities_are_rejected(
    settings: DictaMeshSettings, registry: Any, sample_entities: dict[str, list[Entity]]
) -> None:
    validators = _validators(settings, registry)
    invoice = next(e.attributes for e in sample_entities["invoice"] if e.attributes.get("items"))
    customer = sample_entities["customer"][0].attributes

    def rejected(entity_type: str, attributes: dict[str, Any]) -> bool:
        return not validators[entity_type].is_valid(attributes)

    missing = copy.deepcopy(invoice)
    del missing["invoice_number"]  # required
    assert rejected("invoice", missing)
    assert rejected("invoice", {**copy.deepcopy(invoice), "invoice_number": None})
    assert rejected("invoice", {**copy.deepcopy(invoice), "total": "12.50"})  # a number
    bad_item = copy.deepcopy(invoice)
    bad_item["items"][0]["quantity"] = 1.5  # integer in a nested $defs record
    assert rejected("invoice", bad_item)
    assert rejected("invoice", {**copy.deepcopy(invoice), "issued_at": 1_700_000_000})
    assert rejected("invoice", {**copy.deepcopy(invoice), "items": [{"id": "only-an-id"}]})
    assert rejected("customer", {**customer, "email": 42})
    assert not rejected("customer", {**customer, "phone": None})  # optional: null is fine
    assert not rejected("customer", {**customer, "loyalty_tier": "gold"})  # new fields pass


# --- GraphQL ---------------------------------------------------------------------------


def test_the_sdl_parses_and_has_every_entity_type(
    settings: DictaMeshSettings, registry: Any
) -> None:
    sdl = files(graphql.generate(settings, registry))["schema.graphql"]
    schema = build_schema(sdl)
    for name in ("Customer", "Invoice", "InvoiceItem", "Payment", "Product"):
        assert name in schema.type_map
    assert schema.subscription_type is not None  # the change feed, as a node serves it
    query_fields = schema.query_type.fields if schema.query_type else {}
    assert "catalogEntry" in query_fields
    assert "invoices" in query_fields


def test_saga_and_notification_fields_follow_the_settings(registry: Any) -> None:
    on = DictaMeshSettings.from_mapping(
        {"saga": {"enabled": True}, "notifications": {"enabled": True}}
    )
    off = DictaMeshSettings.from_mapping(
        {"saga": {"enabled": False}, "notifications": {"enabled": False}}
    )
    with_parts = graphql.schema_sdl(on, registry)
    without = graphql.schema_sdl(off, registry)
    assert "createInvoice(" in with_parts
    assert "createInvoice(" not in without
    assert "markNotificationsRead" in with_parts
    assert "markNotificationsRead" not in without
