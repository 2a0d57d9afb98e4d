"""The sliding window: samples leave it by age, the bound keeps the newest, percentiles."""

from __future__ import annotations

from dictamesh.sla.window import SlidingWindow, percentile


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_samples_older_than_the_window_leave_it() -> None:
    clock = Clock()
    window = SlidingWindow(10.0, clock=clock)
    window.add(1.0, True)
    clock.now += 6
    window.add(2.0)
    window.add(3.0)
    found = window.summary()
    assert (found.count, found.flagged, found.values) == (3, 1, (1.0, 2.0, 3.0))
    clock.now += 5  # the first is 11 s old now
    found = window.summary()
    assert (found.count, found.flagged, found.values) == (2, 0, (2.0, 3.0))
    clock.now += 100
    assert window.summary().count == 0
    assert window.summary().percentile(95) is None


def test_the_bound_keeps_the_newest_samples() -> None:
    window = SlidingWindow(60.0, max_samples=3, clock=Clock())
    for value in (9.0, 8.0, 1.0, 2.0, 3.0):
        window.add(value)
    assert window.summary().values == (1.0, 2.0, 3.0)


def test_nearest_rank_percentiles() -> None:
    ordered = [float(v) for v in range(1, 101)]
    assert percentile(ordered, 50) == 50.0
    assert percentile(ordered, 95) == 95.0
    assert percentile(ordered, 100) == 100.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
