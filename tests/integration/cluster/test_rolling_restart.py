"""A rolling restart — one node at a time: SIGTERM, exit, start, ready — under continuous
GraphQL load through all three nodes: not one request fails.

The load generator balances as Kubernetes endpoints do: it sends only to the nodes whose
``/ready`` answered 200 at its last poll (every 100 ms). Graceful shutdown turns ``/ready``
to 503 first and keeps serving for ``api.shutdown_delay_seconds``, so the balancer stops
sending before the listener closes; requests already sent finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.cluster_support import Cluster, NodeProcess, run_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]

POLL = 0.1  # the balancer's readiness poll
WORKERS = 6  # requests in flight at once
SHUTDOWN_DELAY = 2.0  # > POLL + the slowest request: what the balancer needs to stop sending
QUERIES = [f'{{ customer(id: "{n}") {{ id email }} }}' for n in range(1, 11)]
QUERIES.append("{ invoices(limit: 3) { items { invoiceNumber customer { id } } } }")


@dataclass
class Balancer:
    """Round robin over the nodes ready at the last poll; counts every request."""

    cluster: Cluster
    #: each node's URL while its last probe answered 200
    answered: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ready(self) -> list[str]:
        return sorted(self.answered.values())

    async def poll(self, node: NodeProcess) -> None:
        """One node's readiness probe, every ``POLL`` (a probe times out after 1 s, as
        Kubernetes' default ``timeoutSeconds``)."""
        async with httpx.AsyncClient(timeout=1.0) as client:
            while not self.stop.is_set():
                url = node.url  # a new one after each restart
                ok = False
                with contextlib.suppress(httpx.HTTPError):
                    ok = (await client.get(f"{url}/ready")).status_code == 200
                if ok:
                    self.answered[node.name] = url
                else:
                    self.answered.pop(node.name, None)
                await asyncio.sleep(POLL)

    async def worker(self, queries: itertools.cycle[str], turn: itertools.count[int]) -> None:
        limits = httpx.Limits(max_keepalive_connections=4)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            while not self.stop.is_set():
                ready = self.ready
                if not ready:  # never all down in a rolling restart; not a request
                    await asyncio.sleep(POLL / 2)
                    continue
                url = ready[next(turn) % len(ready)]
                query = next(queries)
                try:
                    answer = await client.post(f"{url}/graphql", json={"query": query})
                    body = answer.json()
                    ok = answer.status_code == 200 and not body.get("errors")
                    why = f"{answer.status_code} {answer.text[:300]}"
                except (httpx.HTTPError, ValueError) as exc:
                    ok, why = False, repr(exc)
                self.counts[url] += 1
                if not ok:
                    self.failures.append(f"{url}: {why}")


async def _until_balanced(balancer: Balancer, node: NodeProcess, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while node.url not in balancer.ready:
        assert time.monotonic() < deadline, f"{node.name} ready but never in the balancer"
        await asyncio.sleep(POLL)


async def test_rolling_restart_under_load_fails_no_request(
    tmp_path: Path, config_for: Callable[..., Path], run_id: str
) -> None:
    config = config_for(
        graphql={"rate_limit_per_second": 0},  # one client at full speed: not the test here
        api={"shutdown_delay_seconds": SHUTDOWN_DELAY, "timeout_graceful_shutdown": 20},
    )
    async with run_cluster(config, tmp_path, 3, run_id=run_id) as cluster:
        balancer = Balancer(cluster)
        queries, turn = itertools.cycle(QUERIES), itertools.count()
        tasks = [asyncio.create_task(balancer.poll(node)) for node in cluster.nodes]
        tasks += [asyncio.create_task(balancer.worker(queries, turn)) for _ in range(WORKERS)]
        try:
            for node in cluster.nodes:
                await _until_balanced(balancer, node)
            await asyncio.sleep(2)  # load on all three before the first restart
            timeline = []
            for node in cluster.nodes:
                before = sum(balancer.counts.values())
                started = time.monotonic()
                code = await node.terminate(timeout=40)
                stopped = time.monotonic()
                assert code == 0, f"{node.name} exited {code}:\n{node.output()[-4000:]}"
                await node.restart()
                await _until_balanced(balancer, node)
                timeline.append(
                    f"{node.name}: stopped in {stopped - started:.1f} s, back in"
                    f" {time.monotonic() - stopped:.1f} s,"
                    f" {sum(balancer.counts.values()) - before} requests meanwhile"
                )
            await asyncio.sleep(2)  # and on all three after the last
        finally:
            balancer.stop.set()
            await asyncio.gather(*tasks)

    total = sum(balancer.counts.values())
    print(f"\n{total} requests, {len(balancer.failures)} failed; " + "; ".join(timeline))
    assert not balancer.failures, f"{len(balancer.failures)} of {total}: {balancer.failures[:5]}"
    assert total > 100  # the load really ran throughout
