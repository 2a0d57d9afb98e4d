"""Run windows (START once, COMPLETE when idle or long, FAIL with the error), the facets built
from entity schemas, and the emitter's queue; every event is checked against the spec."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import pytest
from jsonschema import ValidationError as SchemaError
from openlineage.client.serde import Serde
from openlineage.client.transport import Transport
from tests.notification_receivers import HttpReceiver, Reply, serving
from tests.unit.lineage.ol_schema import validate

from dictamesh import __version__
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.models import EntitySchema, FieldSpec, FieldType
from dictamesh.core.settings import DictaMeshSettings, OpenLineageSettings
from dictamesh.lineage import LineageEmitter, NodeLineage, build_transport
from dictamesh.lineage.facets import dataset_facets, owners_for
from dictamesh.lineage.transports import http_target
from dictamesh.testing.adapters import WIDGET_SCHEMA, FakeAdapter

INVOICE = EntitySchema(
    entity_type="invoice",
    domain="billing",
    description="An invoice.",
    fields=[
        FieldSpec(name="number", type=FieldType.STRING, required=True),
        FieldSpec(name="total", type=FieldType.NUMBER),
        FieldSpec(name="issued", type=FieldType.DATE),
    ],
    nested={
        "items": EntitySchema(
            entity_type="invoice_item",
            domain="billing",
            fields=[
                FieldSpec(name="sku", type=FieldType.STRING),
                FieldSpec(name="qty", type=FieldType.INTEGER),
            ],
        )
    },
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Collected(Transport):
    """Keeps the JSON of each event (as every transport serializes it)."""

    kind = "collected"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        #: set once the sending thread is inside emit (it has taken an event off the queue)
        self.sending = threading.Event()

    def emit(self, event: Any) -> None:
        self.sending.set()
        self.gate.wait(5)
        self.events.append(validate(json.loads(Serde.to_json(event))))


def lineage(clock: Clock, transport: Transport, **ol: Any) -> NodeLineage:
    settings = DictaMeshSettings(
        node_name="n1",
        # the transport is the test's own; "console" only satisfies the settings
        openlineage={
            "enabled": True,
            "transport": "console",
            "run_idle_seconds": 1,
            "run_max_seconds": 10,
            **ol,
        },
    )
    adapter = FakeAdapter()
    schemas = {"widget": WIDGET_SCHEMA, "invoice": INVOICE}
    return NodeLineage(settings, [adapter], lambda: schemas, transport=transport, clock=clock)


def widget_event() -> Any:
    from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef

    entity = Entity(
        type="widget",
        id="w-1",
        source=SourceRef(domain="testing", system="fake"),
        attributes={"name": "W"},
    )
    return ChangeEvent.for_change(EventType.CREATED, entity)


def invoice_event() -> Any:
    from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef

    entity = Entity(
        type="invoice",
        id="i-1",
        source=SourceRef(domain="billing", system="shop"),
        attributes={"number": "1", "items": [{"sku": "a", "qty": 1}]},
    )
    return ChangeEvent.for_change(EventType.CREATED, entity)


async def emitted(node: NodeLineage, transport: Collected) -> list[dict[str, Any]]:
    await node.aclose()
    return transport.events


async def test_a_sync_run_starts_once_and_completes_when_idle() -> None:
    clock, transport = Clock(), Collected()
    node = lineage(clock, transport)
    node.start()
    for _ in range(3):
        node.captured("fake_widgets", "testing.fake.entity_changed")
        clock.now += 0.5  # never idle for a whole second
    node.tick()
    clock.now += 1.0
    node.tick()
    node.captured("fake_widgets", "testing.fake.entity_changed")  # a second run
    events = await emitted(node, transport)
    product, topic_dataset, start, complete, start2, complete2 = events
    assert (product["dataset"]["namespace"], product["dataset"]["name"]) == (
        "dictamesh",
        "testing.widget",
    )
    assert (topic_dataset["dataset"]["namespace"], topic_dataset["dataset"]["name"]) == (
        "embedded://n1",
        "testing.fake.entity_changed",
    )
    assert topic_dataset["dataset"]["facets"]["dataSource"]["name"] == "embedded"
    assert [e["eventType"] for e in events[2:]] == ["START", "COMPLETE", "START", "COMPLETE"]
    assert start["run"]["runId"] == complete["run"]["runId"] != start2["run"]["runId"]
    assert start["job"] == {
        **start["job"],
        "namespace": "dictamesh",
        "name": "dictamesh.adapter_sync.fake_widgets",
    }
    job_type = start["job"]["facets"]["jobType"]
    assert (job_type["processingType"], job_type["integration"], job_type["jobType"]) == (
        "STREAMING",
        "DICTAMESH",
        "ADAPTER_SYNC",
    )
    assert start["run"]["facets"]["processing_engine"]["version"] == __version__
    [source] = complete["inputs"]
    assert (source["namespace"], source["name"]) == ("fake", "widgets")
    assert source["facets"]["dataSource"] == {
        **source["facets"]["dataSource"],
        "name": "fake",
        "uri": "http://fake.invalid",
    }
    [topic] = complete["outputs"]
    assert (topic["namespace"], topic["name"]) == ("embedded://n1", "testing.fake.entity_changed")
    assert topic["outputFacets"]["outputStatistics"]["rowCount"] == 3
    assert "outputFacets" not in start["outputs"][0] or not start["outputs"][0]["outputFacets"]
    after = next(f for f in topic["facets"]["schema"]["fields"] if f["name"] == "after")
    assert [f["name"] for f in after["fields"]] == ["name", "color", "size", "tags"]
    assert complete2["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 1


async def test_a_busy_stream_is_cut_into_runs_of_run_max_seconds() -> None:
    clock, transport = Clock(), Collected()
    node = lineage(clock, transport)
    node.start()
    for _ in range(25):  # 12.5 s of steady traffic, never idle
        node.captured("fake_widgets", "testing.fake.entity_changed")
        clock.now += 0.5
    events = (await emitted(node, transport))[2:]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"] * 2
    counts = [e["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] for e in events[1::2]]
    assert counts == [20, 5]


async def test_ingest_runs_map_topics_to_data_products_with_column_lineage() -> None:
    clock, transport = Clock(), Collected()
    node = lineage(clock, transport, owners={"billing.*": ["team:billing"]})
    node.start()
    node.ingested([(invoice_event(), "billing.shop.entity_changed")] * 2)
    node.ingested([(widget_event(), "testing.fake.entity_changed")])
    clock.now += 2
    node.tick()
    start, complete = (await emitted(node, transport))[2:]
    assert complete["job"]["name"] == "dictamesh.catalog_ingest"
    inputs = {d["name"]: d for d in complete["inputs"]}
    assert set(inputs) == {"billing.shop.entity_changed", "testing.fake.entity_changed"}
    assert inputs["billing.shop.entity_changed"]["inputFacets"]["inputStatistics"]["rowCount"] == 2
    outputs = {d["name"]: d for d in complete["outputs"]}
    assert set(outputs) == {"billing.invoice", "billing.invoice_item", "testing.widget"}
    invoice = outputs["billing.invoice"]
    assert invoice["namespace"] == "dictamesh"
    assert invoice["facets"]["ownership"]["owners"] == [{"name": "team:billing"}]
    assert "ownership" not in outputs["testing.widget"]["facets"]
    fields = {f["name"]: f for f in invoice["facets"]["schema"]["fields"]}
    assert fields["total"]["type"] == "double"
    assert [f["name"] for f in fields["items"]["fields"]] == ["sku", "qty"]
    lineage_of_number = invoice["facets"]["columnLineage"]["fields"]["number"]["inputFields"]
    assert [(f["namespace"], f["name"], f["field"]) for f in lineage_of_number] == [
        ("embedded://n1", "billing.shop.entity_changed", "after.number")
    ]
    item = outputs["billing.invoice_item"]["facets"]["columnLineage"]["fields"]["sku"]
    assert item["inputFields"][0]["field"] == "after.items.sku"
    # START names what the run had touched when it began
    assert {o["name"] for o in start["outputs"]} == {"billing.invoice", "billing.invoice_item"}


async def test_a_failed_ingest_ends_the_run_with_fail_and_the_error() -> None:
    clock, transport = Clock(), Collected()
    node = lineage(clock, transport)
    node.start()
    node.ingested([(widget_event(), "testing.fake.entity_changed")])
    node.ingest_failed([(widget_event(), "testing.fake.entity_changed")], OSError("disk gone"))
    # no run open: a START/FAIL pair, but only one per idle period (retries of one batch)
    clock.now += 2
    node.ingest_failed([], RuntimeError("again"))
    node.ingest_failed([], RuntimeError("and again"))
    events = (await emitted(node, transport))[2:]
    assert [e["eventType"] for e in events] == ["START", "FAIL", "START", "FAIL"]
    error = events[1]["run"]["facets"]["errorMessage"]
    assert (error["message"], error["programmingLanguage"]) == ("disk gone", "python")
    assert events[3]["run"]["facets"]["errorMessage"]["message"] == "again"


def test_schema_facets_and_owner_globs() -> None:
    facets = dataset_facets(WIDGET_SCHEMA, owners=["team:widgets"], source=("fake", None))
    fields = [(f.name, f.type, f.ordinal_position) for f in facets["schema"].fields]
    assert fields == [
        ("name", "string", 1),
        ("color", "string", 2),
        ("size", "long", 3),
        ("tags", "array<string>", 4),
    ]
    assert facets["documentation"].description == "A widget of the fake source."
    assert owners_for("billing.invoice", {"billing.*": ["a"], "*.invoice": ["b", "a"]}) == [
        "a",
        "b",
    ]
    assert owners_for("sales.order", {"billing.*": ["a"]}) == []


def test_the_validator_refuses_what_the_spec_refuses() -> None:
    good = {
        "eventTime": "2026-01-01T00:00:00Z",
        "producer": "https://x",
        "schemaURL": "https://x",
        "eventType": "START",
        "run": {"runId": "0190a0b2-7c1e-7bbb-8c3b-1b2c3d4e5f60"},
        "job": {"namespace": "n", "name": "j"},
    }
    validate(good)
    with pytest.raises(SchemaError):
        validate({**good, "job": {"namespace": "n"}})
    facet = {
        "_producer": "https://x",
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    }
    with pytest.raises(AssertionError, match="programmingLanguage"):
        validate(
            {**good, "run": {**good["run"], "facets": {"errorMessage": {**facet, "message": "m"}}}}
        )


async def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    transport = Collected()
    transport.gate.clear()  # the receiver hangs
    clock = Clock()
    node = lineage(clock, transport, queue_size=2)
    emitter: LineageEmitter = node.emitter
    node.start()  # two DatasetEvents: the thread hangs on the first, the second waits
    # Not before the thread holds the first one: until then both wait in the queue.
    assert await asyncio.to_thread(transport.sending.wait, 5)
    for _ in range(5):
        node.ingest_failed([], RuntimeError("x"))
        clock.now += 2
    assert emitter.stats.dropped == 5 * 2 - 1
    transport.gate.set()
    await node.aclose()
    assert emitter.stats.emitted == len(transport.events) == 10 + 2 - emitter.stats.dropped
    assert emitter.stats.failed == 0


def test_settings_env_and_the_standard_openlineage_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DICTAMESH_OPENLINEAGE__ENABLED", "true")
    monkeypatch.setenv("DICTAMESH_OPENLINEAGE__API_KEY", "k-1")
    settings = DictaMeshSettings.from_mapping({"openlineage": {"url": "http://m:5000"}})
    assert settings.openlineage.enabled
    assert http_target(settings.openlineage, {}) == ("http://m:5000", "api/v1/lineage", "k-1")
    bare = OpenLineageSettings()
    assert not bare.enabled
    environ = {
        "OPENLINEAGE_URL": "http://ol:8080",
        "OPENLINEAGE_API_KEY": "s",
        "OPENLINEAGE_ENDPOINT": "api/v2/lineage",
    }
    assert http_target(bare, environ) == ("http://ol:8080", "api/v2/lineage", "s")
    with pytest.raises(ConfigurationError, match="OPENLINEAGE_URL"):
        http_target(bare, {})
    with pytest.raises(ConfigurationError, match="http"):
        http_target(bare, {"OPENLINEAGE_URL": "ftp://x"})
    with pytest.raises(ConfigurationError, match="run_max_seconds"):
        DictaMeshSettings.from_mapping(
            {"openlineage": {"run_idle_seconds": 10, "run_max_seconds": 5}}
        )
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="OPENLINEAGE_URL"):
        DictaMeshSettings.from_mapping({"openlineage": {"enabled": True}})
    monkeypatch.setenv("OPENLINEAGE_URL", "http://marquez:5000")
    assert DictaMeshSettings.from_mapping({"openlineage": {"enabled": True}}).openlineage.enabled
    with pytest.raises(ConfigurationError, match=r"openlineage\.url"):
        DictaMeshSettings.from_mapping({"openlineage": {"url": "marquez:5000"}})


async def test_a_receiver_answering_errors_counts_failed_events() -> None:
    receiver = HttpReceiver(default=Reply(500, b"down"))
    async with serving(receiver) as url:
        settings = OpenLineageSettings(enabled=True, url=url, endpoint="lineage")
        transport = build_transport(settings, kafka_bootstrap="unused:9092")
        node = lineage(Clock(), transport)
        node.start()  # two DatasetEvents
        await node.aclose()
    assert (node.emitter.stats.emitted, node.emitter.stats.failed) == (0, 2)
    # openlineage-python's retry (2 more tries on 5xx), then given up
    assert [r.path for r in receiver.requests] == ["/lineage"] * 6


class MappedWidgets(FakeAdapter):
    """Widgets whose source calls the name ``title`` (column lineage declared)."""

    source_fields = {"name": "title", "color": "colour"}


async def test_a_sync_maps_declared_source_fields_to_the_topic() -> None:
    clock, transport = Clock(), Collected()
    settings = DictaMeshSettings(
        node_name="n1",
        openlineage={"enabled": True, "transport": "console", "run_idle_seconds": 1},
    )
    node = NodeLineage(settings, [MappedWidgets()], dict, transport=transport, clock=clock)
    node.start()
    node.captured("fake_widgets", "testing.fake.entity_changed")
    _start, complete = (await emitted(node, transport))[2:]
    column = complete["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert {
        k: [(f["namespace"], f["name"], f["field"]) for f in v["inputFields"]]
        for k, v in column.items()
    } == {
        "after.name": [("fake", "widgets", "title")],
        "after.color": [("fake", "widgets", "colour")],
    }


def test_the_directus_adapter_declares_its_field_mapping() -> None:
    from dictamesh.adapters.reference.customers_directus import DirectusCustomersAdapter
    from dictamesh.core.settings import AdapterConfig

    adapter = DirectusCustomersAdapter(
        AdapterConfig(name="customers", kind="customers_directus", base_url="http://cms.invalid")
    )
    [edge] = adapter.get_lineage().edges
    assert edge.fields["created_at"] == ["date_created"]
    assert edge.fields["email"] == ["email"]
    assert set(edge.fields) <= {f.name for f in adapter.get_schema().fields}


async def test_a_capture_that_dies_fails_its_sync_run() -> None:
    clock, transport = Clock(), Collected()
    node = lineage(clock, transport)
    node.start()
    node.captured("fake_widgets", "testing.fake.entity_changed")
    node.capture_failed("fake_widgets", ConnectionError("bus unreachable"))
    node.capture_failed("other_adapter", ConnectionError("not ours"))  # unknown: ignored
    start, fail = (await emitted(node, transport))[2:]
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    assert fail["job"]["name"] == "dictamesh.adapter_sync.fake_widgets"
    assert fail["run"]["facets"]["errorMessage"]["message"] == "bus unreachable"
    assert fail["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 1


async def test_console_transport_logs_each_event(caplog: pytest.LogCaptureFixture) -> None:
    transport = build_transport(OpenLineageSettings(transport="console"), kafka_bootstrap="")
    node = lineage(Clock(), transport)
    with caplog.at_level(logging.INFO, logger="openlineage.client.transport.console"):
        node.start()
        await node.aclose()
    logged = [
        validate(json.loads(r.getMessage()))
        for r in caplog.records
        if r.name == "openlineage.client.transport.console"
    ]
    assert [e["dataset"]["name"] for e in logged] == [
        "testing.widget",
        "testing.fake.entity_changed",
    ]
