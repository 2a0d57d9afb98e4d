"""Two in-process nodes on Kafka + PostgreSQL + Redis, with different node names: a change
captured by node A reaches a subscriber on node B (B's invalidation consumer reads every
change topic in its own group), and an answer B's response cache held is dropped by it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dictamesh.api.graphql_cache import CACHE_STATUS_HEADER
from dictamesh.core.models import EventType, SourceRef
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode
from dictamesh.testing import FakeAdapter
from tests.postgres_fixtures import owner_url

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def _settings(name: str, tmp_path: Path, urls: dict[str, str]) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": name,
            "state_dir": str(tmp_path / name),
            "bus": {"backend": "kafka", "kafka_bootstrap": urls["kafka"]},
            "catalog": {"url": urls["catalog"], "migration_url": owner_url(urls["catalog"])},
            "cache": {"redis_url": urls["redis"]},
            "saga": {"enabled": False},
            "notifications": {"enabled": False},
        }
    )


@contextlib.asynccontextmanager
async def _node(
    name: str, adapter: FakeAdapter, tmp_path: Path, urls: dict[str, str], uid: str
) -> AsyncIterator[MeshNode]:
    node = MeshNode(
        _settings(name, tmp_path, urls), adapters=[adapter], ingest_group=f"ingest-{uid}"
    )
    # as a configured adapter would: the node's cache (memory + the shared Redis), which its
    # invalidation consumer clears; an adapter built alone keeps a private L1 it never sees
    adapter.cache = node.cache
    async with node:
        yield node


async def _next(subscription: Any, timeout: float) -> Any:
    return await asyncio.wait_for(anext(subscription), timeout)


async def _updated(subscription: Any, timeout: float = 60) -> Any:
    """The next UPDATED event (the initial capture's CREATED may come first, or not: it may
    have been handled before the subscription was made)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        event = await _next(subscription, deadline - asyncio.get_running_loop().time())
        if event.event_type is EventType.UPDATED:
            return event


async def test_a_change_captured_on_a_reaches_a_subscriber_on_b(
    tmp_path: Path, empty_catalog_url: str, kafka_bootstrap: str, redis_url: str
) -> None:
    uid = uuid.uuid4().hex[:10]
    urls = {"catalog": empty_catalog_url, "kafka": kafka_bootstrap, "redis": redis_url}
    source = SourceRef(domain="it", system=f"two{uid}")
    cls: type[FakeAdapter] = type("Gadgets", (FakeAdapter,), {"source": source})
    captured = cls(records=[{"id": "w-1", "name": "Gear", "size": 1}])
    # B serves the same data product without capturing anything itself (its store is
    # empty and stays so): every change it sees came over the bus from A.
    idle = cls()
    async with (
        _node(f"a-{uid}", captured, tmp_path, urls, uid) as a,
        _node(f"b-{uid}", idle, tmp_path, urls, uid) as b,
    ):
        on_b = b.changes.subscribe("widget", entity_id="w-1")
        on_a = a.changes.subscribe("widget", entity_id="w-1")
        captured.put("w-1", size=2)  # the source changes; A's capture polls it
        change_b = await _updated(on_b)
        change_a = await _updated(on_a)
        assert "size" in change_b.changed_fields
        assert change_b.after is not None
        assert change_b.after["size"] == 2
        assert change_b.event_id == change_a.event_id  # both nodes got it, not one each
        assert idle.rows == {}  # nothing was captured on B
        on_a.close()
        on_b.close()


async def test_change_on_a_drops_the_answer_b_serves_from_the_shared_cache(
    tmp_path: Path, empty_catalog_url: str, kafka_bootstrap: str, redis_url: str
) -> None:
    uid = uuid.uuid4().hex[:10]
    urls = {"catalog": empty_catalog_url, "kafka": kafka_bootstrap, "redis": redis_url}
    source = SourceRef(domain="it", system=f"rc{uid}")
    cls: type[FakeAdapter] = type("Gadgets", (FakeAdapter,), {"source": source})
    store_owner = cls(records=[{"id": "w-1", "name": "Gear", "size": 1}])
    reader = cls(store=store_owner.store)  # B reads the same source, captures on its own
    async with (
        _node(f"a-{uid}", store_owner, tmp_path, urls, uid) as a,
        _node(f"b-{uid}", reader, tmp_path, urls, uid) as b,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=a.asgi_app()), base_url="http://a"
        ) as api_a,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=b.asgi_app()), base_url="http://b"
        ) as api_b,
    ):
        on_b = b.changes.subscribe("widget", entity_id="w-1")
        # While the start-up capture's events are still being handled, an answer may be
        # refused as raced (correctly); a fresh query text per try is a fresh cache key,
        # and per run too (the Redis db outlives a run; the key does not name the source).
        for attempt in range(40):
            query = f'{{ w{uid}{attempt}: widget(id: "w-1") {{ name size }} }}'
            miss = await api_a.get("/graphql", params={"query": query})
            assert miss.headers[CACHE_STATUS_HEADER] == "MISS"
            hit = await api_b.get("/graphql", params={"query": query})
            if hit.headers[CACHE_STATUS_HEADER] == "HIT":
                break
            await asyncio.sleep(0.25)
        assert hit.headers[CACHE_STATUS_HEADER] == "HIT"
        assert hit.json() == {"data": {f"w{uid}{attempt}": {"name": "Gear", "size": 1}}}

        store_owner.put("w-1", size=2)
        await _updated(on_b)  # B handled the change (and queued its invalidation)
        for _ in range(100):
            fresh = await api_b.get("/graphql", params={"query": query})
            if fresh.headers[CACHE_STATUS_HEADER] == "MISS":
                break
            await asyncio.sleep(0.05)
        assert fresh.headers[CACHE_STATUS_HEADER] == "MISS"
        assert fresh.json() == {"data": {f"w{uid}{attempt}": {"name": "Gear", "size": 2}}}
        on_b.close()
