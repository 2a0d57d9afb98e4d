"""A load generator in a process of its own: closed loop (N at once) or open loop (a fixed
rate, latency measured from each request's *scheduled* start, so a slow server cannot hide
its queueing — no coordinated omission).

    python benchmarks/_load.py SPEC.json      # prints one JSON line of results

SPEC: ``{"url", "bodies": [JSON bodies, sent in turn] | null (GET), "paths": [...],
"mode": "closed"|"open", "concurrency", "rate", "seconds", "warmup_seconds"}``.
Only answers with status 200 and a body equal in shape to the first one count as served;
anything else is counted as an error and the run reports it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from typing import Any

import httpx

JSON = {"content-type": "application/json"}


def _summary(latencies: list[float], errors: int, seconds: float) -> dict[str, Any]:
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return {
        "requests": len(ordered),
        "errors": errors,
        "rps": len(ordered) / seconds,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    base: str = spec["url"]
    paths = itertools.cycle(spec.get("paths") or [""])
    bodies = itertools.cycle(spec["bodies"]) if spec.get("bodies") else None
    connections = spec.get("connections", 256)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    errors = 0
    first_error: list[str] = []
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def one(record: bool, scheduled: float) -> None:
            nonlocal errors
            path = next(paths)
            try:
                if bodies is None:
                    answer = await client.get(path)
                else:
                    answer = await client.post(path, content=next(bodies), headers=JSON)
                ok = answer.status_code == 200 and b'"errors"' not in answer.content
                why = f"{answer.status_code} {answer.text[:300]}"
            except httpx.HTTPError as exc:
                ok, why = False, repr(exc)
            if record:
                if ok:
                    latencies.append(time.perf_counter() - scheduled)
                else:
                    errors += 1
                    first_error[:] = first_error or [why]

        async def closed(until: float, record: bool) -> None:
            async def worker() -> None:
                while time.perf_counter() < until:
                    await one(record, time.perf_counter())

            await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))

        async def open_loop(until: float, record: bool) -> None:
            interval = 1.0 / spec["rate"]
            start = time.perf_counter()
            tasks = set()
            for n in itertools.count():
                scheduled = start + n * interval
                if scheduled >= until:
                    break
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one(record, scheduled))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)

        drive = closed if spec["mode"] == "closed" else open_loop
        await drive(time.perf_counter() + spec.get("warmup_seconds", 1.0), False)
        started = time.perf_counter()
        await drive(started + spec["seconds"], True)
        elapsed = time.perf_counter() - started
    return {**_summary(latencies, errors, elapsed), "first_error": first_error}


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        print(json.dumps(asyncio.run(run(json.load(f)))), flush=True)
