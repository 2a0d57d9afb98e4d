"""Two nodes configured with the same adapter on one machine (shared ``state_dir`` and
catalog, the embedded default, so a file lock decides): exactly one polls the source; when
it stops, the other takes over at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from dictamesh.catalog import CatalogService
from dictamesh.cluster.capture import CaptureLeadership
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode
from dictamesh.testing.adapters import FakeAdapter, FakeStore


def settings(state: Path, name: str) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": name,
            "state_dir": str(state),
            "bus": {"path": str(state / "bus.sqlite3")},
            "catalog": {"url": f"sqlite+aiosqlite:///{state / 'catalog.sqlite3'}"},
            "capture": {"retry_seconds": 0.05},
            "saga": {"enabled": False},
        }
    )


async def until(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_two_nodes_one_captures_and_the_other_takes_over(tmp_path: Path) -> None:
    source = FakeStore()
    source.put("w-1", name="one")
    a_adapter, b_adapter = FakeAdapter(store=source), FakeAdapter(store=source)
    a = MeshNode(settings(tmp_path, "a"), adapters=[a_adapter])
    b = MeshNode(settings(tmp_path, "b"), adapters=[b_adapter])
    await a.start()
    try:
        await b.start()
        lead_a, lead_b = a.capture_leadership, b.capture_leadership
        assert lead_a is not None
        assert lead_b is not None
        await until(lambda: lead_a.leading().get("fake_widgets"))
        await until(lambda: a_adapter.calls["fetch_changed_since"] > 5)
        await asyncio.sleep(0.5)
        assert b_adapter.calls["fetch_changed_since"] == 0  # b waits
        assert lead_b.leading() == {"fake_widgets": False}
        await a.stop()
        await until(lambda: lead_b.leading().get("fake_widgets"), 5)
        await until(lambda: b_adapter.calls["fetch_changed_since"] > 0, 5)
        text = b.metrics.registry.get_sample_value(
            "dictamesh_capture_leader", {"adapter": "fake_widgets"}
        )
        assert text == 1.0
    finally:
        await b.stop()
        await a.stop()


async def test_leadership_made_again_on_one_registry_reuses_its_metrics(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    config = settings(tmp_path, "a")
    async with await CatalogService.open(config.catalog.url.get_secret_value()) as catalog:
        first = CaptureLeadership.from_settings(config, catalog.database, registry)
        again = CaptureLeadership.from_settings(config, catalog.database, registry)  # no clash
    assert first.metrics is again.metrics
    assert first.metrics is not None
    first.metrics.listener("crm")(True)
    assert registry.get_sample_value("dictamesh_capture_leader", {"adapter": "crm"}) == 1.0
