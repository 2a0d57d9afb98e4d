"""``dictamesh serve --workers N``: N node processes accepting on one listening socket.

The supervisor (the ``serve`` process) binds the socket once, runs the catalog migrations
once, then starts N workers (``multiprocessing`` spawn: each a fresh interpreter, as uvicorn
and gunicorn do). Every worker is a full node of the configured roles serving that socket
through :func:`dictamesh.cli._graceful.serve_gracefully`; the kernel hands each new
connection to whichever worker accepts first, so an idle worker takes the next one.

What stays single across workers (``docs/cli.md``, "serve"):

* capture and the quality schedule run under leader election (file leases in
  ``state_dir`` or lease rows), so one worker polls each source;
* consumer groups: with Kafka the workers of a group split its partitions; the embedded
  bus does not coordinate a group across processes, so there only worker 0 runs the group
  consumers (catalog ingest, notification rules, the router) and the others run
  ``api``, ``capture`` and ``saga`` of the configured roles (:func:`worker_roles`);
* every worker's cache-invalidation group is its own (node names differ per worker);
* one ``governance.masking_key``: when unset, one random key drawn by the supervisor
  (hashed values must not depend on the worker that answered);
* rate limits and tenant quotas without Redis: each worker gets 1/N of every rate and
  burst, so the node as a whole admits at most what is configured (with
  ``cache.redis_url`` they are shared buckets, not divided); the GraphQL cost budget is
  never shared, so it is always divided (:func:`worker_settings`).

Signals: workers run in their own process group and take signals from the supervisor
only, which forwards each SIGTERM/SIGINT it gets, so the graceful phases run once per
worker (a second signal is a second signal everywhere). The supervisor prints what one
worker printed, each shutdown phase once, and exits 0 once all workers did (else the
first failing worker's code). A worker that dies while serving is restarted; one that
fails before listening stops the others (a start-up error is not retried).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

from pydantic import SecretStr

from dictamesh.core.settings import DictaMeshSettings, TenantQuota, default_node_name
from dictamesh.node import NodeRole

__all__ = ["run_workers", "worker_roles", "worker_settings"]

log = logging.getLogger("dictamesh.cli")

#: bus backends whose consumer groups split partitions across processes
_GROUPS_ACROSS_PROCESSES = frozenset({"kafka"})
#: roles that consume in a mesh-wide group; with the embedded bus only worker 0 runs them
_GROUP_ROLES = frozenset({NodeRole.INGEST, NodeRole.NOTIFY, NodeRole.ROUTER})
#: a dead worker is started again at most this often (a crash loop must not spin)
_RESTART_SECONDS = 1.0


def worker_roles(
    settings: DictaMeshSettings, roles: frozenset[NodeRole], index: int
) -> frozenset[NodeRole] | None:
    """The roles worker ``index`` runs; ``None``: none (an embedded bus, and only group
    consumers among ``roles``)."""
    if index == 0 or settings.bus.backend in _GROUPS_ACROSS_PROCESSES:
        return roles
    if NodeRole.ALL in roles:
        every = {NodeRole.API, NodeRole.CAPTURE} | (
            {NodeRole.SAGA} if settings.saga.enabled else set()
        )
        return frozenset(every)
    rest = roles - _GROUP_ROLES
    return rest or None


def _share(value: float | None, count: int) -> float | None:
    return None if value is None else value / count


def _share_burst(value: int | None, count: int) -> int | None:
    return None if value is None else max(1, math.ceil(value / count))


def _quota_share(quota: TenantQuota, count: int, *, shared: bool) -> TenantQuota:
    update: dict[str, Any] = {"graphql_cost_budget": _share_burst(quota.graphql_cost_budget, count)}
    if not shared:
        rate = quota.requests_per_second
        update["requests_per_second"] = _share(rate, count)
        # the default burst is the rate rounded up: the whole node's, then divided
        burst = quota.request_burst or (None if rate is None else max(1, math.ceil(rate)))
        update["request_burst"] = _share_burst(burst, count)
        events = quota.events_per_second
        update["events_per_second"] = _share(events, count)
        burst = quota.event_burst or (None if events is None else max(1, math.ceil(events)))
        update["event_burst"] = _share_burst(burst, count)
    return quota.model_copy(update=update)


def worker_settings(
    settings: DictaMeshSettings, index: int, count: int, *, explicit_name: bool
) -> DictaMeshSettings:
    """Worker ``index`` of ``count``'s settings: its own node name, no migrations (the
    supervisor ran them), and its share of the limits that are not shared."""
    # a configured name is one per node: the workers need their own (cache groups)
    name = f"{settings.node_name}-w{index}" if explicit_name else default_node_name()
    catalog = settings.catalog.model_copy(update={"migrate_on_start": False})
    shared = settings.cache.redis_url is not None
    graphql = settings.graphql
    if not shared and graphql.rate_limit_per_second > 0:
        graphql = graphql.model_copy(
            update={
                "rate_limit_per_second": graphql.rate_limit_per_second / count,
                "rate_limit_burst": _share_burst(graphql.rate_limit_burst, count),
            }
        )
    quotas = settings.tenancy.quotas
    quotas = quotas.model_copy(
        update={
            "default": _quota_share(quotas.default, count, shared=shared),
            "per_tenant": {
                t: _quota_share(q, count, shared=shared) for t, q in quotas.per_tenant.items()
            },
        }
    )
    tenancy = settings.tenancy.model_copy(update={"quotas": quotas})
    return settings.model_copy(
        update={"node_name": name, "catalog": catalog, "graphql": graphql, "tenancy": tenancy}
    )


def _one_masking_key(settings: DictaMeshSettings) -> DictaMeshSettings:
    """Without ``governance.masking_key`` each process would draw its own random key, and
    a hashed value would depend on the worker that answered: the workers share one."""
    if settings.governance.masking_key is not None:
        return settings
    log.warning(
        "governance.masking_key is not set: hashed and tokenized values use a random key"
        " drawn at start, shared by the workers (not comparable across nodes or restarts)"
    )
    governance = settings.governance.model_copy(
        update={"masking_key": SecretStr(secrets.token_hex(32))}
    )
    return settings.model_copy(update={"governance": governance})


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket every worker accepts on.

    Made with ``IPPROTO_TCP``, not ``socket.create_server``'s protocol 0: accepted sockets
    inherit the listener's, and asyncio sets ``TCP_NODELAY`` only where it says TCP.
    Without it Nagle's algorithm meets the client's delayed ACK and small answers wait
    ~40 ms (measured: p50 46 ms at a light load with two workers, 3.7 ms with one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


async def _migrate(settings: DictaMeshSettings) -> None:
    """The catalog's migrations, once, before any worker opens it."""
    from dictamesh.catalog.service import CatalogService

    catalog = settings.catalog
    service = await CatalogService.open(
        catalog.url.get_secret_value(),
        migrate=catalog.migrate_on_start,
        pool=catalog.pool,
        migration_url=catalog.migration_url.get_secret_value() if catalog.migration_url else None,
        migrations_dir=catalog.migrations_dir,
    )
    await service.aclose()


