"""The router on the embedded bus: routed, transformed, fanned out, dead-lettered, dropped,
in order per key, and resumed after a stop without loss."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.integration.router.scenario import Names, run, settings_with


async def test_router_on_the_embedded_bus(tmp_path: Path) -> None:
    names = Names(f"rt{uuid.uuid4().hex[:8]}")
    settings = settings_with(
        {
            "node_name": "router-node",
            "state_dir": str(tmp_path),
            "bus": {"path": str(tmp_path / "bus.sqlite3")},
        },
        names,
    )
    await run(settings, names)
