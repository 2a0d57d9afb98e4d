"""Prometheus view of a :class:`~dictamesh.sla.monitor.SlaMonitor`, read at scrape time.

Labels are ``adapter``, ``entity_type`` and one of ``objective`` / ``stage`` / ``quantile``
(bounded: adapters times a fixed set), never an entity id or a value:

* ``dictamesh_sla_availability_ratio``, ``dictamesh_sla_error_ratio`` — over the window;
* ``dictamesh_sla_latency_seconds{quantile="0.5"|"0.95"}`` — source calls in the window;
* ``dictamesh_sla_freshness_lag_seconds{stage="catalog"|"api"}`` — p95 over the window;
* ``dictamesh_sla_window_samples{objective}`` — what each measurement rests on;
* ``dictamesh_sla_target{objective}`` — the declared target (ratio, ms, seconds);
* ``dictamesh_sla_breached{objective}`` — 1 while breached;
* ``dictamesh_sla_breaches_total{objective}`` — breaches since the node started.

A measurement without samples is left out (no series) rather than exported as 0.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from dictamesh.sla.monitor import STAGES, SlaMonitor

__all__ = ["SlaCollector"]

_AE = ["adapter", "entity_type"]


class SlaCollector:
    def __init__(self, monitor: SlaMonitor) -> None:
        self._monitor = monitor

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        availability = GaugeMetricFamily(
            "dictamesh_sla_availability_ratio",
            "Share of source calls that did not fail over the SLA window.",
            labels=_AE,
        )
        errors = GaugeMetricFamily(
            "dictamesh_sla_error_ratio",
            "Share of source calls that failed over the SLA window.",
            labels=_AE,
        )
        latency = GaugeMetricFamily(
            "dictamesh_sla_latency_seconds",
            "Source-call latency percentiles over the SLA window.",
            labels=[*_AE, "quantile"],
        )
        lag = GaugeMetricFamily(
            "dictamesh_sla_freshness_lag_seconds",
            "p95 of source change to catalog commit (catalog) or to API invalidation (api).",
            labels=[*_AE, "stage"],
        )
        samples = GaugeMetricFamily(
            "dictamesh_sla_window_samples",
            "Samples (calls or changes) each SLA objective was measured over.",
            labels=[*_AE, "objective"],
        )
        target = GaugeMetricFamily(
            "dictamesh_sla_target",
            "Declared SLA target per objective (ratio, milliseconds or seconds).",
            labels=[*_AE, "objective"],
        )
        breached = GaugeMetricFamily(
            "dictamesh_sla_breached",
            "1 while the SLA objective is breached on this node.",
            labels=[*_AE, "objective"],
        )
        breaches = CounterMetricFamily(
            "dictamesh_sla_breaches",
            "SLA breaches (ok to breached transitions) since the node started.",
            labels=[*_AE, "objective"],
        )
        for adapter, report in self._monitor.reports():
            ae = [adapter.name, adapter.entity_type]
            objectives = report["objectives"]
            if report["error_rate"] is not None:
                errors.add_metric(ae, report["error_rate"])
                availability.add_metric(ae, objectives["availability"]["measured"])
            if report["latency_p50_ms"] is not None:
                latency.add_metric([*ae, "0.5"], report["latency_p50_ms"] / 1000)
                latency.add_metric([*ae, "0.95"], objectives["latency_p95_ms"]["measured"] / 1000)
            for stage in STAGES:
                measured = objectives[f"freshness_{stage}"]["measured"]
                if measured is not None:
                    lag.add_metric([*ae, stage], measured)
            for objective, found in objectives.items():
                labels = [*ae, objective]
                samples.add_metric(labels, found["samples"])
                target.add_metric(labels, found["target"])
                breached.add_metric(labels, 1 if found["state"] == "breached" else 0)
                breaches.add_metric(labels, found["breaches"])
        yield from (availability, errors, latency, lag, samples, target, breached, breaches)
