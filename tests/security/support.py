"""The attacker's tools: the node process, the /health watchdog, raw requests and the
checks every answer must pass."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, settings

#: every property's settings: no per-example deadline (the node's own deadlines are asserted
#: instead), derandomized in CI so a red build replays from its log
#: no example database: the strategies are built from the live node's schema and routes, so
#: an example saved against yesterday's schema replays as a FlakyStrategyDefinition today
ATTACK = settings(
    deadline=None,
    database=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: the settings of a property that fails on a known defect (xfail): its explicit example
#: fails at once, and no shrinking of slow failures (a walk of 27 s, shrunk, is minutes).
#: Back to ATTACK when the fix lands and the xfail mark goes.
KNOWN_DEFECT = settings(
    ATTACK, phases=[Phase.explicit, Phase.reuse, Phase.generate], report_multiple_bugs=False
)

#: GraphQL's execution limit is 10 s (GraphQLSettings.timeout_seconds): an answer must come
#: within it plus the time to say so
GRAPHQL_DEADLINE = 11.0
#: REST and registry answers never wait on more than one source call or catalog query
REST_DEADLINE = 5.0
#: liveness must not suffer from whatever the node is being fed: 95 % of the samples within
#: 100 ms, none past 1 s (on a shared 2-core CI runner a few samples lose the CPU to the
#: attacker itself: measured up to ~0.4 s with nothing wrong in the node)
HEALTH_DEADLINE = 0.1
HEALTH_WORST = 1.0
#: codes that only say "the server broke": a typed 4xx was due instead
SERVER_FAULT_CODES = {"INTERNAL", "INTERNAL_SERVER_ERROR", None}

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningNode:
    url: str
    adapters: dict[str, str]
    process: subprocess.Popen[str]
    #: adapter name → its webhook secret
    webhook_secrets: dict[str, str]


@contextlib.contextmanager
def start_node(state_dir: Path, startup_timeout: float = 90.0) -> Iterator[RunningNode]:
    """Start ``node_process`` and wait until its catalog holds the sample customers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    env = {k: v for k, v in env.items() if not k.startswith("DICTAMESH_") or "_TEST_" in k}
    log = (state_dir / "node.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.security.node_process", str(state_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"node did not start: {(state_dir / 'node.log').read_text()}")
        started = json.loads(line)
        running = RunningNode(started["url"], started["adapters"], process, started["secrets"])
        _wait_synced(running.url, startup_timeout)
        yield running
    finally:
        # closing stdin is the node's signal to stop; kill only this child if it hangs
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stdout is not None:
            process.stdout.close()
        log.close()


def _wait_synced(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=5) as http:
        while time.monotonic() < deadline:
            paths = ("customer/1", "invoice/INV-2026-00001", "product/prd_1001")
            if all(http.get(f"/api/v1/entities/{p}").status_code == 200 for p in paths):
                return
            time.sleep(0.2)
    raise TimeoutError(f"the node's catalog did not sync within {timeout} s")


@dataclass
class HealthWatch:
    """Polls ``/health`` from a thread of its own while an attack runs."""

    url: str
    interval: float = 0.05
    samples: list[tuple[float, int | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> HealthWatch:
        self._thread = threading.Thread(target=self._run, name="health-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        # a connection of its own: the attack's connections may be busy or broken
        with httpx.Client(base_url=self.url, timeout=2) as http:
            http.get("/health")  # connection set-up is not the node's latency
            # at least one sample, even when the attack ended before the warm-up call did
            while True:
                started = time.perf_counter()
                try:
                    status: int | None = http.get("/health").status_code
                except httpx.HTTPError:
                    status = None
                self.samples.append((time.perf_counter() - started, status))
                if self._stop.wait(self.interval):
                    break

    def assert_healthy(self) -> None:
        assert self.samples, "no /health sample taken"
        failed = [s for s in self.samples if s[1] != 200]
        assert not failed, f"/health failed {len(failed)} of {len(self.samples)} times"
        times = sorted(s[0] for s in self.samples)
        # a percentile of a handful of samples is their worst: judged on 20 or more only
        p95 = times[int(len(times) * 0.95) - 1] if len(times) >= 20 else 0.0
        summary = f"{len(times)} samples, p95 {p95 * 1000:.0f} ms, worst {times[-1] * 1000:.0f} ms"
        assert p95 <= HEALTH_DEADLINE, f"/health: {summary}"
        assert times[-1] <= HEALTH_WORST, f"/health: {summary}"


def raw_json(value: Any) -> bytes:
    """JSON text of ``value`` with lone surrogates as ``\\udxxx`` escapes: valid JSON that
    decodes to an invalid string, which httpx's own encoder (UTF-8) cannot send."""
    return json.dumps(value, ensure_ascii=True, allow_nan=False).encode("ascii")


def timed(
    http: httpx.Client, method: str, url: str, *, body: bytes | None = None, **kw: Any
) -> tuple[httpx.Response, float]:
    headers = {"content-type": "application/json"} if body is not None else {}
    headers.update(kw.pop("headers", {}))
    started = time.perf_counter()
    response = http.request(method, url, content=body, headers=headers, **kw)
    return response, time.perf_counter() - started


def assert_typed_answer(response: httpx.Response, elapsed: float, deadline: float) -> None:
    """No 5xx, in time, and every error carries a code other than a server fault."""
    what = f"{response.request.method} {str(response.request.url)[:300]}"
    assert response.status_code < 500, f"{what} → {response.status_code} {response.text[:500]}"
    assert elapsed < deadline, f"{what} took {elapsed:.2f} s (deadline {deadline} s)"


def assert_graphql_answer(response: httpx.Response, elapsed: float) -> dict[str, Any]:
    assert_typed_answer(response, elapsed, GRAPHQL_DEADLINE)
    body = response.json()
    assert isinstance(body, Mapping), body
    codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors") or []}
    assert not codes & SERVER_FAULT_CODES, f"server fault in {json.dumps(body)[:800]}"
    return dict(body)