def _watch_parent(parent: int) -> None:
    """A worker whose supervisor died (``kill -9``) shuts down gracefully on its own."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _worker_main(
    serve: Callable[..., Any],
    index: int,
    settings: DictaMeshSettings,
    roles: frozenset[NodeRole],
    subgraph: str | None,
    host: str,
    sock: socket.socket,
    events: Any,
    parent: int,
) -> None:
    """One worker process (spawned): serve ``sock`` until the supervisor's signal."""
    import typer

    os.setpgrp()  # Ctrl-C in a terminal reaches the supervisor only, which forwards it
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()

    def say(kind: str, text: str) -> None:
        events.put((index, os.getpid(), kind, text))

    code = 0
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings, host, 0, subgraph, roles, sock=sock, say=say, worker=index))
    except typer.Exit as exc:
        code = exc.exit_code
    events.close()
    events.join_thread()  # what say() queued reaches the supervisor
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


@dataclass
class _Worker:
    index: int
    process: Any
    started: float = field(default_factory=time.monotonic)
    listening: bool = False


class _Supervisor:
    def __init__(
        self,
        settings: DictaMeshSettings,
        count: int,
        roles: frozenset[NodeRole],
        subgraph: str | None,
        host: str,
        sock: socket.socket,
        say: Callable[[str, str], None],
        serve: Callable[..., Any],
    ) -> None:
        self.serve = serve  # cli.main._serve, passed in: no import cycle
        self.settings = settings
        self.count = count
        self.roles = roles
        self.subgraph = subgraph
        self.host = host
        self.sock = sock
        self.say = say
        self.context = multiprocessing.get_context("spawn")
        self.events: Any = self.context.Queue()
        self.workers: dict[int, _Worker] = {}
        self.signals: list[signal.Signals] = []
        self.stopping = False
        self.phases: set[str] = set()
        self.listening: dict[int, str] = {}
        self.code = 0
        self.explicit_name = "node_name" in settings.model_fields_set

    def start(self, index: int) -> None:
        roles = worker_roles(self.settings, self.roles, index)
        assert roles is not None  # checked before any worker started
        process = self.context.Process(
            target=_worker_main,
            name=f"dictamesh-worker-{index}",
            args=(
                self.serve,
                index,
                worker_settings(self.settings, index, self.count, explicit_name=self.explicit_name),
                roles,
                self.subgraph,
                self.host,
                self.sock,
                self.events,
                os.getpid(),
            ),
        )
        process.start()
        self.workers[index] = _Worker(index, process)

    def forward(self, sig: signal.Signals) -> None:
        for worker in self.workers.values():
            if worker.process.is_alive() and worker.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, sig)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if not self.stopping:
            self.stopping = True
            # the workers hold the socket: it closes when the last one closes its listener
            self.sock.close()
        self.forward(sig)

    def handle(self, index: int, pid: int, kind: str, text: str) -> None:
        if kind == "listening":
            worker = self.workers.get(index)
            if worker is not None and worker.process.pid == pid:
                worker.listening = True
            self.listening.setdefault(index, text)
        elif kind == "phase" and text not in self.phases:
            # "SIGTERM: shutting down gracefully" and the three phases: once, not per worker
            self.phases.add(text)
            self.say(kind, text)

    def announce(self) -> None:
        first = self.listening[min(self.listening)]
        pids = ", ".join(str(self.workers[i].process.pid) for i in sorted(self.workers))
        self.say("listening", f"{first}\n  workers: {self.count} (pids {pids})")

    def run(self) -> int:
        for index in range(self.count):
            self.start(index)
        announced = False
        while True:
            while self.signals:
                self.stop(self.signals.pop(0))
            with contextlib.suppress(Empty):
                self.handle(*self.events.get(timeout=0.1))
            if not announced and len(self.listening) == self.count:
                announced = True
                self.announce()
            for index, worker in list(self.workers.items()):
                process = worker.process
                if process.is_alive() or process.exitcode is None:
                    continue
                code = process.exitcode
                process.join()
                del self.workers[index]
                if self.stopping:
                    if code != 0 and self.code == 0:
                        self.code = code if code > 0 else 1
                    continue
                if not worker.listening:  # a start-up failure: the others stop too
                    self.code = code if code > 0 else 1
                    self.stop()
                    continue
                self.say("phase", f"worker {index} (pid {process.pid}) exited ({code}): restarting")
                time.sleep(max(0.0, _RESTART_SECONDS - (time.monotonic() - worker.started)))
                self.listening.pop(index, None)
                self.start(index)
            if self.stopping and not self.workers:
                break
        while True:  # the last phases a worker sent just before it exited
            try:
                self.handle(*self.events.get(timeout=0.05))
            except Empty:
                break
        self.events.close()
        if self.code == 0:
            self.say("stopped", "stopped")
        return self.code


