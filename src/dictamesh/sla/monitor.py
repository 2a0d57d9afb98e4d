"""Each adapter's SLA measured over a sliding window, judged per objective, with one
event per breach and one per recovery.

What is recorded, and where (all in process, nothing written per call or per event):

* **source calls** — every :class:`~dictamesh.adapters.base.AdapterBase` call reports its
  outcome and duration to :meth:`SlaMonitor.call_observer`'s callback: availability (share
  of calls that did not fail; circuit-breaker refusals fail), error rate, latency p50/p95;
* **freshness lag, stage ``catalog``** — the ingest hands each applied change to
  :meth:`SlaMonitor.record_lag` right after the catalog committed it: lag = commit time -
  the change event's ``timestamp`` (when the adapter captured the change);
* **freshness lag, stage ``api``** — the api node's cache-invalidation consumer does the
  same once it invalidated the entity (from then on the API serves the new value).

:meth:`SlaMonitor.evaluate` (every ``sla.evaluation_interval_seconds``) measures each
adapter's window and moves a small state machine per (adapter, objective)::

    ok --(violated in `consecutive_evaluations` evaluations in a row)--> breached
    breached --(met in `consecutive_evaluations` evaluations in a row)--> ok

An evaluation with fewer than ``sla.min_samples`` calls (``sla.min_changes`` changes for
freshness) judges nothing (the streak
restarts): a single slow call, or a quiet source, never flips a state. The transitions
publish ``system.sla.breached`` / ``system.sla.recovered`` (:data:`SLA_TOPICS`) through an
:class:`~dictamesh.events.relay.EventRelay` (best effort, never blocking) with the body
``{adapter, entity_type, domain, objective, target, measured, samples, window_seconds,
node, since, event_type, event_id, occurred_at}``.

Example::

    monitor = SlaMonitor(adapters, settings.sla, relay=relay, node="api-1")
    adapter.observe_calls(monitor.call_observer(adapter.name))
    monitor.record_lag("catalog", event.entity.type, event.timestamp)
    monitor.evaluate()
    monitor.report("customers_directus")["objectives"]["availability"]["state"]
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.core.settings import SlaSettings
from dictamesh.events.relay import EventRelay
from dictamesh.events.topics import TopicSpec
from dictamesh.sla.window import SlidingWindow

__all__ = [
    "BREACHED_TOPIC",
    "OBJECTIVES",
    "RECOVERED_TOPIC",
    "SLA_TOPICS",
    "STAGES",
    "SlaMonitor",
]

BREACHED_TOPIC = "system.sla.breached"
RECOVERED_TOPIC = "system.sla.recovered"
_WEEK_MS = 7 * 24 * 3600 * 1000
SLA_TOPICS = (
    TopicSpec(name=BREACHED_TOPIC, retention_ms=_WEEK_MS),
    TopicSpec(name=RECOVERED_TOPIC, retention_ms=_WEEK_MS),
)
#: the freshness stages: source change → catalog commit, source change → API invalidation
STAGES = ("catalog", "api")
#: the judged objectives (metric label ``objective``)
OBJECTIVES = ("availability", "latency_p95_ms", "freshness_catalog", "freshness_api")
#: a source call that counts against availability (``adapters/base.py`` outcomes); a
#: refused write or a not-found is the source answering, a cancelled call is no verdict
_FAILED = frozenset({"error", "circuit_open"})


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat()


@dataclass(slots=True)
class _State:
    breached: bool = False
    streak: int = 0
    since: float = 0.0  # wall clock of the last transition (monitor start before one)
    breaches: int = 0


@dataclass(frozen=True, slots=True)
class _Measure:
    """One objective's value over the window (``measured`` None: not enough samples)."""

    target: float
    measured: float | None
    samples: int
    met: bool | None


class _Tracked:
    """One adapter's windows."""

    __slots__ = ("adapter", "calls", "lags")

    def __init__(
        self, adapter: DataProductAdapter, settings: SlaSettings, clock: Callable[[], float]
    ) -> None:
        self.adapter = adapter
        size, bound = settings.window_seconds, settings.max_samples
        self.calls = SlidingWindow(size, max_samples=bound, clock=clock)
        self.lags = {stage: SlidingWindow(size, max_samples=bound, clock=clock) for stage in STAGES}


