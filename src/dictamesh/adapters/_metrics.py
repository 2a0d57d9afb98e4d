"""Counters and a bounded latency reservoir behind ``AdapterBase.get_metrics()``; the
per-operation counts and duration histograms are what ``/metrics`` exports
(:mod:`dictamesh.observability.metrics` reads them at scrape time)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from dictamesh.observability.stats import DURATION_BUCKETS, BucketHistogram

__all__ = ["AdapterCounters", "LatencyReservoir"]


class LatencyReservoir:
    """The last ``size`` latencies (ms); percentiles over them, so memory stays bounded
    and the numbers describe recent behaviour rather than the whole uptime."""

    def __init__(self, size: int = 1024) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, ms: float) -> None:
        self._samples.append(ms)

    def __len__(self) -> int:
        return len(self._samples)

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile, ``p`` in [0, 100]; ``None`` without samples."""
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats drifting
        return round(ordered[min(len(ordered), int(rank)) - 1], 3)


@dataclass
class AdapterCounters:
    calls: int = 0
    errors: int = 0
    retries: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    stale_served: int = 0
    events_emitted: int = 0
    webhooks_received: int = 0
    change_errors: int = 0
    latency: LatencyReservoir = field(default_factory=LatencyReservoir)
    #: (operation, outcome) → logical source calls
    ops: dict[tuple[str, str], int] = field(default_factory=dict)
    #: operation → call durations in seconds
    durations: dict[str, BucketHistogram] = field(default_factory=dict)
    #: (from state, to state) → circuit breaker transitions
    breaker_transitions: dict[tuple[str, str], int] = field(default_factory=dict)

    def record_call(self, operation: str, outcome: str, seconds: float) -> None:
        key = (operation, outcome)
        self.ops[key] = self.ops.get(key, 0) + 1
        hist = self.durations.get(operation)
        if hist is None:
            hist = self.durations[operation] = BucketHistogram(DURATION_BUCKETS)
        hist.observe(seconds)