def run_workers(
    settings: DictaMeshSettings,
    count: int,
    roles: frozenset[NodeRole],
    subgraph: str | None,
    host: str,
    port: int,
    say: Callable[[str, str], None],
    fail: Callable[[str], Any],
    serve: Callable[..., Any],
) -> int:
    """Serve ``host:port`` with ``count`` worker processes until SIGTERM/SIGINT; the exit
    code (0: every worker stopped cleanly)."""
    from dictamesh.core.errors import DictaMeshError

    for index in range(1, count):
        if worker_roles(settings, roles, index) is None:
            fail(
                f"--workers {count} with bus.backend {settings.bus.backend!r}: roles"
                f" {', '.join(sorted(r.value for r in roles))} consume in a consumer group,"
                " which the embedded bus does not share across processes; add --role api"
                " (or use Kafka)"
            )
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    try:
        sock = _bind(host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    try:
        asyncio.run(_migrate(settings))
    except DictaMeshError as exc:
        sock.close()
        fail(exc.message)
    settings = _one_masking_key(settings)
    supervisor = _Supervisor(settings, count, roles, subgraph, host, sock, say, serve)

    def on_signal(number: int, _frame: Any) -> None:
        supervisor.signals.append(signal.Signals(number))  # forwarded by the loop

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return supervisor.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with contextlib.suppress(OSError):
            sock.close()
