"""The SLA monitor: windows per adapter, one event per breach and per recovery, minimum
samples and consecutive evaluations against flapping, freshness lag by stage, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from prometheus_client import CollectorRegistry

from dictamesh.core.errors import SourceUnavailable
from dictamesh.core.settings import SlaSettings
from dictamesh.events.relay import EventRelay
from dictamesh.sla import BREACHED_TOPIC, RECOVERED_TOPIC, SLA_TOPICS, NodeSla, SlaMonitor
from dictamesh.testing.adapters import FakeAdapter, fake_config
from dictamesh.testing.bus import InMemoryBus


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(
    adapter: FakeAdapter | None = None, *, relay: EventRelay | None = None, **settings: Any
) -> tuple[SlaMonitor, FakeAdapter, Clock, Clock]:
    adapter = adapter or FakeAdapter()
    clock, wall = Clock(1000.0), Clock(1_700_000_000.0)
    options = {"window_seconds": 60.0, "min_samples": 5, "consecutive_evaluations": 2}
    monitor = SlaMonitor(
        [adapter],
        SlaSettings(**{**options, **settings}),
        relay=relay,
        node="node-1",
        wall=wall,
        clock=clock,
    )
    return monitor, adapter, clock, wall


def calls(monitor: SlaMonitor, outcome: str, seconds: float, times: int) -> None:
    observe = monitor.call_observer("fake_widgets")
    for _ in range(times):
        observe(outcome, seconds)


def objective(monitor: SlaMonitor, name: str) -> dict[str, Any]:
    report = monitor.report("fake_widgets")
    assert report is not None
    found: dict[str, Any] = report["objectives"][name]
    return found


def test_failures_breach_availability_once_and_recover_once() -> None:
    monitor, _, clock, wall = make()
    calls(monitor, "success", 0.01, 10)
    assert monitor.evaluate() == []
    calls(monitor, "error", 0.01, 5)  # 10 of 15 succeeded: 0.667 < 0.99
    assert monitor.evaluate() == []  # one violating evaluation is not yet a breach
    wall.now += 30
    (breach,) = monitor.evaluate()
    assert breach["event_type"] == "sla_breached"
    assert breach["adapter"] == "fake_widgets"
    assert (breach["entity_type"], breach["domain"]) == ("widget", "testing")
    assert (breach["objective"], breach["target"]) == ("availability", 0.99)
    assert breach["measured"] == round(10 / 15, 6)
    assert (breach["samples"], breach["window_seconds"], breach["node"]) == (15, 60.0, "node-1")
    assert breach["since"] == breach["occurred_at"] == "2023-11-14T22:13:50+00:00"
    assert monitor.evaluate() == [] == monitor.evaluate()  # still breached: no second event
    found = objective(monitor, "availability")
    assert (found["state"], found["met"], found["breaches"]) == ("breached", False, 1)
    # the failures leave the window; healthy calls after them
    clock.now += 61
    calls(monitor, "success", 0.01, 5)
    assert monitor.evaluate() == []
    (recovery,) = monitor.evaluate()
    assert (recovery["event_type"], recovery["objective"]) == ("sla_recovered", "availability")
    assert recovery["measured"] == 1.0
    assert objective(monitor, "availability")["state"] == "ok"


def test_a_single_slow_call_or_a_short_blip_does_not_flap() -> None:
    monitor, *_ = make()
    calls(monitor, "success", 2.0, 1)  # 2 s, target 250 ms: too few samples to judge
    for _ in range(3):
        assert monitor.evaluate() == []
    assert objective(monitor, "latency_p95_ms")["met"] is None
    calls(monitor, "success", 0.01, 30)  # the slow one is above the p95 now
    assert monitor.evaluate() == []
    assert objective(monitor, "latency_p95_ms")["met"] is True
    # violated in one evaluation, met in the next: the streak restarts, no event
    calls(monitor, "success", 2.0, 10)
    assert monitor.evaluate() == []
    calls(monitor, "success", 0.01, 200)
    assert monitor.evaluate() == [] == monitor.evaluate()
    assert objective(monitor, "latency_p95_ms")["breaches"] == 0


def test_slow_calls_breach_latency() -> None:
    monitor, *_ = make(consecutive_evaluations=1)
    calls(monitor, "success", 0.4, 20)  # p95 400 ms > 250 ms
    (breach,) = monitor.evaluate()
    assert (breach["objective"], breach["measured"], breach["target"]) == (
        "latency_p95_ms",
        400.0,
        250.0,
    )
    report = monitor.report("fake_widgets")
    assert report is not None
    assert report["latency_p50_ms"] == 400.0
    assert report["error_rate"] == 0.0


def test_refused_and_cancelled_calls_are_not_failures() -> None:
    monitor, *_ = make()
    calls(monitor, "rejected", 0.01, 5)  # the source answered (not found, refused write)
    calls(monitor, "circuit_open", 0.0, 1)
    calls(monitor, "cancelled", 0.01, 50)  # the caller went away: no verdict
    found = objective(monitor, "availability")
    assert (found["samples"], found["measured"]) == (6, round(5 / 6, 6))


def test_freshness_lag_per_stage_from_the_event_timestamp() -> None:
    monitor, _, _, wall = make(consecutive_evaluations=1, min_changes=2)
    captured_ms = int(wall.now * 1000) - 1500
    monitor.record_lag("catalog", "widget", captured_ms)
    monitor.record_lag("catalog", "widget", captured_ms + 500)
    monitor.record_lag("api", "widget", captured_ms)
    monitor.record_lag("catalog", "unknown_type", captured_ms)  # not monitored here: ignored
    monitor.record_lag("api", "widget", int(wall.now * 1000) + 5000)  # a clock ahead: 0
    catalog = objective(monitor, "freshness_catalog")
    api = objective(monitor, "freshness_api")
    assert (catalog["measured"], catalog["samples"], catalog["met"]) == (1.5, 2, True)
    assert (api["measured"], api["samples"]) == (1.5, 2)
    report = monitor.report("fake_widgets")
    assert report is not None
    assert report["freshness_lag_p50_seconds"] == {"catalog": 1.0, "api": 0.0}
    # changes arriving minutes late breach the 60 s freshness target of the catalog stage
    old = int(wall.now * 1000) - 120_000
    monitor.record_lag("catalog", "widget", old)
    monitor.record_lag("catalog", "widget", old)
    breaches = monitor.evaluate()
    assert [(b["objective"], b["measured"]) for b in breaches] == [("freshness_catalog", 120.0)]


async def test_a_real_adapter_reports_its_calls_and_the_metrics_show_them() -> None:
    adapter = FakeAdapter(
        config=fake_config(resilience={"max_attempts": 1, "timeout_seconds": 0.5}),
        records=[{"id": "w-1", "name": "W"}],
    )
    registry = CollectorRegistry()
    async with adapter, InMemoryBus() as bus:
        sla = NodeSla.build(
            SlaSettings(min_samples=2, consecutive_evaluations=1),
            [adapter],
            bus,
            node="node-1",
            observe_calls=True,
            metrics=registry,
        )
        await sla.ensure_topics(bus)
        adapter.fail(times=3, hooks=["fetch_one"])
        for _ in range(3):
            with contextlib.suppress(SourceUnavailable):
                await adapter.get_entity("w-1")
        await adapter.get_entity("w-1")
        (breach,) = sla.monitor.evaluate()
        assert (breach["objective"], breach["measured"], breach["samples"]) == (
            "availability",
            0.25,
            4,
        )
        await sla.aclose()  # flushes the relay
        async with bus.consumer("test", [s.name for s in SLA_TOPICS]) as consumer:
            got = []
            for _ in range(50):
                got += await consumer.poll(timeout=0.05)
                if got:
                    break
        assert [(m.topic, m.key) for m in got] == [(BREACHED_TOPIC, "fake_widgets")]
        assert json.loads(got[0].value)["objective"] == "availability"

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(
            name, {"adapter": "fake_widgets", "entity_type": "widget", **labels}
        )

    assert sample("dictamesh_sla_availability_ratio") == 0.25
    assert sample("dictamesh_sla_error_ratio") == 0.75
    assert sample("dictamesh_sla_breached", objective="availability") == 1
    assert sample("dictamesh_sla_breached", objective="latency_p95_ms") == 0
    assert sample("dictamesh_sla_breaches_total", objective="availability") == 1
    assert sample("dictamesh_sla_target", objective="availability") == 0.99
    assert sample("dictamesh_sla_target", objective="freshness_api") == 60
    assert sample("dictamesh_sla_window_samples", objective="availability") == 4
    assert sample("dictamesh_sla_latency_seconds", quantile="0.95") is not None
    # no change seen: no lag series rather than a made-up 0
    assert sample("dictamesh_sla_freshness_lag_seconds", stage="catalog") is None


def test_the_recovered_topic_and_the_mesh_events_agree() -> None:
    from dictamesh.core.notification_config import MESH_EVENTS

    assert MESH_EVENTS["sla_breached"][0] == BREACHED_TOPIC == "system.sla.breached"
    assert MESH_EVENTS["sla_recovered"][0] == RECOVERED_TOPIC == "system.sla.recovered"


async def test_run_evaluates_on_its_interval() -> None:
    monitor, *_ = make(evaluation_interval_seconds=0.01, consecutive_evaluations=1)
    calls(monitor, "error", 0.01, 10)
    task = asyncio.create_task(monitor.run())
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            if objective(monitor, "availability")["state"] == "breached":
                break
    finally:
        task.cancel()
    assert objective(monitor, "availability")["state"] == "breached"


def test_mesh_yaml_overrides_the_declared_targets() -> None:
    adapter = FakeAdapter(
        config=fake_config(sla={"latency_p95_ms": 100, "availability_target": 0.9})
    )
    assert adapter.get_sla().latency_p95_ms == 100
    assert adapter.get_sla().availability_target == 0.9
    assert adapter.get_sla().freshness_seconds == FakeAdapter.sla.freshness_seconds
    monitor, *_ = make(adapter, consecutive_evaluations=1)
    calls(monitor, "success", 0.2, 10)  # 200 ms: within the class's 250, not the 100 set
    calls(monitor, "error", 0.2, 1)  # 10 of 11: 0.909 meets the lowered 0.9
    (breach,) = monitor.evaluate()
    assert (breach["objective"], breach["target"]) == ("latency_p95_ms", 100)


def test_a_bad_override_is_refused_with_the_settings() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        fake_config(sla={"availability_target": 1.5})
    with pytest.raises(ValidationError):
        fake_config(sla={"latency_p95": 100})  # a typo is not silently ignored
