"""SLA monitoring in nodes: the api side measures source calls and the ``api`` freshness
stage, the ingest side the ``catalog`` stage (split over two nodes sharing one embedded bus
and catalog); ``sla.enabled: false`` runs none and the routes say ``null``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from dictamesh.api.ops_responses import AdapterStatus
from dictamesh.api.responses import AdapterList
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode
from dictamesh.testing import FakeAdapter

SLA = {"window_seconds": 60, "evaluation_interval_seconds": 0.1, "min_changes": 1}


def node_settings(tmp_path: Path, **extra: Any) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "sla",
            "state_dir": str(tmp_path),
            "bus": {"path": str(tmp_path / "bus.sqlite3")},
            "catalog": {"url": f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite3'}"},
            "notifications": {"enabled": False},
            **extra,
        }
    )


async def adapters_listed(node: MeshNode) -> list[dict[str, Any]]:
    transport = httpx.ASGITransport(app=node.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
        listed = await client.get("/api/v1/adapters")
        status = await client.get("/api/v1/adapters/fake_widgets/status")
    assert listed.status_code == 200
    assert status.status_code == 200
    adapters: list[dict[str, Any]] = listed.json()["adapters"]
    (found,) = adapters
    # the OpenAPI models describe the real answers (null window or not)
    AdapterList.model_validate(listed.json())
    AdapterStatus.model_validate(status.json())
    window = status.json()["sla"]["window"]  # the status route carries the same block
    assert (window is None) is (found["sla_window"] is None)
    if window is not None:
        assert window["objectives"].keys() == found["sla_window"]["objectives"].keys()
    return adapters


async def test_disabled_runs_no_monitor_and_the_routes_say_null(tmp_path: Path) -> None:
    widgets = FakeAdapter(records=[{"id": "w-1", "name": "one"}])
    settings = node_settings(tmp_path, sla={"enabled": False})
    async with MeshNode(settings, adapters=[widgets]) as node:
        assert node.sla is None
        assert "sla-monitor" not in node.supervisor.health()
        (found,) = await adapters_listed(node)
        assert found["sla_window"] is None
        assert found["sla"]["availability_target"] == 0.99  # the declared target stays


async def test_split_nodes_measure_the_catalog_stage_on_ingest_and_the_api_stage_on_api(
    tmp_path: Path,
) -> None:
    widgets = FakeAdapter(records=[{"id": "w-1", "name": "one"}])
    api_settings = node_settings(tmp_path / "a", sla=SLA)
    shared = {"bus": api_settings.bus, "catalog": api_settings.catalog}
    ingest_settings = node_settings(tmp_path / "b", sla=SLA).model_copy(
        update={**shared, "node_name": "catalog-only"}
    )
    built = FakeAdapter(store=widgets.store)  # configured on the ingest node, never called
    async with (
        MeshNode(ingest_settings, adapters=[built], roles=["ingest"]) as catalog_node,
        MeshNode(api_settings, adapters=[widgets], roles=["api", "capture"]) as api_node,
    ):
        assert catalog_node.sla is not None
        assert api_node.sla is not None
        widgets.put("w-2", name="two")  # a change at the source, captured by the api node
        async with asyncio.timeout(30):
            while True:
                catalog = catalog_node.sla.monitor.report("fake_widgets")
                served = api_node.sla.monitor.report("fake_widgets")
                assert catalog is not None
                assert served is not None
                stages = (
                    catalog["objectives"]["freshness_catalog"]["samples"],
                    served["objectives"]["freshness_api"]["samples"],
                )
                if all(stages):
                    break
                await asyncio.sleep(0.05)
        # each node measures its own stage only
        assert catalog["objectives"]["freshness_api"]["samples"] == 0
        assert served["objectives"]["freshness_catalog"]["samples"] == 0
        assert catalog["calls"] == 0  # the ingest node never calls the source
        assert built.calls.total() == 0
        assert served["calls"] > 0  # the capture polls
        assert catalog["objectives"]["freshness_catalog"]["measured"] >= 0
        (found,) = await adapters_listed(api_node)
        assert found["sla_window"]["objectives"]["freshness_api"]["samples"] >= 1
        transport = httpx.ASGITransport(app=catalog_node.asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
            metrics = (await client.get("/metrics")).text
        assert (
            'dictamesh_sla_freshness_lag_seconds{adapter="fake_widgets",entity_type="widget",'
            'stage="catalog"}' in metrics
        )
