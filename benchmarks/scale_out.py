"""Scale-out: catalog ingest with 1, 2 and 3 ingest processes, GraphQL with 1 and 2 API
processes, side by side in one run.

    python benchmarks/scale_out.py                    # 40 000 events, 10 s of GraphQL load
    python benchmarks/scale_out.py --events 80000 --seconds 20 --concurrency 48

Every node is a real ``dictamesh serve`` process (``tests/cluster_support.py`` starts them)
on Kafka + PostgreSQL (+ Redis for the API nodes):

(a) Ingest: K processes ``dictamesh serve --role ingest`` (one consumer group: Kafka splits
    the partitions between them) are started on an empty 12-partition topic and waited for
    until the group is stable with K members holding all 12 partitions; then N customer
    change events are published (faster than they are ingested, so the consumers never
    wait for the topic) and drained into a fresh catalog database, for K = 1, 2,
    3. Filling after the group settled keeps the K members' joins and rebalances out of the
    figure. Events/second are counted between the 10th and the 90th percentile of the
    events' ``recorded_at`` (the catalog's clock), leaving out the first batches and the
    last partitions' tail: the steady rate with K members. Each
    K has its own topic (a tenant's, ``<tenant>.customers.directus.entity_changed``:
    ``tenancy.topic_prefix_per_tenant``, so the node's own topic naming is what is run)
    and its own database; both are dropped at the end. The processes join the node's one
    ingest group (``dictamesh-catalog-ingest``: ``serve`` has no setting for another) and
    also read the shared ``customers.directus.entity_changed``: run this beside no other
    mesh on the same Kafka cluster, or some of that mesh's customer events land in this
    run's scratch catalog (counted out here by tenant) instead of its own.
(b) GraphQL: the demo mesh over the sample sources (in a child process), ``customer(id)``
    for 50 customers, closed loop (``--concurrency`` at once) from the load generator
    ``benchmarks/_load.py`` in a process of its own, round robin over 1, then 2 processes
    ``dictamesh serve --role api``.

Ratios are against K = 1 of the same run. Next to each figure: where the machine's CPU went
while it was measured (cores: seconds of CPU per second, from ``/proc``): each node
process, the load generator or publisher, PostgreSQL, Kafka, Redis, the sample sources,
and everything else on the machine, so it is plain when the figure is bounded by the
machine's cores rather than the code: on a 2-core box two ingest processes, PostgreSQL and
Kafka already share two cores.

Addresses: ``DICTAMESH_POSTGRES_URL`` (a role that may CREATE DATABASE),
``DICTAMESH_KAFKA_BOOTSTRAP``, ``DICTAMESH_REDIS_URL`` (default: the ``scripts/services.sh``
ones). Results: printed, and as JSON in ``.dictamesh/bench/scale_out.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from aiokafka.admin import AIOKafkaAdminClient
from graphql_cross_domain import sample_sources
from kafka_pg_ingest import asyncpg_dsn, kafka_settings, scratch_database

from dictamesh.catalog.service import CatalogService
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.demo import ProductionUrls
from dictamesh.events.kafka import KafkaBus
from dictamesh.events.kafka_client import aiokafka_security, librdkafka_config
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.topics import TopicSpec
from dictamesh.node import INGEST_GROUP

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the node-process harness
from tests.cluster_support import NodeProcess, mesh_config

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / ".dictamesh" / "bench"
PARTITIONS = 12
SOURCE = SourceRef(domain="customers", system="directus")  # customers_directus's topic
ENTITY = "query ($id: ID!) { customer(id: $id) { id firstName lastName email } }"
DEFAULT_PG = "postgresql+asyncpg://dictamesh:dictamesh@127.0.0.1:5432/dictamesh"
DEFAULT_KAFKA = "127.0.0.1:9092"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
WARMUP = 2.0  # seconds of load before the measured interval


# --- CPU accounting ---------------------------------------------------------------------------


def _all_cpu() -> dict[int, tuple[str, float, int]]:
    """Every process's (command name, CPU seconds so far: user + system, parent pid)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):  # gone meanwhile
            raw = (entry / "stat").read_text()
            name = raw[raw.index("(") + 1 : raw.rindex(")")]
            fields = raw.rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / tick
            found[int(entry.name)] = (name, cpu, int(fields[1]))
    return found


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


#: the servers' processes, by command name
_SERVERS = {"postgres": "postgres", "java": "kafka", "redis-server": "redis"}


