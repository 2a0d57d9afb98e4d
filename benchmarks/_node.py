"""Helpers for benchmarks that run a whole node."""

from __future__ import annotations

import asyncio
import time

from dictamesh.node import MeshNode


async def initial_sync_done(node: MeshNode, quiet_seconds: float = 3.0) -> None:
    """Until the node's first capture of the sources is in the catalog: measure the steady
    state, not a node busy ingesting every record of the sources."""
    seen, quiet_since = -1, time.perf_counter()
    while time.perf_counter() - quiet_since < quiet_seconds:
        count = await node.catalog.count_entities()
        if count != seen:
            seen, quiet_since = count, time.perf_counter()
        await asyncio.sleep(0.5)
