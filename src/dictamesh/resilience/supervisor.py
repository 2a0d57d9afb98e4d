"""Supervised background tasks: a task that fails is logged, restarted with backoff, counted,
and reported as unhealthy until it runs steadily again.

A :class:`~dictamesh.node.MeshNode` runs its consumers, change capture, breaker relay and
retention job under one :class:`TaskSupervisor`. Each task is given as a *factory* (a
callable returning a fresh coroutine), so it can be started again:

* a task that raises (anything but cancellation) or returns while the supervisor is not
  stopping has **failed**: the error is logged with the task's name and traceback, and the
  task is restarted after ``initial_backoff`` seconds, doubling per consecutive failure up
  to ``max_backoff``;
* a task that ran ``stable_after`` seconds since its last start counts as recovered: its
  next failure starts the backoff from the beginning again;
* :meth:`TaskSupervisor.health` reports each task: ``unhealthy`` while it is down (waiting
  to restart) or crash-looping (restarted after two or more failures in a row and not yet
  stable), ``degraded`` after a single failure until it is stable again, else ``healthy``;
  the details carry the last error and the restart count;
* :meth:`TaskSupervisor.aclose` cancels every task and waits for it.

Example::

    stop = asyncio.Event()
    supervisor = TaskSupervisor(stop=stop, policy=RestartPolicy(initial_backoff=0.5))
    supervisor.spawn("catalog-ingest", lambda: run_consumer(bus, group, topics, handle, stop=stop))
    supervisor.health()["catalog-ingest"].status      # HealthState.HEALTHY
    stop.set()
    await supervisor.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from dictamesh.core.models import HealthState, HealthStatus
from dictamesh.observability.error_tracking import capture_error

__all__ = ["RestartPolicy", "SupervisorCollector", "TaskFactory", "TaskState", "TaskSupervisor"]

log = logging.getLogger("dictamesh.supervisor")

TaskFactory = Callable[[], Awaitable[Any]]
"""Makes a fresh run of a background task (called again for every restart)."""

_MAX_ERROR_CHARS = 500
#: consecutive failures from which a restarted, not yet stable task counts as crash-looping
_CRASH_LOOP = 2


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How supervised tasks are restarted (seconds)."""

    #: wait before the first restart; doubles per consecutive failure
    initial_backoff: float = 0.5
    #: longest wait between restarts
    max_backoff: float = 30.0
    #: a task that ran this long since its last start has recovered (backoff and health reset)
    stable_after: float = 30.0

    def __post_init__(self) -> None:
        if self.initial_backoff < 0 or self.max_backoff < self.initial_backoff:
            raise ValueError("need 0 <= initial_backoff <= max_backoff")
        if self.stable_after < 0:
            raise ValueError("stable_after must be >= 0")

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` (>= 1) consecutive failures."""
        return min(self.max_backoff, self.initial_backoff * 2.0 ** min(failures - 1, 64))


@dataclass(slots=True)
class TaskState:
    """What the supervisor knows of one task (a live object; :meth:`TaskSupervisor.states`
    hands out copies)."""

    name: str
    #: times the task was started again after a failure
    restarts: int = 0
    #: failures in a row (reset by a run of at least ``stable_after``)
    failures: int = 0
    #: the last failure, ``"TypeError: ..."`` (kept after recovery, for the record)
    last_error: str | None = None
    #: when the last failure happened (UTC)
    last_failure_at: datetime | None = None
    #: False while waiting to be restarted
    running: bool = True
    #: event-loop time of the current run's start
    started_at: float = 0.0
    #: event-loop time of the next restart, while down
    restart_at: float | None = None


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "returned while the node was running"
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


class TaskSupervisor:
    """Runs named background tasks and restarts the ones that fail (see the module doc).

    ``stop``: the owner's stop event; once set, a task that returns is done, not failed,
    and nothing is restarted.
    """

    def __init__(
        self, *, stop: asyncio.Event | None = None, policy: RestartPolicy | None = None
    ) -> None:
        self.policy = policy or RestartPolicy()
        self._stop = stop if stop is not None else asyncio.Event()
        self._states: dict[str, TaskState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._draining: set[str] = set()

    @property
    def names(self) -> list[str]:
        return list(self._states)

    def states(self) -> dict[str, TaskState]:
        """Copies of every task's state, in spawn order."""
        return {name: replace(state) for name, state in self._states.items()}

    def spawn(self, name: str, factory: TaskFactory, *, drains: bool = False) -> None:
        """Start ``factory()`` as task ``name`` (unique) and keep it running.

        ``drains``: the task ends by itself soon after the stop event (a consumer finishing
        its batch): :meth:`aclose` lets it, instead of cancelling it mid-transaction.
        """
        if name in self._states:
            raise ValueError(f"a task named {name!r} is already supervised")
        loop = asyncio.get_running_loop()
        state = self._states[name] = TaskState(name, started_at=loop.time())
        self._tasks[name] = loop.create_task(self._run(state, factory), name=name)
        if drains:
            self._draining.add(name)

    async def _run(self, state: TaskState, factory: TaskFactory) -> None:
        loop = asyncio.get_running_loop()
        policy = self.policy
        while not self._stop.is_set():
            state.running, state.started_at, state.restart_at = True, loop.time(), None
            error: BaseException | None = None
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = exc
            if self._stop.is_set():
                return
            ran = loop.time() - state.started_at
            if ran >= policy.stable_after:
                state.failures = 0  # it had recovered: back off from the start
            state.failures += 1
            delay = policy.delay(state.failures)
            state.running = False
            state.last_error = _describe(error)
            state.last_failure_at = datetime.now(UTC)
            state.restart_at = loop.time() + delay
            log.error(
                "background task %s failed after %.1fs (%s, %s in a row); restarting in %.1fs",
                state.name,
                ran,
                state.last_error,
                state.failures,
                delay,
                exc_info=error,
            )
            if error is not None:
                capture_error(error, tags={"task": state.name})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            if self._stop.is_set():
                return
            state.restarts += 1
            log.info("restarting background task %s (restart %s)", state.name, state.restarts)

    def health(self) -> dict[str, HealthStatus]:
        """One readiness check per task (see the module doc for the states)."""
        loop_time = _loop_time()
        out: dict[str, HealthStatus] = {}
        for name, state in self._states.items():
            details: dict[str, Any] = {"restarts": state.restarts}
            if state.last_error is not None:
                details["last_error"] = state.last_error
            if not state.running:
                details["error"] = state.last_error
                details["failures_in_a_row"] = state.failures
                if state.restart_at is not None and loop_time is not None:
                    details["restart_in_s"] = round(max(0.0, state.restart_at - loop_time), 2)
                status = HealthState.UNHEALTHY
            elif (
                state.failures
                and loop_time is not None
                and loop_time - state.started_at < self.policy.stable_after
            ):
                # restarted, not yet proven stable
                details["failures_in_a_row"] = state.failures
                if state.failures >= _CRASH_LOOP:
                    details["error"] = f"crash-looping: {state.last_error}"
                    status = HealthState.UNHEALTHY
                else:
                    status = HealthState.DEGRADED
            else:
                status = HealthState.HEALTHY
            out[name] = HealthStatus(status=status, details=details)
        return out

    async def aclose(self, grace: float = 5.0) -> None:
        """Stop every task and forget them (the supervisor can be reused).

        Other tasks are cancelled at once; draining ones get up to ``grace`` seconds to end
        by themselves once the stop event is set (a consumer cancelled mid-batch could leave
        a database transaction open — on SQLite, with the write lock held — for whoever
        writes next, e.g. the audit drain), then are cancelled too.
        """
        self._stop.set()
        for name, task in self._tasks.items():
            if name not in self._draining:
                task.cancel()
        draining = [t for name, t in self._tasks.items() if name in self._draining]
        if draining:
            await asyncio.wait(draining, timeout=grace)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._states.clear()
        self._draining.clear()


def _loop_time() -> float | None:
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:  # asked outside the loop (a metrics scrape thread)
        return None


class SupervisorCollector:
    """Prometheus view of a :class:`TaskSupervisor` (register it in a node's registry):
    ``dictamesh_background_task_restarts_total{task}``,
    ``dictamesh_background_task_up{task}``."""

    def __init__(self, supervisor: TaskSupervisor) -> None:
        self._supervisor = supervisor

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        states = self._supervisor.states()
        restarts = CounterMetricFamily(
            "dictamesh_background_task_restarts",
            "Times a node's background task was restarted after it failed.",
            labels=["task"],
        )
        up = GaugeMetricFamily(
            "dictamesh_background_task_up",
            "1 while a node's background task runs, 0 while it waits to be restarted.",
            labels=["task"],
        )
        for name, state in states.items():
            restarts.add_metric([name], state.restarts)
            up.add_metric([name], 1 if state.running else 0)
        yield restarts
        yield up