@dataclass
class CpuWindow:
    """Where the machine's CPU went between :meth:`start` and :meth:`stop`, in cores
    (1.0 = one core all the time): each of ``pids``, PostgreSQL, Kafka and Redis, and
    everything else on the machine (``other``: other users of a shared box)."""

    pids: dict[str, int]
    cores: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0  # of all cores, 0..1
    _start: dict[int, tuple[str, float, int]] = field(default_factory=dict)
    _machine: tuple[float, float] = (0.0, 0.0)
    _wall: float = 0.0

    def start(self) -> None:
        self._start = _all_cpu()
        self._machine = _machine_cpu()
        self._wall = time.perf_counter()

    def stop(self) -> None:
        wall = time.perf_counter() - self._wall
        now = _all_cpu()
        ours = {pid: name for name, pid in self.pids.items()}
        names = [*self.pids, *_SERVERS.values(), "sources", "other"]
        used: dict[str, float] = dict.fromkeys(names, 0.0)
        me = os.getpid()
        for pid, (command, seconds, parent) in now.items():
            before = self._start.get(pid)
            spent = seconds - (before[1] if before and before[0] == command else 0.0)
            # this benchmark's children not named in pids: the sample sources' process
            kind = "sources" if parent == me else _SERVERS.get(command, "other")
            used[ours.get(pid) or kind] += spent
        self.cores = {name: spent / wall for name, spent in used.items()}
        busy, total = _machine_cpu()
        self.machine_busy = (busy - self._machine[0]) / max(1.0, total - self._machine[1])

    def describe(self) -> str:
        each = ", ".join(f"{name} {used:.2f}" for name, used in self.cores.items())
        return f"cores used: {each}; machine {self.machine_busy:.0%} busy"


# --- (a) ingest -------------------------------------------------------------------------------


def make_events(n: int, tenant: str) -> list[ChangeEvent]:
    return [
        ChangeEvent.for_change(
            EventType.CREATED,
            Entity(
                type="customer",
                id=str(i),
                version=1,
                attributes={"id": str(i), "email": f"user{i}@example.com", "country": "DE"},
                source=SOURCE,
            ),
        ).model_copy(update={"tenant_id": tenant})
        for i in range(1, n + 1)
    ]


@dataclass
class IngestRun:
    processes: int
    events: int
    events_per_second: float
    seconds_to_all: float
    publish_seconds: float
    cpu: str
    ratio: float = 1.0


