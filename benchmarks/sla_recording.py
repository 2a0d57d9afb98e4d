"""What SLA recording costs on the adapter call path: the same source calls with and without
the SLA monitor's observer, side by side in one run.

    python benchmarks/sla_recording.py                      # 2000 calls x 15 rounds
    python benchmarks/sla_recording.py --calls 5000 --rounds 5

Two :class:`~dictamesh.testing.adapters.FakeAdapter` s over the same in-memory rows (no
network: the figure is the call path's own CPU, where an extra microsecond is most visible)
answer ``query_entities`` — a page read, never cached, so every call runs the full
``AdapterBase._call`` (resilience policy, counters, histogram, span hook):

- **off**: no observer;
- **on**: :meth:`~dictamesh.sla.monitor.SlaMonitor.call_observer` registered through
  ``observe_calls``, as a node does (``sla.enabled``).

The modes alternate within each round (which goes first alternates too) so machine drift
hits both alike; each is timed with ``time.process_time``. It prints µs per call for both
(medians of the rounds), the difference (what recording adds per call), the ratio on/off as
the median of the rounds' own ratios (on a shared machine a round's two modes see the same
load, rounds do not), and the cost of one observer call alone; the KPI is the CPU recording
adds per call in per cent (goal <= 5).
A window read (``SlaMonitor.report``, what an evaluation or a scrape does) over a full
window is timed too, off the call path.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _kpi import Kpi, record

from dictamesh.core.models import Query
from dictamesh.core.settings import SlaSettings
from dictamesh.sla.monitor import SlaMonitor
from dictamesh.testing.adapters import FakeAdapter, FakeStore

ROWS = [{"id": f"w-{i}", "name": f"widget {i}", "color": "red"} for i in range(20)]


async def timed(adapter: FakeAdapter, calls: int) -> float:
    """CPU seconds per call of ``calls`` page reads."""
    query = Query(limit=5)
    started = time.process_time()
    for _ in range(calls):
        await adapter.query_entities(query)
    return (time.process_time() - started) / calls


async def run(calls: int, rounds: int) -> None:
    store = FakeStore()
    off = FakeAdapter(records=ROWS, store=store)
    on = FakeAdapter(store=store)
    monitor = SlaMonitor([on], SlaSettings())
    on.observe_calls(monitor.call_observer(on.name))
    async with off, on:
        await timed(off, 500)  # warm both
        await timed(on, 500)
        found: dict[str, list[float]] = {"off": [], "on": []}
        for turn in range(rounds):
            modes = [("off", off), ("on", on)]
            for mode, adapter in modes if turn % 2 == 0 else modes[::-1]:
                found[mode].append(await timed(adapter, calls))
    ratio = statistics.median(a / b for a, b in zip(found["on"], found["off"], strict=True))
    per_off = statistics.median(found["off"]) * 1e6
    per_on = statistics.median(found["on"]) * 1e6

    observe = SlaMonitor([FakeAdapter()], SlaSettings()).call_observer("fake_widgets")
    started = time.process_time()
    for _ in range(200_000):
        observe("success", 0.0123)
    alone = (time.process_time() - started) / 200_000 * 1e6

    full = SlaMonitor([FakeAdapter()], SlaSettings(max_samples=10_000))
    full_observe = full.call_observer("fake_widgets")
    for i in range(10_000):
        full_observe("success" if i % 50 else "error", (i % 97) / 1000)
    started = time.process_time()
    full.report("fake_widgets")
    report_ms = (time.process_time() - started) * 1000

    spread = {m: (min(v) * 1e6, max(v) * 1e6) for m, v in found.items()}
    print(f"calls per mode and round: {calls}, rounds: {rounds}")
    print(f"off: {per_off:8.2f} us/call  (rounds {spread['off'][0]:.2f}-{spread['off'][1]:.2f})")
    print(f"on:  {per_on:8.2f} us/call  (rounds {spread['on'][0]:.2f}-{spread['on'][1]:.2f})")
    print(f"recording adds {per_on - per_off:+.2f} us/call; ratio on/off {ratio:.3f}x")
    print(f"one observer call alone: {alone:.3f} us")
    print(f"one report over a full window (10000 calls): {report_ms:.2f} ms (off the call path)")
    record(
        Kpi(
            figure="SLA recording: CPU added per adapter source call",
            value=100 * (ratio - 1),
            unit="%",
            goal="<= 5",
            baseline="same calls without the observer, same run",
            ratio=ratio,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.rounds))


if __name__ == "__main__":
    main()
