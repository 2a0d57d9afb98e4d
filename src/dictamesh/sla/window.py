"""A sliding window of timed samples: appended on the hot path, summarised off it.

Recording is one ``deque.append`` of ``(monotonic time, value)``; pruning and percentiles
happen when the window is read (the SLA monitor's evaluation, a status request). The deque
is bounded (``max_samples``): under a flood the oldest samples go first, so the window then
covers less time than asked rather than growing without bound.

Example::

    window = SlidingWindow(300.0)
    window.add(0.012)
    window.summary(now=time.monotonic()).percentile(95)
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["SlidingWindow", "WindowSummary", "percentile"]


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values (``None`` when empty)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class WindowSummary:
    """The values inside the window, sorted, and how many of them were flagged."""

    values: tuple[float, ...]
    flagged: int

    @property
    def count(self) -> int:
        return len(self.values)

    def percentile(self, p: float) -> float | None:
        return percentile(self.values, p)


class SlidingWindow:
    """``(time, value, flag)`` samples of the last ``seconds``; ``flag`` marks a failure."""

    __slots__ = ("_clock", "_samples", "seconds")

    def __init__(
        self,
        seconds: float,
        *,
        max_samples: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._samples: deque[tuple[float, float, bool]] = deque(maxlen=max_samples)

    def add(self, value: float, flag: bool = False) -> None:
        self._samples.append((self._clock(), value, flag))

    def summary(self, now: float | None = None) -> WindowSummary:
        """Drop what left the window, then summarise the rest."""
        now = self._clock() if now is None else now
        oldest = now - self.seconds
        samples = self._samples
        while samples and samples[0][0] < oldest:
            samples.popleft()
        kept = list(samples)
        return WindowSummary(
            values=tuple(sorted(v for _, v, _ in kept)), flagged=sum(1 for *_, f in kept if f)
        )
