"""The catalog's schema registry on a real port, driven by Confluent's own Python client.

confluent-kafka's ``SchemaRegistryClient``/``AvroSerializer``/``AvroDeserializer`` and our
``HttpSchemaRegistryClient`` talk HTTP to ``create_app(...)`` served by uvicorn at
``<base>/schema-registry``. The Confluent client is synchronous, so it runs in a thread
while the server answers on the test's event loop. The catalog is a SQLite file, and (marker
``postgres``) a PostgreSQL database; one ``kafka`` test goes through a real broker.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import pytest

from dictamesh._serving import serve_in_process
from dictamesh.api import ApiContext, create_app
from dictamesh.catalog import CatalogService
from dictamesh.core.errors import NotFoundError, SchemaCompatibilityError, ValidationError
from dictamesh.events.avro import AvroEventSerializer, event_from_record
from dictamesh.events.schema_registry import HttpSchemaRegistryClient
from tests.integration.confluent_support import change_events, consume_with_librdkafka
from tests.unit.gateway.fakes import MemoryRegistry

confluent_kafka = pytest.importorskip("confluent_kafka")
sr = pytest.importorskip(
    "confluent_kafka.schema_registry", reason="needs confluent-kafka[schemaregistry] (dev extra)"
)
sr_avro = pytest.importorskip("confluent_kafka.schema_registry.avro")
serialization = pytest.importorskip("confluent_kafka.serialization")

T = TypeVar("T")

USER_V1 = {
    "type": "record",
    "name": "User",
    "namespace": "it.registry",
    "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}],
}
USER_V2 = {  # BACKWARD compatible: the new field has a default
    **USER_V1,
    "fields": [*USER_V1["fields"], {"name": "email", "type": ["null", "string"], "default": None}],
}
USER_BREAKING = {  # not BACKWARD compatible: a new field without a default
    **USER_V1,
    "fields": [*USER_V1["fields"], {"name": "country", "type": "string"}],
}


async def in_thread(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # The Confluent client blocks; the server shares this event loop.
    return await asyncio.to_thread(call, *args, **kwargs)


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def catalog(request: pytest.FixtureRequest) -> AsyncIterator[CatalogService]:
    if request.param == "sqlite":
        url = request.getfixturevalue("sqlite_catalog_url")  # a fresh copy, already at head
    else:
        # A shared database: tests use subjects unique to them and set no global config.
        url = request.getfixturevalue("postgres_url")
    async with await CatalogService.open(url) as catalog:
        yield catalog


@pytest.fixture
async def registry_url(catalog: CatalogService) -> AsyncIterator[str]:
    app = create_app(ApiContext(registry=MemoryRegistry([]), catalog=catalog))
    async with serve_in_process(app, "127.0.0.1", 0, what="schema registry") as base:
        yield f"{base}/schema-registry"


@pytest.fixture
def confluent_client() -> Iterator[Callable[[str], Any]]:
    """``confluent_client(url)``: a new Confluent client (empty caches), closed at the end."""
    made: list[Any] = []

    def make(url: str) -> Any:
        made.append(sr.SchemaRegistryClient({"url": url, "max.retries": 0}))
        return made[-1]

    yield make
    for client in made:
        client.close()


def value_ctx(topic: str) -> Any:
    return serialization.SerializationContext(topic, serialization.MessageField.VALUE)


async def test_confluent_client_registers_reads_checks_and_configures(
    registry_url: str, uid: str, confluent_client: Callable[[str], Any]
) -> None:
    client = confluent_client(registry_url)
    subject = f"it-{uid}-value"
    v1 = sr.Schema(json.dumps(USER_V1), "AVRO")
    v1_id = await in_thread(client.register_schema, subject, v1)
    # idempotent: the same schema again (with a fresh client: no cache) has the same id
    again = await in_thread(confluent_client(registry_url).register_schema, subject, v1)
    assert again == v1_id

    latest = await in_thread(client.get_latest_version, subject)
    assert (latest.subject, latest.version, latest.schema_id) == (subject, 1, v1_id)
    assert json.loads(latest.schema.schema_str) == USER_V1
    fetched = await in_thread(confluent_client(registry_url).get_schema, v1_id)
    assert json.loads(fetched.schema_str) == USER_V1
    assert fetched.schema_type == "AVRO"
    found = await in_thread(confluent_client(registry_url).lookup_schema, subject, v1)
    assert (found.version, found.schema_id) == (1, v1_id)
    assert subject in await in_thread(client.get_subjects)
    assert await in_thread(client.get_schema_types) == ["AVRO"]

    v2 = sr.Schema(json.dumps(USER_V2), "AVRO")
    breaking = sr.Schema(json.dumps(USER_BREAKING), "AVRO")
    assert await in_thread(client.test_compatibility, subject, v2) is True
    assert await in_thread(client.test_compatibility, subject, breaking) is False
    assert await in_thread(client.test_compatibility, subject, breaking, 1, verbose=True) is False
    with pytest.raises(sr.SchemaRegistryError) as refused:
        await in_thread(client.register_schema, subject, breaking)
    assert refused.value.http_status_code == 409
    assert refused.value.error_code == 409
    assert "country" in refused.value.error_message

    v2_id = await in_thread(client.register_schema, subject, v2)
    assert v2_id != v1_id
    assert await in_thread(client.get_versions, subject) == [1, 2]
    version = await in_thread(client.get_version, subject, 2)
    assert (version.version, version.schema_id) == (2, v2_id)

    # with compatibility off for the subject the breaking change goes in
    with pytest.raises(sr.SchemaRegistryError) as unset:
        await in_thread(client.get_config, subject)
    assert unset.value.error_code == 40408
    config = sr.ServerConfig(compatibility=sr.ConfigCompatibilityLevel.NONE)
    await in_thread(client.set_config, subject, config)
    assert (await in_thread(client.get_config, subject)).compatibility_level.value == "NONE"
    assert await in_thread(client.get_compatibility, subject) == "NONE"
    assert await in_thread(client.test_compatibility, subject, breaking) is True
    assert await in_thread(client.register_schema, subject, breaking) not in (v1_id, v2_id)
    await in_thread(client.set_compatibility, subject, "FULL_TRANSITIVE")
    assert await in_thread(client.get_compatibility, subject) == "FULL_TRANSITIVE"

    # deletes: soft, then hard
    assert await in_thread(client.delete_version, subject, 3) == 3
    assert await in_thread(client.get_versions, subject) == [1, 2]
    assert await in_thread(client.delete_subject, subject) == [1, 2]
    assert subject not in await in_thread(client.get_subjects)
    assert subject in await in_thread(client.get_subjects, None, True)
    assert await in_thread(client.delete_subject, subject, True) == [1, 2, 3]
    assert subject not in await in_thread(client.get_subjects, None, True)
    with pytest.raises(sr.SchemaRegistryError) as gone:
        await in_thread(confluent_client(registry_url).get_latest_version, subject)
    assert (gone.value.http_status_code, gone.value.error_code) == (404, 40401)


async def test_avro_serializer_round_trip_in_confluent_wire_format(
    registry_url: str, uid: str, confluent_client: Callable[[str], Any]
) -> None:
    topic = f"it.registry.{uid}"
    writer = confluent_client(registry_url)
    serializer = sr_avro.AvroSerializer(writer, json.dumps(USER_V1))
    record = {"name": "Ada", "age": 36}
    data = await in_thread(serializer, record, value_ctx(topic))
    assert data[0] == 0  # magic byte, then the schema id (big-endian int32)
    schema_id = int.from_bytes(data[1:5], "big")
    latest = await in_thread(writer.get_latest_version, f"{topic}-value")
    assert latest.schema_id == schema_id

    # a reader that has never seen the schema resolves the id over HTTP
    deserializer = sr_avro.AvroDeserializer(confluent_client(registry_url))
    assert await in_thread(deserializer, data, value_ctx(topic)) == record
    # ... and so does our own client
    async with HttpSchemaRegistryClient(registry_url) as ours:
        assert json.loads(await ours.get_by_id(schema_id)) == USER_V1

    # an evolved writer: old data still reads, new data reads with the new field
    serializer_v2 = sr_avro.AvroSerializer(confluent_client(registry_url), json.dumps(USER_V2))
    data_v2 = await in_thread(
        serializer_v2, {"name": "Bob", "age": 7, "email": "b@x.io"}, value_ctx(topic)
    )
    assert int.from_bytes(data_v2[1:5], "big") != schema_id
    fresh = sr_avro.AvroDeserializer(confluent_client(registry_url))
    assert (await in_thread(fresh, data_v2, value_ctx(topic)))["email"] == "b@x.io"
    assert await in_thread(fresh, data, value_ctx(topic)) == record

    breaking = sr_avro.AvroSerializer(confluent_client(registry_url), json.dumps(USER_BREAKING))
    with pytest.raises(sr.SchemaRegistryError) as refused:
        await in_thread(breaking, {"name": "C", "age": 1, "country": "NL"}, value_ctx(topic))
    assert refused.value.http_status_code == 409


async def test_our_http_client_against_the_catalog_registry(registry_url: str, uid: str) -> None:
    subject = f"ours-{uid}-value"
    v1, v2 = json.dumps(USER_V1), json.dumps(USER_V2)
    async with HttpSchemaRegistryClient(registry_url) as client:
        first = await client.register(subject, v1)
        assert await client.lookup(subject, v1) == first
        assert await client.lookup(subject, v2) is None
        second = await client.register(subject, v2)
        assert second != first
        latest_id, latest_version, latest_schema = await client.get_latest(subject)
        assert (latest_id, latest_version, json.loads(latest_schema)) == (second, 2, USER_V2)
        with pytest.raises(SchemaCompatibilityError) as refused:
            await client.register(subject, json.dumps(USER_BREAKING))
        assert refused.value.details["registry_error_code"] == 409
        with pytest.raises(NotFoundError):
            await client.get_by_id(2**31 - 1)
        with pytest.raises(NotFoundError):
            await client.get_latest(f"nobody-{uid}")
        with pytest.raises(ValidationError) as invalid:
            await client.register(subject, '{"type": "recrod"}')
        assert invalid.value.details["registry_error_code"] == 42201
    # a fresh client (empty caches) sees the same ids
    async with HttpSchemaRegistryClient(registry_url) as other:
        assert await other.register(subject, v1) == first
        assert json.loads(await other.get_by_id(second)) == USER_V2


async def test_our_avro_events_decode_with_confluent_deserializer(
    registry_url: str, uid: str, confluent_client: Callable[[str], Any]
) -> None:
    """No broker: our serializer's bytes, registered through HTTP, read by Confluent's."""
    async with HttpSchemaRegistryClient(registry_url) as registry:
        ours = AvroEventSerializer(registry)
        events = change_events(f"sr{uid}", 3)
        deserializer = sr_avro.AvroDeserializer(confluent_client(registry_url))
        for event in events:
            value, _headers = await ours.encode_async(event)
            decoded = await in_thread(deserializer, value, value_ctx(event.topic))
            assert event_from_record(decoded) == event


@pytest.mark.kafka
@pytest.mark.parametrize("catalog", ["sqlite"], indirect=True)
async def test_events_through_kafka_with_the_catalog_as_registry(
    registry_url: str, kafka_bootstrap: str, uid: str, confluent_client: Callable[[str], Any]
) -> None:
    from dictamesh.events.kafka import KafkaBus
    from dictamesh.events.topics import TopicSpec

    events = change_events(f"sr{uid}", 4)
    topic = events[0].topic
    async with (
        HttpSchemaRegistryClient(registry_url) as registry,
        KafkaBus(kafka_bootstrap, client_id="dictamesh-tests", topic_specs=(), linger_ms=0) as bus,
    ):
        await bus.ensure_topic(TopicSpec(name=topic, partitions=1))
        serializer = AvroEventSerializer(registry)
        await serializer.prepare([topic])
        for event in events:
            value, headers = serializer.encode(event)
            await bus.publish(topic, value, key=event.key, headers=headers)

    records = await in_thread(consume_with_librdkafka, kafka_bootstrap, topic, len(events))
    assert len(records) == len(events)
    deserializer = sr_avro.AvroDeserializer(confluent_client(registry_url))
    decoded = [
        event_from_record(await in_thread(deserializer, r.value(), value_ctx(topic)))
        for r in records
    ]
    assert decoded == events
    latest = await in_thread(confluent_client(registry_url).get_latest_version, f"{topic}-value")
    assert {int.from_bytes(r.value()[1:5], "big") for r in records} == {latest.schema_id}
