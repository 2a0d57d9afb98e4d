"""``bus.serialization: avro`` on a whole node (embedded bus): typed records registered under
``<topic>-value`` at start, captured changes ingested into the catalog from them, the change
feed fed, and schema evolution decided by the registry's rules at adapter start."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import fastavro
import pytest
from tests.unit.gateway.fakes import MemoryRegistry

from dictamesh._serving import serve_in_process
from dictamesh.api import ApiContext, create_app
from dictamesh.catalog import CatalogService
from dictamesh.core.errors import ConfigurationError, DictaMeshError, EntityNotFound
from dictamesh.core.models import EntitySchema, FieldSpec, FieldType
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.avro_typed import TypedAvroEventSerializer
from dictamesh.events.codecs import TopicCodec
from dictamesh.events.wire import unframe
from dictamesh.node import MeshNode
from dictamesh.testing.adapters import WIDGET_SCHEMA, FakeAdapter

TOPIC = "testing.fake.entity_changed"
SUBJECT = f"{TOPIC}-value"


def avro_settings(state: Path, **bus: Any) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "typed",
            "state_dir": str(state),
            "bus": {"path": str(state / "bus.sqlite3"), "serialization": "avro", **bus},
            "catalog": {
                "url": f"sqlite+aiosqlite:///{state / 'catalog.sqlite3'}",
                # the check runs in a worker process: room for a machine busy with other work
                "schema_registry": {"check_timeout_seconds": 20},
            },
            "saga": {"enabled": False},
            "notifications": {"enabled": False},
        }
    )


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except (AssertionError, EntityNotFound):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


class Widgets(FakeAdapter):
    """The fake widgets with another entity schema (a new version of the adapter)."""

    def __init__(self, schema: EntitySchema, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema = schema


def widget_schema(*extra: FieldSpec, drop: str | None = None) -> EntitySchema:
    fields = [f for f in WIDGET_SCHEMA.fields if f.name != drop]
    return WIDGET_SCHEMA.model_copy(update={"fields": [*fields, *extra]})


async def test_a_node_ingests_typed_avro_events(tmp_path: Path) -> None:
    adapter = FakeAdapter(records=[{"id": "w-1", "name": "Bolt", "size": 3, "tags": ["m"]}])
    async with MeshNode(avro_settings(tmp_path), adapters=[adapter]) as node:
        assert isinstance(node.serializer, TopicCodec)
        assert isinstance(node.serializer.base, TypedAvroEventSerializer)
        changes = node.changes.subscribe("widget")

        async def ingested() -> dict[str, Any]:
            location = await node.catalog.get_entity_location("widget", "w-1")
            assert location.attributes["size"] == 3
            return location.attributes

        attributes = await eventually(ingested)
        assert attributes["name"] == "Bolt"
        assert attributes["tags"] == ["m"]
        # the invalidation consumer decoded it too and handed it on
        seen = await asyncio.wait_for(anext(aiter(changes)), 10)
        assert seen.entity.id == "w-1"
        assert seen.after is not None
        assert seen.after["size"] == 3

        # registered in the node's own catalog registry, under TopicNameStrategy
        (stored,) = await node.catalog.list_schemas(SUBJECT)
        assert stored.schema_type == "AVRO"
        assert stored.version == 1
        # what is on the bus is Avro with real fields: a plain Avro reader sees an int
        async with node.bus.consumer("t-read", [TOPIC]) as consumer:
            (message,) = await consumer.poll(timeout=5)
        schema_id, payload = unframe(message.value)
        assert schema_id == stored.id
        writer = fastavro.parse_schema(json.loads(stored.schema_text))
        record = fastavro.schemaless_reader(io.BytesIO(payload), writer, None)
        assert isinstance(record, dict)
        assert record["after"]["size"] == 3
        assert record["after"]["name"] == "Bolt"


async def test_a_debezium_topic_with_avro_is_typed_and_ingested(tmp_path: Path) -> None:
    """``serialization: avro`` with ``envelope: debezium`` and CloudEvents headers: the
    per-topic codec writes Debezium's Envelope record typed from the entity schema, and the
    node's own ingest reads it back."""
    adapter = FakeAdapter(records=[{"id": "w-2", "name": "Nut", "size": 5, "tags": []}])
    topics = [{"name": TOPIC, "envelope": "debezium", "cloudevents": True}]
    async with MeshNode(avro_settings(tmp_path, topics=topics), adapters=[adapter]) as node:

        async def ingested() -> None:
            location = await node.catalog.get_entity_location("widget", "w-2")
            assert location.attributes["size"] == 5

        await eventually(ingested)
        (stored,) = await node.catalog.list_schemas(SUBJECT)
        async with node.bus.consumer("t-read-dbz", [TOPIC]) as consumer:
            (message,) = await consumer.poll(timeout=5)
    assert message.headers["ce_type"] == b"io.dictamesh.widget.created"
    assert message.headers["ce_subject"] == b"widget/w-2"
    schema_id, payload = unframe(message.value)
    assert schema_id == stored.id
    writer = fastavro.parse_schema(json.loads(stored.schema_text))
    record = fastavro.schemaless_reader(io.BytesIO(payload), writer, None)
    assert isinstance(record, dict)
    assert (record["op"], record["before"]) == ("c", None)
    assert record["after"]["size"] == 5
    assert record["source"]["entity_id"] == "w-2"


