"""What a schema-registry compatibility check costs everyone else: event-loop lag during
wide-union checks, run in a worker thread (baseline) vs in the registry's worker processes.

    python benchmarks/registry_check_isolation.py                # 990-branch union, 3 rounds
    python benchmarks/registry_check_isolation.py --width 500 --rounds 5

Each round runs three FULL checks of a record whose field is a union of ``--width`` records
against the same union plus one member, while a probe task on the event loop sleeps 5 ms and
yields five times, over and over; the probe's overshoot is the lag any request of any other
caller would see. Modes alternate within each round so machine drift hits both alike. It
prints check time and lag p50/p95/max per mode, and the worker/thread ratio of lag p95.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from dictamesh.catalog._avro_compat import avro_compatibility_reasons
from dictamesh.catalog._avro_limits import AvroLimits
from dictamesh.catalog._registry_check import check_in_worker, start_workers
from dictamesh.catalog.records import Compatibility

CHECKS_PER_ROUND = 3


def union_record(width: int) -> str:
    members = [
        {"type": "record", "name": f"R{i}", "fields": [{"name": "a", "type": "int"}]}
        for i in range(width)
    ]
    return json.dumps({"type": "record", "name": "Top", "fields": [{"name": "u", "type": members}]})


async def probe(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.005)
        for _ in range(5):  # a request takes the loop several times
            await asyncio.sleep(0)
        lags.append(time.perf_counter() - started - 0.005)


async def one_mode(mode: str, old: str, new: str) -> tuple[float, list[float]]:
    stop, lags = asyncio.Event(), []
    watcher = asyncio.create_task(probe(stop, lags))
    started = time.perf_counter()
    for _ in range(CHECKS_PER_ROUND):
        if mode == "thread":
            await asyncio.to_thread(
                avro_compatibility_reasons, new, [old], Compatibility.FULL, AvroLimits()
            )
        else:
            await check_in_worker(new, [old], Compatibility.FULL, AvroLimits())
    elapsed = time.perf_counter() - started
    stop.set()
    await watcher
    return elapsed, lags


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


async def main(width: int, rounds: int) -> None:
    start_workers()
    old, new = union_record(width), union_record(width + 1)
    await check_in_worker(new, [old], Compatibility.NONE, AvroLimits())  # workers warm
    results: dict[str, tuple[list[float], list[float]]] = {"thread": ([], []), "worker": ([], [])}
    for _ in range(rounds):
        for mode in ("thread", "worker"):
            elapsed, lags = await one_mode(mode, old, new)
            results[mode][0].append(elapsed)
            results[mode][1].extend(lags)
    print(f"{width}-branch union, FULL, {CHECKS_PER_ROUND} checks x {rounds} rounds per mode")
    for mode, (times, lags) in results.items():
        print(
            f"{mode:>6}: checks {statistics.median(times):.2f} s/round, loop lag "
            f"p50 {statistics.median(lags) * 1000:.1f} ms, p95 {p95(lags) * 1000:.1f} ms, "
            f"max {max(lags) * 1000:.1f} ms ({len(lags)} probes)"
        )
    ratio = p95(results["worker"][1]) / p95(results["thread"][1])
    print(f"lag p95 worker/thread: {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=990)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.width, args.rounds))
