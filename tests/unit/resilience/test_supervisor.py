"""Supervised background tasks: restart with capped backoff, health while down or
crash-looping, clean cancellation; and a node whose change capture fails once."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.unit.gateway.fakes import CUSTOMER, MemoryAdapter

from dictamesh.core.models import ChangeEvent, Entity, EventType, HealthState, SourceRef
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.node import MeshNode
from dictamesh.resilience.supervisor import RestartPolicy, SupervisorCollector, TaskSupervisor

FAST = RestartPolicy(initial_backoff=0.05, max_backoff=0.2, stable_after=0.3)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.01)


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RestartPolicy(initial_backoff=0.5, max_backoff=30.0)
    assert [policy.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(10_000) == 30.0
    with pytest.raises(ValueError):
        RestartPolicy(initial_backoff=2, max_backoff=1)


async def test_a_task_that_fails_once_is_restarted_and_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "dictamesh.supervisor")
    stop = asyncio.Event()
    runs = 0
    release = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            await release.wait()
            raise RuntimeError("boom")
        await stop.wait()

    policy = RestartPolicy(initial_backoff=0.2, max_backoff=1.0, stable_after=0.3)
    supervisor = TaskSupervisor(stop=stop, policy=policy)
    supervisor.spawn("ingest", flaky)
    with pytest.raises(ValueError, match="already supervised"):
        supervisor.spawn("ingest", flaky)
    await asyncio.sleep(0)
    assert supervisor.health()["ingest"].status is HealthState.HEALTHY
    release.set()

    async def down() -> None:
        health = supervisor.health()["ingest"]
        assert health.status is HealthState.UNHEALTHY
        assert health.details["error"] == "RuntimeError: boom"
        assert health.details["restarts"] == 0

    await eventually(down)
    failure = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failure) == 1
    assert "ingest" in failure[0].getMessage()
    assert failure[0].exc_info is not None  # the traceback is logged

    async def recovering() -> None:
        health = supervisor.health()["ingest"]
        assert health.status is HealthState.DEGRADED, health
        assert health.details["restarts"] == 1

    await eventually(recovering)
    assert runs == 2

    async def stable() -> None:
        health = supervisor.health()["ingest"]
        assert health.status is HealthState.HEALTHY
        assert health.details == {"restarts": 1, "last_error": "RuntimeError: boom"}

    await eventually(stable)
    stop.set()
    await supervisor.aclose()
    assert supervisor.names == []


async def test_a_crash_loop_backs_off_and_stays_unhealthy() -> None:
    stop = asyncio.Event()
    started: list[float] = []
    loop = asyncio.get_running_loop()

    async def broken() -> None:
        started.append(loop.time())
        raise ConnectionError("refused")

    policy = RestartPolicy(initial_backoff=0.02, max_backoff=0.08, stable_after=10)
    supervisor = TaskSupervisor(stop=stop, policy=policy)
    supervisor.spawn("capture:crm", broken)

    async def looped() -> None:
        assert len(started) >= 7

    await eventually(looped)
    gaps = [b - a for a, b in itertools.pairwise(started)]
    # 0.02, 0.04, 0.08, 0.08, ...: it backs off, and the cap holds (uncapped: 0.64 by now)
    assert gaps[3] >= 0.07
    assert gaps[0] < gaps[3]
    assert all(g < 0.5 for g in gaps)
    health = supervisor.health()["capture:crm"]
    assert health.status is HealthState.UNHEALTHY
    assert "refused" in health.details["error"]
    assert supervisor.states()["capture:crm"].restarts >= 5
    samples = {m.name: m.samples for m in SupervisorCollector(supervisor).collect()}
    [restarts] = samples["dictamesh_background_task_restarts"]
    assert restarts.labels == {"task": "capture:crm"}
    assert restarts.value >= 5
    await supervisor.aclose()


async def test_stop_cancels_running_and_waiting_tasks_promptly() -> None:
    stop = asyncio.Event()
    cancelled: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("forever")
            raise

    async def returns() -> None:
        return None  # returning while not stopping is a failure too

    supervisor = TaskSupervisor(stop=stop, policy=RestartPolicy(initial_backoff=60, max_backoff=60))
    supervisor.spawn("forever", forever)
    supervisor.spawn("returns", returns)

    async def waiting() -> None:
        health = supervisor.health()["returns"]
        assert health.status is HealthState.UNHEALTHY
        assert health.details["error"] == "returned while the node was running"
        assert health.details["restart_in_s"] > 50

    await eventually(waiting)
    stop.set()
    async with asyncio.timeout(1.0):  # not the 60 s backoff
        await supervisor.aclose()
    assert cancelled == ["forever"]


async def test_a_task_that_returns_after_stop_is_not_restarted() -> None:
    stop = asyncio.Event()
    runs = 0

    async def consumer() -> None:
        nonlocal runs
        runs += 1
        await stop.wait()

    supervisor = TaskSupervisor(stop=stop, policy=FAST)
    supervisor.spawn("consumer", consumer)
    await asyncio.sleep(0.01)
    stop.set()
    await asyncio.sleep(0.1)
    assert runs == 1
    assert supervisor.states()["consumer"].restarts == 0
    await supervisor.aclose()


# --- a node whose change capture fails once --------------------------------------------------


class CaptureFailsOnce(MemoryAdapter):
    """Change capture raises on its first run; the second run yields one event, then waits."""

    def __init__(self) -> None:
        super().__init__(CUSTOMER, [{"id": "c-1", "name": "Ada"}], system="crm")
        self.runs = 0
        self.fail = asyncio.Event()

    async def stream_changes(self) -> AsyncIterator[ChangeEvent]:
        self.runs += 1
        if self.runs == 1:
            await self.fail.wait()
            raise RuntimeError("source cursor corrupted")
        entity = Entity(
            type="customer",
            id="c-1",
            source=SourceRef(domain=CUSTOMER.domain, system="crm"),
            attributes={"name": "Ada"},
        )
        yield ChangeEvent.for_change(EventType.UPDATED, entity)
        await asyncio.Event().wait()


def node_settings(state: Path, catalog_url: str) -> DictaMeshSettings:
    return DictaMeshSettings.from_mapping(
        {
            "node_name": "supervised",
            "state_dir": str(state),
            "bus": {"path": str(state / "bus.sqlite3")},
            "catalog": {"url": catalog_url},
        }
    )


async def test_node_restarts_a_failed_capture_and_readiness_reports_it(
    tmp_path: Path, sqlite_catalog_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dictamesh.supervisor")
    adapter = CaptureFailsOnce()
    policy = RestartPolicy(initial_backoff=0.3, max_backoff=1.0, stable_after=0.3)
    settings = node_settings(tmp_path, sqlite_catalog_url)
    async with MeshNode(settings, adapters=[adapter], restart_policy=policy) as node:
        seen: list[ChangeEvent] = []
        node.changes.add_listener(seen.append)
        check = f"task:capture:{adapter.name}"
        ready = await node.readiness()
        assert {"task:catalog-ingest", "task:cache-invalidation", "task:breaker-events"} <= set(
            ready
        )
        assert ready[check].status is HealthState.HEALTHY
        adapter.fail.set()

        async def down() -> None:
            status = (await node.readiness())[check]
            assert status.status is HealthState.UNHEALTHY
            assert status.details["error"] == "RuntimeError: source cursor corrupted"

        await eventually(down)

        async def captured() -> None:
            assert [e.entity.id for e in seen] == ["c-1"]  # the restarted capture published
            status = (await node.readiness())[check]
            assert status.status is HealthState.HEALTHY
            assert status.details["restarts"] == 1

        await eventually(captured)
        assert adapter.runs == 2
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert f"capture:{adapter.name}" in errors[0]
        metrics = node.metrics.render().decode()
        assert f'dictamesh_background_task_restarts_total{{task="{check[5:]}"}} 1.0' in metrics
    assert node.supervisor.names == []  # stopped: every task cancelled and forgotten


async def test_draining_tasks_finish_their_work_instead_of_being_cancelled() -> None:
    stop = asyncio.Event()
    supervisor = TaskSupervisor(stop=stop, policy=FAST)
    ended: dict[str, str] = {}

    async def consumer(name: str) -> None:
        # a batch is in flight when stop fires: it takes a moment to commit
        try:
            await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            ended[name] = "cancelled mid-batch"
            raise
        ended[name] = "finished its batch"

    supervisor.spawn("ingest", lambda: consumer("ingest"), drains=True)
    supervisor.spawn("capture", lambda: consumer("capture"))
    await asyncio.sleep(0)
    await supervisor.aclose(grace=2.0)
    assert ended == {"ingest": "finished its batch", "capture": "cancelled mid-batch"}


async def test_a_draining_task_that_overstays_the_grace_is_cancelled() -> None:
    supervisor = TaskSupervisor(policy=FAST)
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    supervisor.spawn("stuck", stuck, drains=True)
    await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    await supervisor.aclose(grace=0.2)
    assert cancelled.is_set()
    assert asyncio.get_running_loop().time() - started < 1.0