async def test_adding_an_optional_field_passes_a_breaking_change_stops_the_node(
    tmp_path: Path,
) -> None:
    settings = avro_settings(tmp_path)
    async with MeshNode(settings, adapters=[FakeAdapter()]):
        pass
    optional = widget_schema(FieldSpec(name="weight", type=FieldType.NUMBER))
    async with MeshNode(settings, adapters=[Widgets(optional)]) as node:
        assert await node.catalog.list_schema_versions(SUBJECT) == [1, 2]

    # The entity-schema subject is checked by the catalog's own rules first; leave it free
    # so that the Avro subject's rule is the one that speaks.
    async with await CatalogService.open(settings.catalog.url.get_secret_value()) as catalog:
        await catalog.set_compatibility("NONE", "widget")  # type: ignore[arg-type]

    required = widget_schema(
        FieldSpec(name="weight", type=FieldType.NUMBER),
        FieldSpec(name="serial", type=FieldType.STRING, required=True),
    )
    node = MeshNode(settings, adapters=[Widgets(required)])
    with pytest.raises(ConfigurationError) as caught:
        async with node:
            pass
    message = caught.value.message
    assert "adapter 'fake_widgets' cannot start" in message
    assert repr(SUBJECT) in message
    assert "widget.serial: added without a default (required)" in message

    retyped = widget_schema(FieldSpec(name="weight", type=FieldType.STRING), drop="size")
    with pytest.raises(ConfigurationError, match=r"widget\.weight: type"):
        async with MeshNode(settings, adapters=[Widgets(retyped)]):
            pass
    # refused versions were not registered
    async with await CatalogService.open(settings.catalog.url.get_secret_value()) as catalog:
        assert await catalog.list_schema_versions(SUBJECT) == [1, 2]


async def test_an_external_schema_registry_url_is_used(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    async with await CatalogService.open(sqlite_catalog_url) as registry_catalog:
        app = create_app(ApiContext(registry=MemoryRegistry([]), catalog=registry_catalog))
        async with serve_in_process(app, "127.0.0.1", 0, what="schema registry") as base:
            url = f"{base}/schema-registry"
            settings = avro_settings(tmp_path / "node", schema_registry_url=url)
            async with MeshNode(settings, adapters=[FakeAdapter()]) as node:
                assert await registry_catalog.list_schema_versions(SUBJECT) == [1]
                assert await node.catalog.list_schema_versions(SUBJECT) == []
                value, headers = node.serializer.encode(event_of(node))
            async with MeshNode(settings, adapters=[FakeAdapter()]) as again:
                # another node over the same registry reads the first one's values
                await again.serializer.resolve(value)
                assert again.serializer.decode(value, headers).entity.id == "w-9"


async def test_json_stays_the_default(tmp_path: Path) -> None:
    settings = avro_settings(tmp_path)
    settings.bus.serialization = "json"  # type: ignore[assignment]
    async with MeshNode(settings, adapters=[FakeAdapter()]) as node:
        assert node.serializer.content_type == "application/json"
        assert await node.catalog.list_schema_versions(SUBJECT) == []


def test_serve_exits_2_naming_the_field(tmp_path: Path) -> None:
    """``dictamesh serve`` with an adapter whose topic's registered schema its new one
    cannot replace: exit code 2 and the field in the message, no traceback."""
    from typer.testing import CliRunner

    from dictamesh.catalog.avro_registry import CatalogSchemaRegistry
    from dictamesh.cli.main import app

    catalog_url = f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}"

    async def register_an_older_incompatible_version() -> None:
        async with await CatalogService.open(catalog_url) as catalog:
            from dictamesh.adapters.reference.customers_directus import (
                DirectusCustomersAdapter,
            )

            serializer = TypedAvroEventSerializer(CatalogSchemaRegistry(catalog))
            old = serializer.value_schema([DirectusCustomersAdapter.schema])
            record = old["fields"][6]["type"][1]
            for entry in record["fields"]:
                if entry["name"] == "country":
                    entry["type"] = ["null", "long"]  # was a number: string cannot read it
            await serializer.registry.register(
                "customers.directus.entity_changed-value", json.dumps(old)
            )

    asyncio.run(register_an_older_incompatible_version())
    config = tmp_path / "mesh.yaml"
    config.write_text(
        f"state_dir: {tmp_path}\n"
        f"bus: {{path: {tmp_path}/bus.sqlite3, serialization: avro}}\n"
        f"catalog: {{url: '{catalog_url}'}}\n"
        "adapters:\n  - name: crm\n    kind: customers_directus\n"
        "    base_url: http://127.0.0.1:9\n"
    )
    result = CliRunner().invoke(app, ["serve", "--config", str(config), "--port", "0"])
    output = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "adapter 'crm' cannot start" in output
    assert "customers.directus.entity_changed-value" in output
    assert "customer.country: type" in output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, DictaMeshError) or result.exit_code == 2


def event_of(node: MeshNode) -> Any:
    from dictamesh.core.models import ChangeEvent, Entity, EventType

    adapter = next(iter(node.registry.adapters()))
    entity = Entity(type="widget", id="w-9", attributes={"name": "Nut"}, source=adapter.source)
    return ChangeEvent.for_change(EventType.CREATED, entity)
