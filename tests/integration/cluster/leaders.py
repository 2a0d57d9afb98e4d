"""Which node captures a source: the ``dictamesh_capture_leader{adapter}`` gauge of each."""

from __future__ import annotations

import asyncio
import time

from tests.cluster_support import Cluster, NodeProcess

LEADER_METRIC = "dictamesh_capture_leader"


async def leaders_of(cluster: Cluster, adapter: str) -> list[NodeProcess]:
    """The live nodes whose gauge says they hold ``adapter``'s capture lease now."""
    found = await cluster.metric(LEADER_METRIC)
    return [
        cluster.by_name(name)
        for name, samples in found.items()
        if samples.get((("adapter", adapter),)) == 1.0
    ]


async def capture_leader(
    cluster: Cluster, adapter: str, timeout: float = 20.0, interval: float = 0.1
) -> NodeProcess:
    """The one node capturing ``adapter``, once exactly one does (AssertionError naming
    them when two do at once: that must never happen)."""
    deadline = time.monotonic() + timeout
    while True:
        now = await leaders_of(cluster, adapter)
        assert len(now) <= 1, f"two capture leaders of {adapter} at once: {now}"
        if now:
            return now[0]
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"no node reports {LEADER_METRIC}{{adapter={adapter!r}}} = 1 after {timeout:.0f}s"
            )
        await asyncio.sleep(interval)