def _steady_rate(stamps: Sequence[float]) -> float:
    """Events/second between the 10th and 90th percentile of the recorded times."""
    ordered = sorted(stamps)
    low, high = ordered[len(ordered) // 10], ordered[(len(ordered) * 9) // 10]
    return (len(ordered) * 0.8) / max(high - low, 1e-9)


async def _drop_topic(bootstrap: str, topic: str) -> None:
    # Not the consumer group: it is the node's one ingest group, shared with any other mesh
    # on this Kafka cluster.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **aiokafka_security(kafka_settings()))
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def _count(dsn: str, tenant: str) -> int:
    # The tenant's: the nodes also read the shared topic, where other meshes on this Kafka
    # cluster publish customer changes.
    conn = await asyncpg.connect(dsn)
    try:
        query = "SELECT count(*) FROM dictamesh_event_log WHERE tenant_id = $1"
        return int(await conn.fetchval(query, tenant))
    finally:
        await conn.close()


async def ingest_run(
    k: int,
    n: int,
    pg_url: str,
    bootstrap: str,
    run: str,
    directory: Path,
    roles: Sequence[str] = ("ingest",),
) -> IngestRun:
    tenant = f"b{run}k{k}"
    topic = f"{tenant}.{SOURCE.change_topic}"
    async with scratch_database(pg_url, f"dictamesh_bench_scale_{run}_k{k}") as catalog_url:
        async with await CatalogService.open(catalog_url):  # migrated to head
            pass
        config = directory / f"ingest-k{k}.yaml"
        config.write_text(yaml.safe_dump(_ingest_config(bootstrap, catalog_url, tenant)))
        nodes = [
            NodeProcess(f"ingest-{run}-{k}-{i}", config, directory / f"k{k}-{i}", roles)
            for i in range(1, k + 1)
        ]
        dsn = asyncpg_dsn(catalog_url)
        try:
            async with KafkaBus(
                bootstrap, settings=kafka_settings(), client_id="dictamesh-bench", topic_specs=()
            ) as bus:
                await bus.ensure_topic(TopicSpec(name=topic, partitions=PARTITIONS))
                for node in nodes:
                    await node.start()
                for node in nodes:
                    await node.wait_ready()
                await _group_settled(bootstrap, topic, k)
                window = CpuWindow(
                    {f"ingest-{i}": n.pid for i, n in enumerate(nodes, 1)}
                    | {"publisher": os.getpid()}
                )
                window.start()
                started = time.perf_counter()
                # the topic fills faster than it drains: the consumers are never left waiting
                publisher = EventPublisher(bus, tenant_topics=True)
                events = make_events(n, tenant)
                for i in range(0, n, 2000):
                    await publisher.publish_events(events[i : i + 2000])
                published = time.perf_counter() - started
            while (done := await _count(dsn, tenant)) < n:
                for node in nodes:
                    if not node.running:
                        raise SystemExit(f"{node.name} ended:\n{node.output()[-4000:]}")
                if time.perf_counter() - started > 600:
                    raise SystemExit(f"only {done} of {n} events ingested after 600 s")
                await asyncio.sleep(0.25)
            all_in = time.perf_counter() - started
            window.stop()
            if done != n:
                raise SystemExit(f"the catalog holds {done} events, expected {n}")
            conn = await asyncpg.connect(dsn)
            try:
                rows = await conn.fetch(
                    "SELECT extract(epoch FROM recorded_at) AS t FROM dictamesh_event_log"
                    " WHERE tenant_id = $1",
                    tenant,
                )
            finally:
                await conn.close()
        finally:
            for node in nodes:
                if node.process is not None:
                    await node.terminate()
            await _drop_topic(bootstrap, topic)
    rate = _steady_rate([float(r["t"]) for r in rows])
    return IngestRun(k, n, rate, all_in, published, window.describe())


def _ingest_config(bootstrap: str, catalog_url: str, tenant: str) -> dict[str, Any]:
    return {
        "environment": "production",
        "bus": {"backend": "kafka", "kafka_bootstrap": bootstrap},
        "catalog": {"url": catalog_url, "migrate_on_start": False},
        "tenancy": {"topic_prefix_per_tenant": True, "tenants": [tenant]},
        # built, never connected by the ingest role: it names the topic
        "adapters": [
            {
                "name": "customers_directus",
                "kind": "customers_directus",
                "base_url": "http://127.0.0.1:9",
            }
        ],
        "saga": {"enabled": False},
        "notifications": {"enabled": False},
    }


async def _group_settled(bootstrap: str, topic: str, members: int, timeout: float = 90) -> None:
    """Until the ingest group is stable with ``members`` members sharing all of
    ``topic``'s partitions: measured from then, every process consumes from the start."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    # log_level 4: not librdkafka's notice of purged background events at close
    admin = AdminClient(librdkafka_config(kafka_settings(), bootstrap) | {"log_level": 4})
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        future = admin.describe_consumer_groups([INGEST_GROUP], request_timeout=10)[INGEST_GROUP]
        group = await asyncio.wrap_future(future)
        holders = {
            m.member_id: {tp.partition for tp in m.assignment.topic_partitions if tp.topic == topic}
            for m in group.members
        }
        holders = {member: parts for member, parts in holders.items() if parts}
        covered = set().union(*holders.values()) if holders else set()
        seen = f"{group.state}, {len(holders)} members, {len(covered)} partitions"
        if (
            group.state == ConsumerGroupState.STABLE
            and len(holders) == members
            and len(covered) == PARTITIONS
        ):
            return
        await asyncio.sleep(0.5)
    raise SystemExit(f"the ingest group never settled on {topic}: {seen}")


# --- (b) GraphQL ------------------------------------------------------------------------------


@dataclass
class GraphqlRun:
    processes: int
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    errors: int
    cpu: str
    ratio: float = 1.0


async def graphql_run(nodes: Sequence[NodeProcess], seconds: float, concurrency: int) -> GraphqlRun:
    """The load generator, in its own process, round robin over ``nodes``."""
    spec = {
        "url": nodes[0].url,
        "paths": [f"{n.url}/graphql" for n in nodes],  # absolute URLs: one per node in turn
        "bodies": [
            json.dumps({"query": ENTITY, "variables": {"id": str(i)}}) for i in range(1, 51)
        ],
        "mode": "closed",
        "concurrency": concurrency,
        "seconds": seconds,
        "warmup_seconds": WARMUP,
    }
    with tempfile.TemporaryDirectory(prefix="dictamesh-scale-load-") as tmp:
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "_load.py"), str(spec_file), stdout=asyncio.subprocess.PIPE
        )
        pids = {f"api-{i}": node.pid for i, node in enumerate(nodes, 1)} | {"load": child.pid}
        window = CpuWindow(pids)
        await asyncio.sleep(WARMUP + 0.2)
        window.start()
        await asyncio.sleep(seconds * 0.9)  # inside the measured interval
        window.stop()
        out, _ = await child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"the load generator failed ({child.returncode})")
    result = json.loads(out.decode().strip().splitlines()[-1])
    return GraphqlRun(
        len(nodes),
        result["rps"],
        result["p50_ms"],
        result["p95_ms"],
        result["errors"],
        window.describe().removeprefix("cores used: "),
    )


@contextlib.asynccontextmanager
async def api_nodes(
    count: int, urls: ProductionUrls, directory: Path, run: str, roles: Sequence[str]
) -> AsyncIterator[list[NodeProcess]]:
    async with sample_sources(in_process=False) as sources:
        config = mesh_config(
            directory,
            sources,
            urls,
            run_id=run,
            poll=30.0,  # capture is not what is measured here
            overrides={"graphql": {"rate_limit_per_second": 0}},
        )
        nodes = [
            NodeProcess(f"api-{run}-{i}", config, directory / f"api-{i}", list(roles))
            for i in range(1, count + 1)
        ]
        try:
            for node in nodes:
                await node.start()
            for node in nodes:
                await node.wait_ready()
            for node in nodes:
                await node.caught_up(f"dictamesh-cache-{node.name}")
            yield nodes
        finally:
            for node in nodes:
                await node.kill9()


# --- the run ----------------------------------------------------------------------------------


def _machine() -> str:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load}"


async def _background(seconds: float = 2.0) -> float:
    """How busy the machine is before this benchmark starts anything (0..1): what other
    work takes from the figures below."""
    window = CpuWindow({})
    window.start()
    await asyncio.sleep(seconds)
    window.stop()
    return window.machine_busy


async def main(args: argparse.Namespace) -> dict[str, Any]:
    pg_url = os.environ.get("DICTAMESH_POSTGRES_URL", DEFAULT_PG)
    bootstrap = os.environ.get("DICTAMESH_KAFKA_BOOTSTRAP", DEFAULT_KAFKA)
    redis_url = os.environ.get("DICTAMESH_REDIS_URL", DEFAULT_REDIS)
    run = uuid.uuid4().hex[:8]
    background = await _background()
    print(
        f"machine: {_machine()}, {background:.0%} busy before the run; run {run};"
        f" ingest consumer group {INGEST_GROUP}"
    )
    ingest: list[IngestRun] = []
    graphql: list[GraphqlRun] = []
    with tempfile.TemporaryDirectory(prefix="dictamesh-scale-") as tmp:
        directory = Path(tmp)
        for k in args.ingest_processes:
            result = await ingest_run(
                k, args.events, pg_url, bootstrap, run, directory, args.ingest_roles
            )
            base = ingest[0] if ingest else result
            result.ratio = result.events_per_second / base.events_per_second
            ingest.append(result)
            print(
                f"ingest  {k} process(es): {result.events_per_second:8.0f} events/s steady"
                f" ({result.ratio:.2f}x), all {args.events} in {result.seconds_to_all:.1f} s"
                f" (published in {result.publish_seconds:.1f} s); {result.cpu}",
                flush=True,
            )
        async with scratch_database(pg_url, f"dictamesh_bench_scale_{run}_api") as catalog_url:
            async with await CatalogService.open(catalog_url):  # migrated to head
                pass
            urls = ProductionUrls(catalog_url, bootstrap, redis_url)
            for count in args.api_processes:
                where = directory / f"api{count}"
                async with api_nodes(count, urls, where, run, args.api_roles) as nodes:
                    result_g = await graphql_run(nodes, args.seconds, args.concurrency)
                base = graphql[0] if graphql else result_g
                result_g.ratio = result_g.requests_per_second / base.requests_per_second
                graphql.append(result_g)
                print(
                    f"graphql {count} process(es): {result_g.requests_per_second:8.0f} requests/s"
                    f" ({result_g.ratio:.2f}x), p50 {result_g.p50_ms:.1f} ms,"
                    f" p95 {result_g.p95_ms:.1f} ms, {result_g.errors} errors; {result_g.cpu}",
                    flush=True,
                )
    results = {
        "machine": _machine(),
        "busy_before": background,
        "cores": os.cpu_count(),
        "events": args.events,
        "partitions": PARTITIONS,
        "concurrency": args.concurrency,
        "ingest": [asdict(r) for r in ingest],
        "graphql": [asdict(r) for r in graphql],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "scale_out.json").write_text(json.dumps(results, indent=2))
    print(f"machine after: {_machine()}; results in {OUT / 'scale_out.json'}")
    return results


def _counts(value: str) -> list[int]:
    """``1,2,3``; ``0`` or nothing: skip that part."""
    return [int(v) for v in value.split(",") if v.strip() and int(v)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--ingest-processes", type=_counts, default=[1, 2, 3])
    parser.add_argument("--api-processes", type=_counts, default=[1, 2])
    parser.add_argument(
        "--ingest-roles", type=lambda v: v.split(","), default=["ingest"],
        help="roles of the ingest processes (default ingest)",
    )  # fmt: skip
    parser.add_argument(
        "--api-roles", type=lambda v: v.split(","), default=["api"],
        help="roles of the API processes (default api)",
    )  # fmt: skip
    asyncio.run(main(parser.parse_args()))
