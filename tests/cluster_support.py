"""Several ``dictamesh serve`` processes on Kafka + PostgreSQL + Redis: the scale-out harness.

The tests of ``tests/integration/cluster`` and ``benchmarks/scale_out.py`` start real node
processes, as a deployment would, against the shared servers:

* :func:`mesh_config` writes one ``mesh.yaml`` for every node: the demo's settings
  (:func:`dictamesh.demo.demo_settings` on the production backend: the four sample sources,
  adapters named ``<kind>_<run>`` so each run has its own topics and change-event ids),
  plus the caller's overrides;
* :class:`NodeProcess` is one ``python -m dictamesh serve -c mesh.yaml --role … --port 0``
  with its own ``DICTAMESH_NODE_NAME`` and state directory (one machine each, as far as
  the node can tell): the bound URL is read from its output, ``/ready`` is waited for, and
  it can be killed (SIGKILL), terminated (SIGTERM: graceful) and restarted;
* :func:`run_cluster` starts N of them and always ends every one it started, by PID; when
  the block fails, every node's output is printed (pytest shows it with the failure).

Example::

    config = mesh_config(tmp_path, sources, urls, run_id="ab12cd34")
    async with run_cluster(config, tmp_path, 3) as cluster:
        a, b, c = cluster.nodes
        await a.kill9()
        await a.restart()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretBytes, SecretStr

from dictamesh.demo import ProductionUrls, demo_settings
from dictamesh.sources.runner import SourceEndpoints

__all__ = [
    "Cluster",
    "NodeProcess",
    "mesh_config",
    "metric_values",
    "run_cluster",
]

#: what ``dictamesh serve`` prints once listening: "... on http://127.0.0.1:PORT ..."
_BOUND = re.compile(r"\bon (http://[\w.\-\[\]:]+:\d+)")
START_TIMEOUT = 60.0  # a node's start on a loaded 2-core box: imports, migrations check, Kafka
LOG_TAIL = 12_000


def _plain(value: Any) -> Any:
    """A settings dump as YAML-safe data, secrets revealed (the file is the node's config)."""
    if isinstance(value, SecretStr | SecretBytes):
        return _plain(value.get_secret_value())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.decode()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # URLs, timedeltas as pydantic accepts them back


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def mesh_config(
    directory: Path,
    sources: SourceEndpoints,
    urls: ProductionUrls,
    *,
    run_id: str,
    poll: float = 0.5,
    overrides: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``directory/mesh.yaml``: the demo mesh of run ``run_id`` on ``urls``.

    The catalog must already be migrated (the test fixtures do it as the tables' owner):
    three nodes starting at once must not race to migrate it. Sagas and notifications are
    off unless ``overrides`` turn them on: the scale-out tests do not need them, and each
    costs every node CPU this shared machine does not have to spare.
    """
    settings = demo_settings(
        sources,
        directory,
        "production",
        poll,
        urls=ProductionUrls(urls.catalog_url, urls.kafka_bootstrap, urls.redis_url),
        run_id=run_id,
    )
    raw = _plain(settings.model_dump(exclude_unset=True))
    raw = _merge(
        raw,
        {
            "catalog": {"migrate_on_start": False},
            "saga": {"enabled": False},
            "notifications": {"enabled": False},
            "environment": "production",
        },
    )
    raw = _merge(raw, overrides or {})
    raw.pop("state_dir", None)  # each node its own (DICTAMESH_STATE_DIR): one machine each
    raw.pop("node_name", None)  # each node its own (DICTAMESH_NODE_NAME)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "mesh.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def metric_values(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of metric ``name`` in a ``/metrics`` answer, by their sorted labels."""
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _child_env(extra: Mapping[str, str]) -> dict[str, str]:
    # No DICTAMESH_* of the test run (its DICTAMESH_TEST_* included) reaches the node:
    # mesh.yaml and ``extra`` are all it is told.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICTAMESH_")}
    env["COLUMNS"] = "400"  # the URL line unwrapped, whatever the terminal
    env["PYTHONUNBUFFERED"] = "1"
    return env | dict(extra)


@dataclass
class NodeProcess:
    """One ``dictamesh serve`` process; :meth:`start` it, and again after it ended."""

    name: str
    config: Path
    directory: Path
    roles: Sequence[str] = ("all",)
    env: Mapping[str, str] = field(default_factory=dict)
    #: the base URL of its HTTP listener (a new port on every start)
    url: str = ""
    process: asyncio.subprocess.Process | None = None
    #: every life's output, in order
    lives: list[Path] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, timeout: float = START_TIMEOUT) -> str:
        """Start a new life and wait until it listens; returns its URL (not yet ready)."""
        if self.running:
            raise RuntimeError(f"{self.name} is running already")
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / f"life-{len(self.lives) + 1}.log"
        self.lives.append(log)
        env = _child_env(
            {
                "DICTAMESH_NODE_NAME": self.name,
                "DICTAMESH_STATE_DIR": str(self.directory / "state"),
                **self.env,
            }
        )
        with log.open("wb") as out:  # the child keeps its own descriptor
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "dictamesh",
                "serve",
                "-c",
                str(self.config),
                "--role",
                ",".join(self.roles),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while True:
            found = _BOUND.search(log.read_text(errors="replace"))
            if found:
                self.url = found.group(1)
                return self.url
            if self.process.returncode is not None:
                raise RuntimeError(
                    f"{self.name} exited {self.process.returncode} before listening:\n"
                    + self.output()[-LOG_TAIL:]
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not listening after {timeout:.0f}s")
            await asyncio.sleep(0.05)

    async def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until ``/ready`` answers 200 (TimeoutError naming the failing checks)."""
        deadline = time.monotonic() + timeout
        last = ""
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                if not self.running:
                    raise RuntimeError(f"{self.name} exited while starting:\n{self.output()}")
                try:
                    answer = await client.get(f"{self.url}/ready")
                    if answer.status_code == 200:
                        return
                    last = answer.text[:2000]
                except httpx.TransportError as exc:
                    last = repr(exc)
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s: {last}")

    async def kill9(self) -> None:
        """SIGKILL: no shutdown at all, as a node lost with its machine."""
        if self.running:
            assert self.process is not None
            self.process.kill()
            await self.process.wait()

    async def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM (graceful shutdown) and wait for the exit; returns the exit code. Still
        running after ``timeout``: killed, and TimeoutError."""
        assert self.process is not None
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                await self.kill9()
                raise TimeoutError(
                    f"{self.name} still running {timeout:.0f}s after SIGTERM"
                ) from None
        assert self.process.returncode is not None
        return self.process.returncode

    async def restart(self, timeout: float = START_TIMEOUT) -> str:
        """A new life once the last one ended (SIGTERM if it still runs); ready again."""
        if self.running:
            await self.terminate()
        url = await self.start(timeout)
        await self.wait_ready(timeout)
        return url

    async def metrics(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.get(f"{self.url}/metrics")
            answer.raise_for_status()
        return metric_values(answer.text, name)

    async def consumer_lag(self, group: str) -> float:
        """Messages consumer group ``group`` of this node has not committed yet, over all
        its partitions (``kafka_consumer_lag``)."""
        samples = await self.metrics("kafka_consumer_lag")
        return sum(value for labels, value in samples.items() if ("group", group) in labels)

    async def caught_up(self, group: str, *, most: float = 10, timeout: float = 120) -> None:
        """Until ``group`` is at most ``most`` messages behind: a measurement wants the
        steady state, not a node still working off a backlog."""
        deadline = time.monotonic() + timeout
        while (lag := await self.consumer_lag(group)) > most:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {group} still {lag:.0f} behind")
            await asyncio.sleep(0.5)

    def output(self) -> str:
        """Every life's output, each under a header."""
        parts = []
        for n, log in enumerate(self.lives, 1):
            text = log.read_text(errors="replace") if log.exists() else ""
            parts.append(f"----- {self.name} life {n} ({log}) -----\n{text}")
        return "\n".join(parts)


@dataclass
class Cluster:
    nodes: list[NodeProcess]

    def by_name(self, name: str) -> NodeProcess:
        return next(n for n in self.nodes if n.name == name)

    @property
    def live(self) -> list[NodeProcess]:
        return [n for n in self.nodes if n.running]

    async def metric(self, name: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        """``name``'s samples on every live node, by node name (a node that does not
        answer is left out)."""
        found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for node in self.live:
            with contextlib.suppress(httpx.HTTPError):
                found[node.name] = await node.metrics(name)
        return found

    def report(self) -> str:
        return "\n".join(node.output()[-LOG_TAIL:] for node in self.nodes)

    async def aclose(self) -> None:
        # by PID, each node this harness started; SIGKILL: a test's end needs no grace
        for node in self.nodes:
            await node.kill9()


@contextlib.asynccontextmanager
async def run_cluster(
    config: Path,
    directory: Path,
    count: int = 3,
    *,
    roles: Sequence[Sequence[str]] | Sequence[str] = ("all",),
    run_id: str = "",
    env: Mapping[str, str] | None = None,
    ready: bool = True,
) -> AsyncIterator[Cluster]:
    """``count`` nodes of ``config`` (named ``node-<i>-<run_id>``), started together and
    (``ready``) ready. ``roles``: every node's, or one sequence per node."""
    per_node: list[Sequence[str]]
    if roles and not isinstance(roles[0], str):
        per_node = [list(r) for r in roles]  # type: ignore[arg-type]
    else:
        per_node = [list(roles)] * count  # type: ignore[arg-type]
    suffix = f"-{run_id}" if run_id else ""
    cluster = Cluster(
        [
            NodeProcess(
                f"node-{i}{suffix}",
                config,
                directory / f"node-{i}",
                per_node[i - 1],
                dict(env or {}),
            )
            for i in range(1, count + 1)
        ]
    )
    try:
        async with asyncio.TaskGroup() as starting:  # one failing cancels the others
            for node in cluster.nodes:
                starting.create_task(node.start())
        if ready:
            async with asyncio.TaskGroup() as waiting:
                for node in cluster.nodes:
                    waiting.create_task(node.wait_ready())
        yield cluster
    except BaseException:
        print(cluster.report())  # shown by pytest with the failure
        raise
    finally:
        await cluster.aclose()
