"""One line per performance goal, shared by the benchmark scripts and ``benchmarks/kpi.py``.

A script calls :func:`record` for each figure that has a goal (docs/performance.md): it
prints the line, and when ``DICTAMESH_BENCH_KPI_FILE`` is set (``make bench-kpi`` sets it)
also appends it there as JSON, so one run can print every goal in one table.
"""

from __future__ import annotations

import json
import operator
import os
from dataclasses import asdict, dataclass

KPI_FILE_ENV = "DICTAMESH_BENCH_KPI_FILE"

_COMPARE = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Kpi:
    """``value`` (in ``unit``) against ``goal`` (``"<= 50"``); ``baseline`` says what the
    ratio divides by, run in the same process or run."""

    figure: str
    value: float
    unit: str
    goal: str
    baseline: str = ""
    ratio: float | None = None

    @property
    def met(self) -> bool:
        op, _, bound = self.goal.partition(" ")
        return bool(_COMPARE[op](self.value, float(bound)))

    def line(self) -> str:
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else "-"
        return (
            f"{'MET ' if self.met else 'MISS'} {self.figure:<58} {self.value:>9.2f} {self.unit:<5}"
            f" goal {self.goal:<8} ratio {ratio:<7} {self.baseline}"
        )


def record(kpi: Kpi) -> Kpi:
    if kpi.goal.partition(" ")[0] not in _COMPARE:
        raise ValueError(f"goal must be '<= N' or '>= N', not {kpi.goal!r}")
    print("KPI", kpi.line(), flush=True)
    path = os.environ.get(KPI_FILE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(kpi)) + "\n")
    return kpi


def load(path: str) -> list[Kpi]:
    with open(path, encoding="utf-8") as lines:
        return [Kpi(**json.loads(line)) for line in lines if line.strip()]
