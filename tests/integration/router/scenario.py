"""The router scenario the embedded and Kafka tests both run.

A router node (``MeshNode(..., roles=["router"])``) reads one source topic with four rules:

* ``emails`` — updates that changed ``email``: projected to ``email``/``n``, e-mail hashed;
* ``fanout`` — every event, untouched, to two topics;
* ``contacts`` — ``email`` renamed to ``contact``, CloudEvents headers; events that already
  have a ``contact`` field make the rename fail: they go to the DLQ, the rest goes on;
* ``drop-deletes`` — deletes are dropped.

Half the events are routed, the node is stopped mid-stream, the other half is published and
a new node (same consumer group) resumes: every event reaches every target at least once,
and per entity the versions arrive in order (first occurrences; redelivery may repeat).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from dictamesh.core.models import (
    ChangeEvent,
    Classification,
    EntityVersionRef,
    EventType,
    SourceRef,
)
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.bus import EventBus, Message
from dictamesh.events.serde import JsonEventSerializer
from dictamesh.events.topics import TopicSpec
from dictamesh.governance.masking import Masker, MaskStrategy
from dictamesh.node import MeshNode

SERDE = JsonEventSerializer()
ENTITIES = 3
MASKING_KEY = "router-scenario-masking-key"


class Names:
    def __init__(self, prefix: str) -> None:
        self.domain = prefix
        self.source = f"{prefix}.crm.entity_changed"
        self.emails = f"{prefix}.out.emails"
        self.all = f"{prefix}.out.all"
        self.archive = f"{prefix}.archive.all"
        self.contacts = f"{prefix}.out.contacts"
        self.dlq = f"{self.source}.dlq"
        self.group = f"router-{prefix}"


def router_config(names: Names) -> dict[str, Any]:
    return {
        "enabled": True,
        "group": names.group,
        "sources": [names.source],
        "batch_size": 200,
        "rules": [
            {
                "name": "drop-deletes",
                "match": {"event_types": ["deleted"]},
                "drop": True,
            },
            {
                "name": "emails",
                "match": {
                    "topics": [f"{names.domain}.crm.*"],
                    "event_types": ["updated"],
                    "changed_fields": ["email"],
                },
                "transform": [{"project": ["email", "n"]}, {"mask": {"email": "hash"}}],
                "to": [names.emails],
            },
            {"name": "fanout", "to": [names.all, names.archive]},
            {
                "name": "contacts",
                "transform": [
                    {"rename": {"email": "contact"}},
                    {"envelope": {"cloudevents": True}},
                ],
                "to": [names.contacts],
            },
        ],
    }


def make_events(names: Names, versions: range) -> list[ChangeEvent]:
    events = []
    for version in versions:
        for e in range(ENTITIES):
            after: dict[str, Any] = {"email": f"v{version}@e{e}.org", "n": version, "x": 1}
            if version % 7 == 0:
                after["contact"] = "already here"  # the rename fails on this one
            events.append(
                ChangeEvent(
                    event_type=EventType.UPDATED,
                    entity=EntityVersionRef(type="customer", id=f"e-{e}", version=version),
                    source=SourceRef(domain=names.domain, system="crm"),
                    changed_fields=["email"],
                    before={"email": "old"},
                    after=after,
                )
            )
    return events


def delete_event(names: Names) -> ChangeEvent:
    return ChangeEvent(
        event_type=EventType.DELETED,
        entity=EntityVersionRef(type="customer", id="e-0", version=10_000),
        source=SourceRef(domain=names.domain, system="crm"),
        before={"email": "gone"},
    )


async def publish(bus: EventBus, topic: str, events: list[ChangeEvent]) -> None:
    for event in events:
        value, headers = SERDE.encode(event)
        await bus.publish(topic, value, key=event.key, headers=headers)


async def collect(
    bus: EventBus,
    topic: str,
    done: Callable[[list[Message]], bool],
    *,
    timeout: float = 30.0,
) -> list[Message]:
    """Every record of ``topic`` (a fresh group reads from the start) until ``done``."""
    found: list[Message] = []
    deadline = time.monotonic() + timeout
    async with bus.consumer(f"reader-{uuid.uuid4().hex[:8]}", [topic]) as consumer:
        while not done(found):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: only {len(found)} records after {timeout}s")
            found.extend(await consumer.poll(max_records=500, timeout=0.5))
    return found


def ids(messages: list[Message]) -> set[str]:
    return {str(SERDE.decode(m.value, m.headers).event_id) for m in messages}


def has_all(expected: set[str]) -> Callable[[list[Message]], bool]:
    return lambda found: expected <= ids(found)


def assert_in_order_per_key(messages: list[Message]) -> None:
    """Per entity, the first occurrence of each version comes in increasing order."""
    seen: dict[str, list[int]] = {}
    for m in messages:
        event = SERDE.decode(m.value, m.headers)
        versions = seen.setdefault(event.entity.id, [])
        assert m.key == event.entity.id
        if event.entity.version not in versions:
            versions.append(event.entity.version)
    for entity, versions in seen.items():
        assert versions == sorted(versions), (entity, versions)


async def run(
    settings: DictaMeshSettings, names: Names, *, versions: int = 80, bus: EventBus | None = None
) -> None:
    """``bus``: where to create the source topic first (Kafka: before anyone subscribes)."""
    if bus is not None:
        await bus.ensure_topic(TopicSpec(name=names.source, partitions=3))
    first = make_events(names, range(1, versions // 2 + 1))
    second = make_events(names, range(versions // 2 + 1, versions + 1))
    everything = first + second
    ok = [e for e in everything if "contact" not in (e.after or {})]
    poison = [e for e in everything if "contact" in (e.after or {})]
    assert poison
    assert ok

    async with MeshNode(settings, roles=["router"]) as node:
        assert node.router is not None
        await publish(node.bus, names.source, first)
        # stop mid-stream: once some, not all, of the first half went through
        await collect(node.bus, names.all, lambda found: len(found) >= 10)
    async with MeshNode(settings, roles=["router"]) as node:
        await publish(node.bus, names.source, [*second, delete_event(names)])
        routed = await collect(node.bus, names.all, has_all({str(e.event_id) for e in everything}))
        archived = await collect(
            node.bus, names.archive, has_all({str(e.event_id) for e in everything})
        )
        for topic_records in (routed, archived):
            assert_in_order_per_key(topic_records)
            # untouched: the source bytes
            assert {m.value for m in topic_records} == {SERDE.encode(e)[0] for e in everything}
            assert all(m.headers["router-rule"] == b"fanout" for m in topic_records)
        # the delete was dropped before any other rule saw it
        assert "d" not in {SERDE.decode(m.value).event_type.value[0].lower() for m in routed}

        emails = await collect(
            node.bus, names.emails, has_all({str(e.event_id) for e in everything})
        )
        assert_in_order_per_key(emails)
        masker = Masker(MASKING_KEY.encode())
        for m in emails:
            event = SERDE.decode(m.value, m.headers)
            assert set(event.after or {}) == {"email", "n"}
            expected = f"v{event.entity.version}@e{event.entity.id[-1]}.org"
            assert (event.after or {})["email"] == masker.mask(
                expected, MaskStrategy.HASH, Classification.CONFIDENTIAL
            )

        contacts = await collect(node.bus, names.contacts, has_all({str(e.event_id) for e in ok}))
        assert ids(contacts) == {str(e.event_id) for e in ok}  # never a poison one
        for m in contacts:
            event = SERDE.decode(m.value, m.headers)
            assert "contact" in (event.after or {})
            assert "email" not in (event.after or {})
            assert m.headers["ce_id"] == str(event.event_id).encode()
            assert m.headers["ce_specversion"] == b"1.0"

        dead = await collect(node.bus, names.dlq, has_all({str(e.event_id) for e in poison}))
        assert ids(dead) == {str(e.event_id) for e in poison}
        for m in dead:
            assert m.headers["router-rule"] == b"contacts"
            assert b"exists already" in m.headers["dlq-error"]
            assert m.headers["dlq-error-type"] == b"dictamesh.router.errors.TransformError"
            assert m.headers["dlq-original-topic"] == names.source.encode()
            assert m.value in {SERDE.encode(e)[0] for e in poison}  # the source record

        await check_http(node, names)


async def check_http(node: MeshNode, names: Names) -> None:
    transport = httpx.ASGITransport(app=node.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert set(checks) >= {"bus", "router", "task:router"}
        assert checks["router"]["details"]["topics"] == [names.source]
        # a router-only node has no catalog and no API
        assert (await client.get("/api/v1/entities/customer/1")).status_code == 404
        text = (await client.get("/metrics")).text
    for line in (
        f'dictamesh_router_routed_total{{rule="fanout",target="{names.archive}"}}',
        f'dictamesh_router_dead_lettered_total{{rule="contacts",target="{names.dlq}"}}',
        'dictamesh_router_dropped_total{rule="drop-deletes"} 1.0',
        "dictamesh_router_rule_set_version 1.0",
    ):
        assert line in text, line
    assert f'group="{names.group}"' in text  # the consumer's lag and counters


def settings_with(base: dict[str, Any], names: Names) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            **base,
            "governance": {"masking_key": MASKING_KEY},
            "router": router_config(names),
        }
    )


__all__ = ["Names", "run", "settings_with"]
