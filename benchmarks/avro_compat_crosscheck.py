"""The catalog's Avro compatibility checker vs the ``avro`` package's
``ReaderWriterCompatibilityChecker``: time per check, on the shared case table and on large
schemas the registry accepts (``catalog.schema_registry`` bounds).

    python benchmarks/avro_compat_crosscheck.py               # 5 rounds
    python benchmarks/avro_compat_crosscheck.py --rounds 10

Both sides start from schema text, as the registry does: ours is
``avro_compatibility_reasons`` (bounds, parse, check), the reference ``avro.schema.parse``
of both texts plus ``get_compatibility``. Each line prints the median over the rounds, and
the reference/ours ratio; a side slower than 5 s on a large schema is timed once.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.errors import IgnoredLogicalType
from avro.schema import parse

from dictamesh.catalog._avro_compat import avro_compatibility_reasons
from dictamesh.catalog._avro_limits import AvroLimits, load_bounded
from dictamesh.catalog.records import Compatibility

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the shared case table
from tests.unit.catalog.avro_compat_cases import (
    CASES,
    deep_record,
    rec,
    wide_record,
)

LIMITS = AvroLimits()
#: a side this slow on a large schema is timed once
SLOW = 5.0


def ours(reader: str, writer: str) -> bool:
    return not avro_compatibility_reasons(reader, [writer], Compatibility.BACKWARD, LIMITS)


def reference(reader: str, writer: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IgnoredLogicalType)
        parsed = parse(reader), parse(writer)
    result = ReaderWriterCompatibilityChecker().get_compatibility(*parsed)
    return result.compatibility is SchemaCompatibilityType.compatible


def timed(check: Callable[[str, str], bool], pairs: list[tuple[str, str]]) -> float | str:
    started = time.perf_counter()
    try:
        for reader, writer in pairs:
            check(reader, writer)
    except RecursionError:
        return "RecursionError"
    return time.perf_counter() - started


def union_of_records(width: int) -> Any:
    return rec(
        "U",
        {"name": "u", "type": [rec(f"M{i}", {"name": "a", "type": "int"}) for i in range(width)]},
    )


def large_pairs() -> dict[str, tuple[str, str]]:
    wide_old, wide_new = wide_record(500, 20), wide_record(500, 20, added_default=True)
    deep_old, deep_new = deep_record(30, 30), deep_record(30, 30, leaf_type="long")
    return {
        "500 fields, 125 nested records of 20 (compatible)": (wide_new, wide_old),
        "30 records deep x 30 fields, int->long (compatible)": (deep_new, deep_old),
        "union of 990 records vs 989 (compatible)": (union_of_records(990), union_of_records(989)),
    }


def row(label: str, times: dict[str, list[float | str]], count: int) -> None:
    cells = []
    medians: dict[str, float] = {}
    for side in ("ours", "reference"):
        values = times[side]
        failure = next((v for v in values if isinstance(v, str)), None)
        if failure is not None:
            cells.append(f"{side} {failure}")
            continue
        median = statistics.median(v for v in values if isinstance(v, float))
        medians[side] = median
        cells.append(f"{side} {median * 1000:8.2f} ms ({median / count * 1e6:7.1f} us/check)")
    ratio = (
        f"reference/ours {medians['reference'] / medians['ours']:.1f}x" if len(medians) == 2 else ""
    )
    print(f"{label}\n    " + " | ".join(cells) + f" | {ratio}")


def main(rounds: int) -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    table = [(case.reader_text, case.writer_text) for case in CASES]
    checks: dict[str, Callable[[str, str], bool]] = {"ours": ours, "reference": reference}
    for check in checks.values():  # warm imports and caches
        timed(check, table[:5])
    times: dict[str, list[float | str]] = {side: [] for side in checks}
    for _ in range(rounds):
        for side, check in checks.items():
            times[side].append(timed(check, table))
    print(f"Avro compatibility, median of {rounds} rounds (BACKWARD, from schema text)")
    row(f"case table ({len(table)} pairs)", times, len(table))
    for label, (reader, writer) in large_pairs().items():
        pair = [(json.dumps(reader), json.dumps(writer))]
        for text in pair[0]:
            load_bounded(text, LIMITS)  # within what the registry accepts
        times = {side: [] for side in checks}
        for _ in range(rounds):
            for side, check in checks.items():
                if not any(isinstance(t, float) and t > SLOW for t in times[side]):
                    times[side].append(timed(check, pair))
        size = len(pair[0][0]) // 1024
        row(f"{label}, {size} KiB", times, 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    main(parser.parse_args().rounds)
