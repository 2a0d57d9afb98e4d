"""Item 7: ``/debug/traces`` must not cross tenants.

Before: any authenticated caller read every request's trace, another tenant's query
strings included. Now: off unless ``observability.debug_traces``; with auth on,
administrators only, and an administrator bound to a tenant sees that tenant's traces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from dictamesh.api import debug_traces
from dictamesh.api.observability import instrument_app
from dictamesh.auth import install_auth
from dictamesh.core.settings import DictaMeshSettings, ObservabilitySettings
from dictamesh.observability import recent, tracing
from dictamesh.observability.recent import RecentSpans
from tests.unit.auth.support import hs_token, settings


@pytest.fixture
def buffer(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecentSpans]:
    spans = RecentSpans(capacity=500)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    monkeypatch.setattr(recent, "_recent", spans)
    monkeypatch.setattr(tracing._state, "installed", ("memory",))  # traces_exporter: memory
    monkeypatch.setattr(debug_traces, "_access", debug_traces._Access())
    with tracing.use_tracer_provider(provider):
        yield spans
    provider.shutdown()


def enable(auth_mode: str = "required") -> None:
    debug_traces.configure_debug_traces(enabled=True, auth_mode=auth_mode, admin_role="admin")


@pytest.fixture
async def client(buffer: RecentSpans) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()

    @app.get("/api/v1/orders")
    async def orders(q: str = "") -> Any:
        return {"q": q}

    install_auth(app, settings())
    instrument_app(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as http:
        yield http


def auth(role: str, tenant: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {hs_token(roles=[role], tenant_id=tenant, sub=role)}"}


async def traffic(client: httpx.AsyncClient) -> None:
    for tenant in ("acme", "globex"):
        response = await client.get(
            "/api/v1/orders", params={"q": f"secret-{tenant}"}, headers=auth("reader", tenant)
        )
        assert response.status_code == 200


def paths(body: dict[str, Any]) -> set[str]:
    spans = [s["attributes"] for t in body["traces"] for s in t["spans"]]
    return {f"{a.get('url.path', '')}|{a.get('dictamesh.tenant')}" for a in spans}


async def test_off_by_default_even_for_an_admin(client: httpx.AsyncClient) -> None:
    await traffic(client)
    response = await client.get("/debug/traces", headers=auth("admin", None))
    assert response.status_code == 404
    assert DictaMeshSettings().observability.debug_traces is False


async def test_a_non_admin_is_refused(client: httpx.AsyncClient) -> None:
    enable()
    await traffic(client)
    response = await client.get("/debug/traces", headers=auth("reader", "acme"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    assert "secret" not in response.text


async def test_a_tenant_admin_sees_only_its_tenants_traces(client: httpx.AsyncClient) -> None:
    enable()
    await traffic(client)
    response = await client.get("/debug/traces", headers=auth("admin", "acme"))
    assert response.status_code == 200
    seen = paths(response.json())
    assert "/api/v1/orders|acme" in seen
    assert not any("globex" in p for p in seen)
    assert "globex" not in response.text


async def test_an_unbound_admin_sees_every_tenant(client: httpx.AsyncClient) -> None:
    enable()
    await traffic(client)
    response = await client.get("/debug/traces", headers=auth("admin", None))
    assert response.status_code == 200
    assert {"/api/v1/orders|acme", "/api/v1/orders|globex"} <= paths(response.json())


def test_the_setting_reaches_the_endpoint(buffer: RecentSpans) -> None:
    on = DictaMeshSettings(observability=ObservabilitySettings(debug_traces=True))
    debug_traces.setup_debug_traces(on)
    assert debug_traces._access.enabled
    debug_traces.setup_debug_traces(DictaMeshSettings())
    assert not debug_traces._access.enabled
