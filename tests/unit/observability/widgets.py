"""A widget source served over ``httpx.MockTransport`` and the HTTP adapter reading it, so
traces include real httpx requests; and a helper that runs an embedded node over it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from dictamesh.adapters.base import AdapterBase, RawPage
from dictamesh.core.models import SLA, Entity, EntitySchema, FieldSpec, FieldType, Query, SourceRef
from dictamesh.core.settings import AdapterConfig, DictaMeshSettings, ResilienceSettings
from dictamesh.node import MeshNode

BASE_URL = "http://widgets.test"
TOPIC = "testing.widgets.entity_changed"


class WidgetSource:
    """Rows by id; records every request it answers."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self._tick = 0

    def put(self, widget_id: str, name: str) -> None:
        self._tick += 1
        old = self.rows.get(widget_id)
        self.rows[widget_id] = {
            "id": widget_id,
            "name": name,
            "version": (old["version"] + 1) if old else 1,
            "updated_at": f"2026-01-01T00:{self._tick // 60:02d}:{self._tick % 60:02d}Z",
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/widgets":
            since = request.url.params.get("since")
            rows = sorted(self.rows.values(), key=lambda r: (r["updated_at"], r["id"]))
            if since:
                rows = [r for r in rows if r["updated_at"] >= since]
            limit = int(request.url.params.get("limit", "100"))
            return httpx.Response(200, json={"data": rows[:limit]})
        row = self.rows.get(path.removeprefix("/widgets/"))
        return httpx.Response(200, json=row) if row else httpx.Response(404)


class HttpWidgets(AdapterBase):
    entity_type = "widget"
    source = SourceRef(domain="testing", system="widgets")
    schema = EntitySchema(
        entity_type="widget",
        domain="testing",
        fields=[FieldSpec(name="name", type=FieldType.STRING, required=True)],
    )
    sla = SLA(freshness_seconds=30, availability_target=0.99, latency_p95_ms=500)

    async def fetch_one(self, client: httpx.AsyncClient, entity_id: str) -> dict[str, Any] | None:
        response = await client.get(f"/widgets/{entity_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def fetch_page(self, client: httpx.AsyncClient, query: Query) -> RawPage:
        response = await client.get("/widgets", params={"limit": query.limit})
        response.raise_for_status()
        return RawPage(items=response.json()["data"])

    async def fetch_changed_since(
        self, client: httpx.AsyncClient, watermark: str | None, limit: int
    ) -> list[dict[str, Any]]:
        response = await client.get("/widgets", params={"since": watermark or "", "limit": limit})
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()["data"]
        return rows

    def parse_webhook(self, payload: Any) -> list[str]:
        return [str(i) for i in payload["ids"]]

    def transform(self, raw: dict[str, Any]) -> Entity:
        return Entity(
            type="widget",
            id=raw["id"],
            version=raw["version"],
            attributes={"name": raw["name"]},
            source=self.source,
        )


def widgets_adapter(source: WidgetSource, **deps: Any) -> HttpWidgets:
    config = AdapterConfig(
        name="widgets",
        kind="widgets",
        base_url=BASE_URL,
        poll_interval_seconds=0.05,
        resilience=ResilienceSettings(
            timeout_seconds=2.0, backoff_initial_seconds=0.0, backoff_max_seconds=0.0
        ),
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(source), base_url=BASE_URL)
    return HttpWidgets(config, client=client, **deps)


def node_settings(state: Path, catalog_url: str, **extra: Any) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "obs",
            "state_dir": str(state),
            "bus": {"path": str(state / "bus.sqlite3")},
            "catalog": {"url": catalog_url},
            **extra,
        }
    )


@contextlib.asynccontextmanager
async def widget_node(
    state: Path, catalog_url: str, source: WidgetSource
) -> AsyncIterator[MeshNode]:
    """An embedded node (SQLite bus under ``state``, catalog at ``catalog_url``) over ``source``,
    with an in-app notification channel (its per-channel series are exported from the start)."""
    adapter = widgets_adapter(source)
    inbox = {"channels": {"inbox": {"kind": "in_app"}}}
    try:
        settings = node_settings(state, catalog_url, notifications=inbox)
        async with MeshNode(settings, adapters=[adapter]) as node:
            yield node
    finally:
        await adapter.client.aclose()
