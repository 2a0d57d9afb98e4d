"""A whole embedded node emitting OpenLineage: over HTTP to a real local receiver (Marquez's
endpoint), to a JSON-lines file, and a FAIL run when catalog ingest fails. Every event
received is validated against the OpenLineage spec."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from sqlalchemy import text
from tests.notification_receivers import HttpReceiver, serving
from tests.unit.lineage.ol_schema import validate

from dictamesh.core.errors import EntityNotFound
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode
from dictamesh.testing.adapters import FakeAdapter

SYNC = "dictamesh.adapter_sync.fake_widgets"
INGEST = "dictamesh.catalog_ingest"


def settings(tmp_path: Path, catalog_url: str, **openlineage: Any) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "lineage-node",
            "state_dir": str(tmp_path),
            "bus": {"path": str(tmp_path / "bus.sqlite3"), "max_delivery_attempts": 1},
            "catalog": {"url": catalog_url},
            "saga": {"enabled": False},
            "openlineage": {
                "enabled": True,
                "run_idle_seconds": 0.3,
                "run_max_seconds": 30,
                "owners": {"testing.*": ["team:widgets"]},
                **openlineage,
            },
        }
    )


def runs(events: list[dict[str, Any]], job: str) -> list[str]:
    return [e["eventType"] for e in events if e.get("job", {}).get("name") == job]


def one(events: list[dict[str, Any]], job: str, state: str) -> dict[str, Any]:
    [found] = [e for e in events if e.get("job", {}).get("name") == job and e["eventType"] == state]
    return found


async def eventually(check: Any, timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


def widgets() -> FakeAdapter:
    return FakeAdapter(records=[{"id": "w-1", "name": "Anvil"}, {"id": "w-2", "name": "Bolt"}])


async def test_http_receiver_gets_sync_and_ingest_runs_with_schema_facets(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    receiver = HttpReceiver()
    async with serving(receiver) as url:
        config = settings(tmp_path, sqlite_catalog_url, url=url, api_key="ol-secret")
        async with MeshNode(config, adapters=[widgets()]) as node:

            def received() -> list[dict[str, Any]]:
                events = [json.loads(r.body) for r in receiver.requests]
                assert runs(events, SYNC) == ["START", "COMPLETE"]
                assert runs(events, INGEST) == ["START", "COMPLETE"]
                return events

            events = await eventually(received)
            exposition = generate_latest(node.metrics.registry).decode()
            assert "dictamesh_openlineage_events_emitted_total" in exposition
            assert node.lineage is not None
            emitter = node.lineage.emitter

            def counted() -> None:  # the receiver has a request before its sender counts it
                assert emitter.stats.emitted == len(receiver.requests)

            await eventually(counted)
            assert len(receiver.requests) >= len(events)
            location = await node.catalog.get_entity_location("widget", "w-2")
            assert location.attributes["name"] == "Bolt"
    for request in receiver.requests:
        assert (request.method, request.path) == ("POST", "/api/v1/lineage")
        assert request.headers["authorization"] == "Bearer ol-secret"
        assert request.headers["content-type"] == "application/json"
        validate(json.loads(request.body))

    product, topic_dataset = [e["dataset"] for e in events if "dataset" in e]
    assert (product["namespace"], product["name"]) == ("dictamesh", "testing.widget")
    assert product["facets"]["ownership"]["owners"] == [{"name": "team:widgets"}]
    assert topic_dataset["name"] == "testing.fake.entity_changed"
    assert "after" in {f["name"] for f in topic_dataset["facets"]["schema"]["fields"]}
    sync_done = one(events, SYNC, "COMPLETE")
    [topic] = sync_done["outputs"]
    assert topic["namespace"] == "embedded://lineage-node"
    assert topic["name"] == "testing.fake.entity_changed"
    assert topic["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert {f["name"] for f in topic["facets"]["schema"]["fields"]} >= {"event_id", "after"}
    ingest_done = one(events, INGEST, "COMPLETE")
    assert [(d["namespace"], d["name"]) for d in ingest_done["inputs"]] == [
        ("embedded://lineage-node", "testing.fake.entity_changed")
    ]
    [product] = ingest_done["outputs"]
    assert (product["namespace"], product["name"]) == ("dictamesh", "testing.widget")
    schema = [(f["name"], f["type"]) for f in product["facets"]["schema"]["fields"]]
    assert schema == [
        ("name", "string"),
        ("color", "string"),
        ("size", "long"),
        ("tags", "array<string>"),
    ]
    assert set(product["facets"]["columnLineage"]["fields"]) == {"name", "color", "size", "tags"}
    assert product["outputFacets"]["outputStatistics"]["rowCount"] == 2


async def test_file_transport_writes_json_lines(tmp_path: Path, sqlite_catalog_url: str) -> None:
    path = tmp_path / "lineage" / "events.jsonl"
    config = settings(
        tmp_path,
        sqlite_catalog_url,
        transport="file",
        file_path=str(path),
        run_idle_seconds=30,
        run_max_seconds=60,
    )
    async with MeshNode(config, adapters=[widgets()]) as node:
        deadline = asyncio.get_running_loop().time() + 10
        while True:  # until ingest has applied the second widget
            try:
                await node.catalog.get_entity_location("widget", "w-2")
                break
            except EntityNotFound:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
        assert not path.exists() or "COMPLETE" not in path.read_text()
    # the runs were still open (30 s idle): stopping the node completed them
    events = [validate(json.loads(line)) for line in path.read_text().splitlines()]
    assert runs(events, SYNC) == ["START", "COMPLETE"]
    assert runs(events, INGEST) == ["START", "COMPLETE"]
    assert sum("dataset" in e for e in events) == 2


async def test_a_failing_ingest_emits_fail_with_the_error(
    tmp_path: Path, sqlite_catalog_url: str
) -> None:
    receiver = HttpReceiver()
    async with serving(receiver) as url:
        config = settings(tmp_path, sqlite_catalog_url, url=url)
        async with MeshNode(config, adapters=[FakeAdapter()]) as node:

            def datasets_sent() -> None:
                assert len(receiver.requests) == 2  # the two DatasetEvents

            await eventually(datasets_sent)
            async with node.catalog.engine.begin() as conn:  # the catalog breaks
                await conn.execute(text("DROP TABLE dictamesh_event_log"))
            entity = Entity(
                type="widget",
                id="w-9",
                source=SourceRef(domain="testing", system="fake"),
                attributes={"name": "Lost"},
            )
            await node.publisher.publish_event(ChangeEvent.for_change(EventType.CREATED, entity))

            def failed() -> dict[str, Any]:
                events = [json.loads(r.body) for r in receiver.requests]
                assert runs(events, INGEST)[:2] == ["START", "FAIL"]
                return next(e for e in events if e.get("eventType") == "FAIL")

            fail = await eventually(failed)
    validate(fail)
    assert "dictamesh_event_log" in fail["run"]["facets"]["errorMessage"]["message"]
    assert [d["name"] for d in fail["inputs"]] == ["testing.fake.entity_changed"]
