"""Plain in-process histograms that components keep and ``/metrics`` reads at scrape time.

Components (adapters, the publisher, the catalog engine hook) record into these without
knowing about Prometheus; :class:`dictamesh.observability.metrics.MeshCollector` turns them
into histogram families when scraped. Recording is one ``bisect`` and three additions.

Example::

    h = BucketHistogram(DURATION_BUCKETS)
    h.observe(0.042)
    h.cumulative()   # [(0.005, 0), (0.01, 0), ..., (0.05, 1), ..., (inf, 1)]
    h.count, h.sum   # 1, 0.042
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["BATCH_SIZE_BUCKETS", "DURATION_BUCKETS", "BucketHistogram"]

DURATION_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Seconds; from cache-speed answers (1 ms) to the policy timeouts (seconds)."""

BATCH_SIZE_BUCKETS: tuple[float, ...] = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
"""Records per producer batch."""


class BucketHistogram:
    """Counts per upper bound (``le``), plus sum and count, like a Prometheus histogram."""

    __slots__ = ("_counts", "bounds", "count", "sum")

    def __init__(self, bounds: Sequence[float] = DURATION_BUCKETS) -> None:
        ordered = sorted(float(b) for b in bounds if not math.isinf(b))
        self.bounds: tuple[float, ...] = tuple(ordered)
        # one slot per bound plus the +Inf overflow slot
        self._counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le)
        self._counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    @classmethod
    def merged(cls, parts: Sequence[BucketHistogram]) -> BucketHistogram:
        """One histogram counting what ``parts`` (with the same bounds) counted."""
        out = cls(parts[0].bounds if parts else ())
        for part in parts:
            if part.bounds != out.bounds:
                raise ValueError("cannot merge histograms with different bounds")
            out._counts = [a + b for a, b in zip(out._counts, part._counts, strict=True)]
            out.count += part.count
            out.sum += part.sum
        return out

    def cumulative(self) -> list[tuple[float, int]]:
        """``[(le, observations <= le), ...]`` ending with ``(inf, count)``."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, math.inf), self._counts, strict=True):
            running += n
            out.append((bound, running))
        return out