class SlaMonitor:
    def __init__(
        self,
        adapters: Iterable[DataProductAdapter],
        settings: SlaSettings,
        *,
        relay: EventRelay | None = None,
        node: str = "",
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``wall``: the clock event timestamps are compared with (and ``since`` is told
        in); ``clock``: the windows' (both injectable for tests)."""
        self.settings = settings
        self.relay = relay
        self.node = node
        self._wall = wall
        self._tracked = {a.name: _Tracked(a, settings, clock) for a in adapters}
        self._by_type: dict[str, list[_Tracked]] = {}
        for tracked in self._tracked.values():
            self._by_type.setdefault(tracked.adapter.entity_type, []).append(tracked)
        started = wall()
        self._states = {
            (name, objective): _State(since=started)
            for name in self._tracked
            for objective in OBJECTIVES
        }

    @property
    def adapter_names(self) -> list[str]:
        return sorted(self._tracked)

    # --- recording (hot path: one append) -----------------------------------------------

    def call_observer(self, adapter_name: str) -> Callable[[str, float], None]:
        """The callback an adapter calls after each source call: ``(outcome, seconds)``."""
        add = self._tracked[adapter_name].calls.add

        def observe(outcome: str, seconds: float) -> None:
            if outcome != "cancelled":
                add(seconds * 1000, outcome in _FAILED)

        return observe

    def record_lag(self, stage: str, entity_type: str, timestamp_ms: int) -> None:
        """A change of ``entity_type`` captured at ``timestamp_ms`` reached ``stage`` now."""
        tracked = self._by_type.get(entity_type)
        if not tracked:
            return
        # clocks of two hosts may disagree a little: a change never arrives before it happened
        lag = max(0.0, self._wall() - timestamp_ms / 1000)
        for one in tracked:
            one.lags[stage].add(lag)

    # --- measuring and judging ----------------------------------------------------------

    def _measure(self, tracked: _Tracked, now: float | None = None) -> dict[str, Any]:
        sla = tracked.adapter.get_sla()
        enough = self.settings.min_samples
        calls = tracked.calls.summary(now)
        availability = error_rate = None
        if calls.count:
            error_rate = calls.flagged / calls.count
            availability = 1 - error_rate
        p95 = calls.percentile(95)
        measures = {
            "availability": _Measure(
                sla.availability_target,
                availability,
                calls.count,
                None
                if calls.count < enough or availability is None
                else availability >= sla.availability_target,
            ),
            "latency_p95_ms": _Measure(
                sla.latency_p95_ms,
                p95,
                calls.count,
                None if calls.count < enough or p95 is None else p95 <= sla.latency_p95_ms,
            ),
        }
        lags = {}
        for stage in STAGES:
            lag = tracked.lags[stage].summary(now)
            enough = self.settings.min_changes
            lags[stage] = lag
            lag95 = lag.percentile(95)
            measures[f"freshness_{stage}"] = _Measure(
                sla.freshness_seconds,
                lag95,
                lag.count,
                None if lag.count < enough or lag95 is None else lag95 <= sla.freshness_seconds,
            )
        return {
            "measures": measures,
            "calls": calls.count,
            "error_rate": error_rate,
            "latency_p50_ms": calls.percentile(50),
            "lag_p50": {stage: lags[stage].percentile(50) for stage in STAGES},
        }

    def evaluate(self) -> list[dict[str, Any]]:
        """Judge every (adapter, objective) once; the events published (also returned)."""
        published: list[dict[str, Any]] = []
        needed = self.settings.consecutive_evaluations
        for name, tracked in self._tracked.items():
            for objective, measure in self._measure(tracked)["measures"].items():
                state = self._states[(name, objective)]
                if measure.met is None or measure.met != state.breached:
                    state.streak = 0  # no verdict, or the verdict the state already says
                    continue
                state.streak += 1
                if state.streak < needed:
                    continue
                state.breached = not state.breached
                state.streak = 0
                state.since = self._wall()
                if state.breached:
                    state.breaches += 1
                published.append(self._publish(tracked, objective, measure, state))
        return published

    def _publish(
        self, tracked: _Tracked, objective: str, measure: _Measure, state: _State
    ) -> dict[str, Any]:
        adapter = tracked.adapter
        kind = "sla_breached" if state.breached else "sla_recovered"
        body = {
            "event_type": kind,
            "event_id": str(uuid.uuid4()),
            "adapter": adapter.name,
            "entity_type": adapter.entity_type,
            "domain": adapter.source.domain,
            "objective": objective,
            "target": measure.target,
            "measured": None if measure.measured is None else round(measure.measured, 6),
            "samples": measure.samples,
            "window_seconds": self.settings.window_seconds,
            "node": self.node,
            "since": _iso(state.since),
            "occurred_at": _iso(self._wall()),
        }
        if self.relay is not None:
            topic = BREACHED_TOPIC if state.breached else RECOVERED_TOPIC
            self.relay.offer(topic, key=adapter.name, body=body)
        return body

    async def run(self) -> None:
        """Evaluate every ``evaluation_interval_seconds`` until cancelled."""
        while True:
            await asyncio.sleep(self.settings.evaluation_interval_seconds)
            self.evaluate()

    # --- reading ------------------------------------------------------------------------

    def report(self, adapter_name: str) -> dict[str, Any] | None:
        """The adapter's SLA over the window, JSON-ready (``None``: not monitored here)."""
        tracked = self._tracked.get(adapter_name)
        if tracked is None:
            return None
        found = self._measure(tracked)
        objectives = {}
        for objective, m in found["measures"].items():
            state = self._states[(adapter_name, objective)]
            objectives[objective] = {
                "target": m.target,
                "measured": None if m.measured is None else round(m.measured, 6),
                "samples": m.samples,
                "met": m.met,
                "state": "breached" if state.breached else "ok",
                "since": _iso(state.since),
                "breaches": state.breaches,
            }
        return {
            "window_seconds": self.settings.window_seconds,
            "min_samples": self.settings.min_samples,
            "min_changes": self.settings.min_changes,
            "node": self.node,
            "calls": found["calls"],
            "error_rate": None if found["error_rate"] is None else round(found["error_rate"], 6),
            "latency_p50_ms": found["latency_p50_ms"],
            "freshness_lag_p50_seconds": found["lag_p50"],
            "objectives": objectives,
        }

    def reports(self) -> Sequence[tuple[DataProductAdapter, dict[str, Any]]]:
        """Every monitored adapter with its :meth:`report`."""
        out = []
        for name in self.adapter_names:
            found = self.report(name)
            if found is not None:
                out.append((self._tracked[name].adapter, found))
        return out
