"""An HTTP adapter over an ``httpx.MockTransport`` source whose answers tests script."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from dictamesh.adapters.base import AdapterBase, RawPage
from dictamesh.adapters.http import read_json
from dictamesh.core.models import SLA, Entity, EntitySchema, FieldSpec, FieldType, Query, SourceRef
from dictamesh.core.settings import AdapterConfig, ResilienceSettings

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]

ROWS = {
    "w-1": {"id": "w-1", "name": "Widget", "updated_at": "2026-01-01T00:00:01Z"},
    "w-2": {"id": "w-2", "name": "Gadget", "updated_at": "2026-01-01T00:00:02Z"},
}


class MockSource:
    """Answers from ``ROWS`` unless a scripted response is queued; records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.script: list[httpx.Response | Handler] = []
        self.in_flight = 0
        self.peak = 0
        self.gate: asyncio.Event | None = None

    def queue(self, *answers: httpx.Response | Handler) -> None:
        self.script.extend(answers)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.script:
                answer = self.script.pop(0)
                if isinstance(answer, httpx.Response):
                    return answer
                return await answer(request)
            return self._serve(request)
        finally:
            self.in_flight -= 1

    def _serve(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/widgets":
            ids = request.url.params.get("ids")
            rows = [ROWS[i] for i in ids.split(",") if i in ROWS] if ids else list(ROWS.values())
            return httpx.Response(200, json={"data": rows})
        row = ROWS.get(path.removeprefix("/widgets/"))
        return httpx.Response(200, json=row) if row else httpx.Response(404)

    @property
    def calls(self) -> int:
        return len(self.requests)


class HttpWidgets(AdapterBase):
    entity_type = "widget"
    source = SourceRef(domain="testing", system="widgetsvc")
    schema = EntitySchema(
        entity_type="widget",
        domain="testing",
        fields=[FieldSpec(name="name", type=FieldType.STRING, required=True)],
    )
    sla = SLA(freshness_seconds=30, availability_target=0.99, latency_p95_ms=200)

    async def fetch_one(self, client: httpx.AsyncClient, entity_id: str) -> dict[str, Any] | None:
        data: dict[str, Any] | None = read_json(
            await client.get(f"/widgets/{entity_id}"), self.name
        )
        return data

    async def fetch_many(
        self, client: httpx.AsyncClient, entity_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        body = read_json(await client.get("/widgets", params={"ids": ",".join(entity_ids)}), "w")
        return list(body["data"])

    async def fetch_page(self, client: httpx.AsyncClient, query: Query) -> RawPage:
        body = read_json(await client.get("/widgets", params={"limit": query.limit}), self.name)
        return RawPage(items=list(body["data"]))

    def transform(self, raw: dict[str, Any]) -> Entity:
        return Entity(
            type="widget", id=raw["id"], attributes={"name": raw["name"]}, source=self.source
        )


class ApiKeyWidgets(HttpWidgets):
    def auth_headers(self) -> dict[str, str]:
        return {"X-API-Key": key.get_secret_value() if (key := self.config.api_key) else ""}


def http_config(**resilience: Any) -> AdapterConfig:
    settings: dict[str, Any] = {
        "timeout_seconds": 0.2,
        "max_attempts": 3,
        "backoff_initial_seconds": 0.1,
        "backoff_max_seconds": 5.0,
        "breaker_failure_threshold": 5,
    }
    settings.update(resilience)
    return AdapterConfig(
        name="widgets_http",
        kind="widgets_http",
        base_url="http://widgets.test",
        api_key="s3cret",
        resilience=ResilienceSettings(**settings),
    )


def garbage() -> httpx.Response:
    return httpx.Response(200, content=b"<html>oops</html>")


def status(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(code, headers=headers, content=json.dumps({"error": code}).encode())
