"""An adapter's operating status: health, breaker, error rate, latency percentiles, and its
SLA target next to what this node measured (the operations pages, ``docs/ui.md``).

Everything here is read from the running node, nothing from the source beyond the health
probe the caller passes in:

* counters and the breaker from :meth:`~dictamesh.adapters.contract.DataProductAdapter.get_metrics`
  (since the adapter started);
* latency percentiles from the adapter's bounded window of its latest source calls
  (:meth:`~dictamesh.adapters.base.AdapterBase.latency_percentiles`: the last 1024 calls);
  an adapter that is not an ``AdapterBase`` reports p50/p95 from its metrics and no p99;
* ``last_sync_at``: when the catalog last recorded a change from this source (the caller
  reads it from the event log).

Measured against the target: ``availability`` = share of source calls that did not fail
(circuit-breaker refusals count as failures), ``latency_p95_ms`` over the window, and
``freshness_seconds`` = age of ``last_sync_at``. The last is an upper bound of the catalog's
staleness only while the source keeps changing: a quiet source ages without being stale, so
``met`` says ``None`` (unknown) rather than ``False`` for it.

Example::

    status = adapter_status(adapter, await adapter.health_check(), last_sync_at=when)
    status["sla"]["measured"]["latency_p95_ms"]
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.core.models import HealthState, HealthStatus

__all__ = ["PERCENTILES", "adapter_status", "measured_sla"]

#: the latency percentiles reported, by name
PERCENTILES: dict[str, float] = {"p50": 50.0, "p95": 95.0, "p99": 99.0}


def _latency(adapter: DataProductAdapter) -> tuple[dict[str, float | None], int | None]:
    """``({p50, p95, p99}, samples in the window)``."""
    percentiles = getattr(adapter, "latency_percentiles", None)
    if callable(percentiles):
        found = percentiles(*PERCENTILES.values())
        window = getattr(adapter, "latency_window", None)
        return {name: found[p] for name, p in PERCENTILES.items()}, window
    metrics = adapter.get_metrics()
    return {"p50": metrics.latency_p50_ms, "p95": metrics.latency_p95_ms, "p99": None}, None


def measured_sla(
    adapter: DataProductAdapter,
    *,
    latency_p95_ms: float | None,
    last_sync_at: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """What this node measured of the adapter's SLA, and whether each target is ``met``
    (``None``: not measurable yet, or not judged; see the module doc)."""
    metrics = adapter.get_metrics()
    target = adapter.get_sla()
    availability = None if metrics.calls == 0 else round(1 - metrics.errors / metrics.calls, 6)
    freshness = None
    if last_sync_at is not None:
        freshness = round(max(0.0, (now - last_sync_at).total_seconds()), 3)
    return {
        "availability": availability,
        "latency_p95_ms": latency_p95_ms,
        "freshness_seconds": freshness,
        "met": {
            "availability": None
            if availability is None
            else availability >= target.availability_target,
            "latency_p95_ms": None
            if latency_p95_ms is None
            else latency_p95_ms <= target.latency_p95_ms,
            # a quiet source ages without being stale: only a fresh sync is a verdict
            "freshness_seconds": True
            if freshness is not None and freshness <= target.freshness_seconds
            else None,
        },
    }


def adapter_status(
    adapter: DataProductAdapter,
    health: HealthStatus,
    *,
    last_sync_at: datetime | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The adapter's status as plain JSON-ready data (see the module doc)."""
    now = now or datetime.now(UTC)
    metrics = adapter.get_metrics()
    latency, window = _latency(adapter)
    error_rate = None if metrics.calls == 0 else round(metrics.errors / metrics.calls, 6)
    return {
        "name": adapter.name,
        "entity_type": adapter.entity_type,
        "domain": adapter.source.domain,
        "system": adapter.source.system,
        "healthy": health.status is not HealthState.UNHEALTHY,
        "health": health.model_dump(mode="json"),
        "breaker_state": metrics.breaker_state,
        "breaker_retry_in_seconds": metrics.breaker_retry_in_seconds,
        "last_sync_at": None if last_sync_at is None else last_sync_at.isoformat(),
        "error_rate": error_rate,
        "latency_ms": latency,
        "latency_window": window,
        "calls": metrics.calls,
        "errors": metrics.errors,
        "circuit_rejected": metrics.circuit_rejected,
        "stale_served": metrics.stale_served,
        "sla": {
            "target": adapter.get_sla().model_dump(mode="json"),
            "measured": measured_sla(
                adapter, latency_p95_ms=latency["p95"], last_sync_at=last_sync_at, now=now
            ),
        },
        "measured_at": now.isoformat(),
    }
