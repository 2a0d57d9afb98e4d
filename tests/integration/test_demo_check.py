"""The README's promise: ``dictamesh demo --check`` proves the flow end to end."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dictamesh.demo import StepResult, run_check

pytestmark = pytest.mark.slow


async def test_demo_check_scenario_passes_on_embedded_backend() -> None:
    seen: list[StepResult] = []
    results = await run_check(seen.append, timeout=30)
    failed = [r for r in results if not r.ok]
    assert not failed, failed
    assert [r.name for r in results] == [r.name for r in seen]
    assert len(results) == 9


def test_demo_check_cli_exits_zero() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dictamesh", "demo", "--check"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo check passed" in proc.stdout
