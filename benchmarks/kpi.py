"""Every performance goal of docs/performance.md in one table (``make bench-kpi``).

    python benchmarks/kpi.py                 # all scripts
    python benchmarks/kpi.py graph_query     # some of them

Runs each benchmark script in a process of its own with ``DICTAMESH_BENCH_KPI_FILE`` set,
so each appends its goal lines (``benchmarks/_kpi.py``); their full output goes to
``.dictamesh/bench/<script>.log`` (git-ignored). Then prints figure, value, goal, ratio
and baseline for all, and exits 1 when a script failed (a missed goal is reported, not
an error: the figures depend on the machine).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _kpi import KPI_FILE_ENV, load

HERE = Path(__file__).parent
SCRIPTS = {
    "graph_query": [],
    "gateway_overhead": [],
    "http_throughput": [],
    # serve --workers: per core (1) and the whole machine (every core), bare route alike
    "http_workers": [],
    # no adapter cache: every level is a source call, so calls per request = levels
    "graphql_cross_domain": [],
    "kafka_pg_ingest": [],
    "bus_throughput": [],
    "observability_overhead": [],
    "notifications_throughput": [],
    "router_throughput": [],
    "quality_rules": [],
}


def main(argv: list[str]) -> int:
    chosen = argv or list(SCRIPTS)
    unknown = [name for name in chosen if name not in SCRIPTS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(SCRIPTS)}")
        return 2
    logs = Path(".dictamesh/bench")
    logs.mkdir(parents=True, exist_ok=True)
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        kpi_file = str(Path(tmp) / "kpi.jsonl")
        for name in chosen:
            started = time.monotonic()
            log = logs / f"{name}.log"
            with log.open("w") as out:
                code = subprocess.call(
                    [sys.executable, str(HERE / f"{name}.py"), *SCRIPTS[name]],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, KPI_FILE_ENV: kpi_file},
                )
            took = time.monotonic() - started
            print(
                f"{name:<24} {'ok' if code == 0 else f'FAILED ({code})':<12} {took:6.0f} s  {log}"
            )
            if code != 0:
                failed.append(name)
        kpis = load(kpi_file) if Path(kpi_file).exists() else []
    print()
    print(f"{'':4} {'figure':<58} {'value':>9} {'unit':<5} {'goal':<13} {'ratio':<13} baseline")
    for kpi in kpis:
        print(kpi.line())
    met = sum(k.met for k in kpis)
    print(f"\n{met} of {len(kpis)} goals met; {len(failed)} script(s) failed {failed or ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
