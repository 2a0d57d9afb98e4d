"""Node roles (``dictamesh serve --role``): what each role runs, which routes answer, what
readiness reports; ``all`` runs the router beside everything when ``router.enabled``; a
catalog-only node (``ingest``) ingests what another node's ``capture`` publishes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode, NodeRole, parse_roles
from dictamesh.sources.runner import reference_adapter_configs, run_sample_sources
from dictamesh.testing import FakeAdapter

ROUTER_RULES = {
    "sources": ["testing.fake.entity_changed"],
    "rules": [{"name": "copy", "to": ["analytics.fake.widgets"]}],
}


def test_roles_parse_repeated_and_comma_separated() -> None:
    assert parse_roles([]) == {NodeRole.ALL}
    assert parse_roles(["router"]) == {NodeRole.ROUTER}
    assert parse_roles(["router,all"]) == {NodeRole.ALL}
    assert parse_roles([" Router ", ""]) == {NodeRole.ROUTER}
    assert parse_roles(["api,capture", "ingest"]) == {
        NodeRole.API,
        NodeRole.CAPTURE,
        NodeRole.INGEST,
    }
    assert parse_roles(["saga", "notify"]) == {NodeRole.SAGA, NodeRole.NOTIFY}
    with pytest.raises(ConfigurationError, match="unknown node role 'gateway'"):
        parse_roles(["gateway"])


def node_settings(tmp_path: Path, **extra: Any) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "roles",
            "state_dir": str(tmp_path),
            "bus": {"path": str(tmp_path / "bus.sqlite3")},
            "catalog": {"url": f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}"},
            **extra,
        }
    )


async def test_role_all_runs_the_router_when_enabled(tmp_path: Path) -> None:
    settings = node_settings(
        tmp_path,
        notifications={"enabled": False},
        router={
            "enabled": True,
            "sources": ["customers.crm.entity_changed"],
            "rules": [{"name": "copy", "to": ["analytics.crm.customers"]}],
        },
    )
    async with MeshNode(settings) as node:
        assert node.router is not None
        assert node.router.topics == ["customers.crm.entity_changed"]
        checks = await node.readiness()
        assert {"catalog", "bus", "router", "task:router"} <= set(checks)
        assert checks["router"].details["rule_set_version"] == 1
    disabled = settings.model_copy(
        update={"router": settings.router.model_copy(update={"enabled": False})}
    )
    async with MeshNode(disabled) as node:
        assert node.router is None
        assert "router" not in await node.readiness()


# role → (background tasks it must run, tasks it must not run, HTTP: "api" | "catalog" |
# "ops" | "webhooks")
EVERY_TASK = {
    "capture:fake_widgets",
    "catalog-ingest",
    "system-topics",
    "cache-status",
    "cache-invalidation",
    "breaker-events",
    "saga-events",
    "saga-metrics",
    "notifications-rules",
    "notifications-delivery",
    "notifications-monitor",
    "sla-monitor",
    "router",
}
ROLES: dict[str, tuple[set[str], str]] = {
    "all": (EVERY_TASK - {"router"}, "api"),
    "api": (
        {"cache-status", "cache-invalidation", "breaker-events", "saga-events", "sla-monitor"},
        "api",
    ),
    "capture": ({"capture:fake_widgets", "cache-status", "breaker-events"}, "webhooks"),
    "ingest": ({"catalog-ingest", "system-topics", "sla-monitor"}, "catalog"),
    "saga": ({"cache-status", "breaker-events", "saga-events", "saga-metrics"}, "ops"),
    "notify": ({"notifications-rules", "notifications-delivery", "notifications-monitor"}, "ops"),
    "router": ({"router"}, "ops"),
    "ingest,router": ({"catalog-ingest", "system-topics", "sla-monitor", "router"}, "catalog"),
}


@pytest.mark.parametrize("role", list(ROLES))
async def test_each_role_runs_its_tasks_and_serves_its_routes(tmp_path: Path, role: str) -> None:
    tasks, http = ROLES[role]
    widgets = FakeAdapter(records=[{"id": "w-1", "name": "one"}])
    settings = node_settings(tmp_path, router=ROUTER_RULES)
    async with MeshNode(settings, adapters=[widgets], roles=[role]) as node:
        running = set(node.supervisor.health())
        assert tasks <= running, f"{role}: missing {tasks - running}"
        assert not (EVERY_TASK - tasks) & running, f"{role}: runs {(EVERY_TASK - tasks) & running}"
        checks = await node.readiness()
        connected = node.connects_adapters
        assert ("adapter:fake_widgets" in checks) is connected
        assert ("catalog" in checks) is (role != "router")
        if not connected:
            assert widgets.calls.total() == 0  # built for its topic, never called
        assert (node.sagas is not None) is (role in ("all", "api", "saga"))
        if node.sagas is not None:
            assert node.sagas.engine.run_workers is (role in ("all", "saga"))
        assert (node.notifications is not None) is (role in ("all", "api", "notify"))
        # SLA: measured where adapters are served (calls, api stage) or ingested (catalog)
        assert (node.sla is not None) is node.serves_api

        transport = httpx.ASGITransport(app=node.asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            assert (await client.get("/health")).status_code == 200
            assert (await client.get("/ready")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200
            entity = await client.get("/api/v1/entities/widget")  # read from the adapter
            search = await client.get("/api/v1/search", params={"q": "one"})
            sdl = await client.post("/graphql", json={"query": "{ _service { sdl } }"})
            typename = await client.post("/graphql", json={"query": "{ __typename }"})
            hook = await client.post("/webhooks/nope", json={})
            ours = await client.post("/webhooks/fake_widgets", json={"id": "w-1"})
            sagas = await client.get("/api/v1/sagas")
        # accepted only where it is captured (elsewhere it would never be published)
        if node.runs(NodeRole.CAPTURE):
            assert ours.status_code == 202
        else:
            assert ours.status_code == 404
            if node.runs(NodeRole.API):
                assert "--role capture" in ours.text
        if http == "api":
            assert entity.status_code == 200
            assert "w-1" in entity.text
            assert search.status_code == 200
            assert typename.json() == {"data": {"__typename": "Query"}}
            assert hook.status_code == 404
            assert "fake_widgets" in hook.text
            assert sagas.status_code == 200
        elif http == "catalog":
            assert entity.status_code == 404  # no adapters on a catalog node
            assert search.status_code == 200
            served = sdl.json()["data"]["_service"]["sdl"]
            # the catalog subgraph: widgets get their catalog entry, no data product fields
            assert "catalog: CatalogEntry" in served
            assert "widgets(" not in served
            assert hook.status_code == 404
            assert "fake_widgets" not in hook.text
            assert sagas.status_code == 404
        else:
            assert {entity.status_code, search.status_code, typename.status_code} == {404}
            assert sagas.status_code == 404
            if http == "webhooks":  # the adapters' webhooks live where they are captured
                assert hook.status_code == 404
                assert "fake_widgets" in hook.text
            else:
                assert hook.status_code == 404
                assert "fake_widgets" not in hook.text


async def test_draining_turns_readiness_false(tmp_path: Path) -> None:
    async with MeshNode(node_settings(tmp_path), roles=["ingest"]) as node:
        transport = httpx.ASGITransport(app=node.asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            assert (await client.get("/ready")).status_code == 200
            node.drain()
            ready = await client.get("/ready")
            assert (await client.get("/health")).status_code == 200  # still alive
        assert ready.status_code == 503
        assert ready.json()["reasons"]["draining"]["status"] == "unhealthy"


async def test_a_node_without_adapters_starts_in_the_ingest_role(tmp_path: Path) -> None:
    async with MeshNode(node_settings(tmp_path), roles=["ingest"]) as node:
        assert node.topics == []
        assert "catalog-ingest" not in node.supervisor.health()  # nothing to consume
        assert all(s.status.value == "healthy" for s in (await node.readiness()).values())


async def test_an_ingest_node_ingests_what_a_capture_node_publishes(tmp_path: Path) -> None:
    """Two nodes over one embedded bus file and one SQLite catalog: ``capture`` receives the
    products source's webhook on its ops app, re-fetches and publishes; ``ingest`` (adapters
    configured, never connected) writes the catalog and serves it over REST."""
    async with run_sample_sources(products_rate_limit=None) as sources:
        configs = [  # polling every minute: within the test only the webhook brings changes
            c.model_dump(mode="json") | {"api_key": sources.products_api_key}
            for c in reference_adapter_configs(sources, poll_interval_seconds=60)
            if c.name == "products_rest"
        ]
        capture_settings = node_settings(tmp_path / "a", adapters=configs)
        shared = {"bus": capture_settings.bus, "catalog": capture_settings.catalog}
        ingest_settings = node_settings(tmp_path / "b", adapters=configs).model_copy(
            update={**shared, "node_name": "catalog-only"}
        )
        async with (
            MeshNode(ingest_settings, roles=["ingest"]) as catalog_node,
            MeshNode(capture_settings, roles=["capture"]) as capture_node,
        ):
            assert catalog_node.registry.adapters() == []  # nothing connected
            assert catalog_node.topics == ["products.thirdparty.entity_changed"]
            assert "catalog-ingest" not in capture_node.supervisor.health()
            product_id = sources.products_store.ids()[0]
            await asyncio.sleep(0.5)  # the capture's first poll sets its watermark
            sources.products_store.update(product_id, {"name": "Renamed by the test"})
            hook = {"type": "product.updated", "data": {"id": product_id}}
            capture_app = httpx.ASGITransport(app=capture_node.asgi_app())
            async with httpx.AsyncClient(transport=capture_app, base_url="http://a") as client:
                accepted = await client.post("/webhooks/products_rest", json=hook)
            assert accepted.status_code == 202
            assert accepted.json() == {"accepted": 1}
            catalog_app = httpx.ASGITransport(app=catalog_node.asgi_app())
            async with httpx.AsyncClient(transport=catalog_app, base_url="http://c") as client:
                deadline = time.monotonic() + 20
                while True:
                    answer = await client.get(f"/api/v1/entities/product/{product_id}/events")
                    events = answer.json()["events"] if answer.status_code == 200 else []
                    if any("Renamed by the test" in str(e) for e in events):
                        break
                    assert time.monotonic() < deadline, f"not ingested: {answer.text[:300]}"
                    await asyncio.sleep(0.1)
