"""Prometheus metrics of a mesh node, served at ``GET /metrics`` (text format).

One :class:`MeshMetrics` per node (or per API app without a node) owns its own
``CollectorRegistry``, so two nodes in one process (or two tests) never share numbers.
Only the HTTP middleware and the catalog's SQLAlchemy hook record as things happen;
everything else is **read at scrape time** from the counters the components already keep
(adapter counters, cache layer stats, breaker state, publisher and consumer stats, bus lag)
by :class:`MeshCollector`. ``docs/observability.md`` lists every metric.

Example::

    metrics = MeshMetrics.for_node(node)     # what MeshNode does
    metrics.instrument_engine(node.catalog.engine)
    stats = metrics.watch_consumer(node.bus, "audit", lambda: topics, ConsumerStats())
    await run_consumer(bus, "audit", topics, handler, stats=stats)
    await metrics.refresh()                  # async sources (consumer lag); /metrics does it
    print(metrics.render().decode())
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from collections import Counter as _Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import event

from dictamesh.observability.stats import DURATION_BUCKETS, BucketHistogram
from dictamesh.observability.tracing import SpanKind, mark_error, tracer, tracing_enabled

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "BREAKER_STATE_VALUES",
    "CONTENT_TYPE",
    "ConsumerCounters",
    "IngestCounters",
    "MeshCollector",
    "MeshMetrics",
    "QueryStats",
    "instrument_engine",
]

log = logging.getLogger("dictamesh.observability")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format ``render`` produces (0.0.4: every scraper)."""

BREAKER_STATE_VALUES = {"closed": 0, "open": 1, "half_open": 2}
"""``dictamesh_circuit_breaker_state`` values."""

_OPERATIONS = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "CREATE", "ALTER", "DROP", "PRAGMA"}
    | {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}
)
_LAG_TIMEOUT = 2.0
#: every transition a breaker makes, exported from zero so increase() works at once
_TRANSITIONS = (
    ("closed", "open"),
    ("open", "half_open"),
    ("half_open", "closed"),
    ("half_open", "open"),
)


class ConsumerCounters(Protocol):
    """What a scrape reads of a consumer's counters
    (:class:`~dictamesh.events.consume.ConsumerStats`): a protocol, because observability
    sits below the event bus and must not import it."""

    @property
    def retried(self) -> int: ...

    @property
    def consumed_by_topic(self) -> Mapping[str, int]: ...

    @property
    def dead_lettered_by_topic(self) -> Mapping[str, int]: ...


class IngestCounters(Protocol):
    """What a scrape reads of the catalog ingest counters
    (:class:`~dictamesh.catalog.ingest.IngestStats`)."""

    @property
    def events(self) -> int: ...

    @property
    def stale(self) -> int: ...

    @property
    def duplicates(self) -> int: ...


C = TypeVar("C", bound=ConsumerCounters)


class _Bus(Protocol):
    """What metrics reads of an event bus (every ``EventBus`` has it; ``{}``: unknown)."""

    async def lag(
        self, group: str, topics: Sequence[str] | None = None
    ) -> dict[str, dict[int, int]]: ...


class _NodeLike(Protocol):
    @property
    def registry(self) -> Any: ...

    @property
    def cache(self) -> Any: ...

    @property
    def publisher(self) -> Any: ...


# --- catalog queries (SQLAlchemy engine events) --------------------------------------------


@dataclass
class QueryStats:
    """Durations of catalog SQL statements by (dialect, operation)."""

    durations: dict[tuple[str, str], BucketHistogram] = field(default_factory=dict)

    def observe(self, dialect: str, operation: str, seconds: float) -> None:
        hist = self.durations.get((dialect, operation))
        if hist is None:
            hist = self.durations[(dialect, operation)] = BucketHistogram(DURATION_BUCKETS)
        hist.observe(seconds)


_ENGINE_STATS: weakref.WeakKeyDictionary[Engine, list[QueryStats]] = weakref.WeakKeyDictionary()
_INFO_KEY = "dictamesh.observability.queries"


def _operation(statement: str) -> str:
    head = statement.lstrip().split(None, 1)
    word = head[0].upper() if head else ""
    return word if word in _OPERATIONS else "OTHER"


def instrument_engine(engine: AsyncEngine | Engine, stats: QueryStats | None = None) -> None:
    """Time every statement of ``engine`` into ``stats`` and trace it (a CLIENT span
    ``catalog <OPERATION>`` under the current span) while tracing is on. Idempotent per
    (engine, stats); listeners go away with the engine."""
    sync: Engine = engine.sync_engine if hasattr(engine, "sync_engine") else engine
    sinks = _ENGINE_STATS.get(sync)
    if sinks is None:
        sinks = _ENGINE_STATS[sync] = []
        _listen(sync)
    if stats is not None and not any(s is stats for s in sinks):
        sinks.append(stats)


def _listen(sync: Engine) -> None:
    dialect = sync.dialect.name
    # the statements of one connection run one at a time: a stack per connection suffices
    # (and survives executemany, which fires before/after once)

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        op = _operation(statement)
        current = None
        if tracing_enabled():
            current = tracer().start_span(
                f"catalog {op}",
                kind=SpanKind.CLIENT,
                attributes={
                    "db.system.name": dialect,
                    "db.operation.name": op,
                    "db.query.text": statement[:1000],
                },
            )
        conn.info.setdefault(_INFO_KEY, []).append((time.perf_counter(), op, current))

    def finish(conn: Any, error: BaseException | None) -> None:
        stack = conn.info.get(_INFO_KEY)
        if not stack:
            return
        started, op, current = stack.pop()
        elapsed = time.perf_counter() - started
        for sink in _ENGINE_STATS.get(sync, ()):
            sink.observe(dialect, op, elapsed)
        if current is not None:
            if error is not None:
                mark_error(current, error)
            current.end()

    def after(conn: Any, *_: Any) -> None:
        finish(conn, None)

    def on_error(ctx: Any) -> None:
        if ctx.connection is not None:
            finish(ctx.connection, ctx.original_exception)

    event.listen(sync, "before_cursor_execute", before)
    event.listen(sync, "after_cursor_execute", after)
    event.listen(sync, "handle_error", on_error)


# --- the registry of one node --------------------------------------------------------------


@dataclass
class _Consumer:
    group: str
    topics: Callable[[], Sequence[str]]
    stats: ConsumerCounters
    bus: _Bus


@dataclass
class _Sources:
    adapters: list[Callable[[], Iterable[Any]]] = field(default_factory=list)
    caches: list[Any] = field(default_factory=list)
    publishers: list[Any] = field(default_factory=list)
    consumers: dict[str, _Consumer] = field(default_factory=dict)
    ingest: list[IngestCounters] = field(default_factory=list)
    #: (topic, partition, group) → lag, refreshed by MeshMetrics.refresh
    lag: dict[tuple[str, str, str], int] = field(default_factory=dict)


class MeshMetrics:
    """The Prometheus registry of one node or app, and what it reads at scrape time."""

    def __init__(self, *, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry()
        self.queries = QueryStats()
        self._sources = _Sources()
        self.http_requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(MeshCollector(self))
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    @classmethod
    def for_node(cls, node: _NodeLike) -> MeshMetrics:
        """Metrics reading ``node``'s adapters, cache and publisher (the node registers its
        consumers, ingest and catalog engine as it starts them)."""
        metrics = cls()
        metrics.watch_adapters(node.registry.adapters)
        metrics.watch_cache(node.cache)
        metrics.watch_publisher(node.publisher)
        return metrics

    # --- what to read -----------------------------------------------------------------------

    def watch_adapters(self, adapters: Callable[[], Iterable[Any]]) -> None:
        """Read adapter counters, caches and breakers from ``adapters()`` at each scrape."""
        self._sources.adapters.append(adapters)

    def watch_cache(self, cache: Any) -> None:
        """A :class:`~dictamesh.cache.tiered.TieredCache` (adapters' caches are found too)."""
        if not any(c is cache for c in self._sources.caches):
            self._sources.caches.append(cache)

    def watch_publisher(self, publisher: Any) -> None:
        """An :class:`~dictamesh.events.publisher.EventPublisher` (reads ``.stats``)."""
        if not any(p is publisher for p in self._sources.publishers):
            self._sources.publishers.append(publisher)

    def watch_consumer(
        self, bus: _Bus, group: str, topics: Callable[[], Sequence[str]], stats: C
    ) -> C:
        """Read ``stats`` (a fresh ``ConsumerStats`` to pass to ``run_consumer(...,
        stats=...)``) for ``group`` at each scrape, and its lag on ``bus`` in
        :meth:`refresh`. Returns ``stats``."""
        self._sources.consumers[group] = _Consumer(group, topics, stats, bus)
        return stats

    def dead_lettered(self) -> dict[str, int]:
        """Messages every watched consumer sent to a DLQ so far, by original topic (the
        notifications' DLQ monitor compares two readings)."""
        total: dict[str, int] = {}
        for consumer in list(self._sources.consumers.values()):
            for topic, count in consumer.stats.dead_lettered_by_topic.items():
                total[topic] = total.get(topic, 0) + count
        return total

    def watch_ingest(self, stats: IngestCounters) -> None:
        if not any(s is stats for s in self._sources.ingest):
            self._sources.ingest.append(stats)

    def instrument_engine(self, engine: AsyncEngine | Engine) -> None:
        """Time the catalog's statements (``catalog_query_duration_seconds``)."""
        instrument_engine(engine, self.queries)

    # --- scraping -----------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the async sources (consumer lag from the bus); bounded, never raises."""
        lag: dict[tuple[str, str, str], int] = {}
        for consumer in list(self._sources.consumers.values()):
            topics = list(consumer.topics())
            if not topics:
                continue
            try:
                async with asyncio.timeout(_LAG_TIMEOUT):
                    found = await consumer.bus.lag(consumer.group, topics)
            except Exception as exc:  # a scrape must answer even when the bus does not
                log.debug("consumer lag of %s unavailable: %r", consumer.group, exc)
                continue
            for topic, partitions in found.items():
                for partition, value in partitions.items():
                    lag[(topic, str(partition), consumer.group)] = int(value)
        self._sources.lag = lag

    def render(self) -> bytes:
        """The text exposition of everything (call :meth:`refresh` first for lag)."""
        return generate_latest(self.registry)


def _histogram(family: HistogramMetricFamily, labels: Sequence[str], hist: BucketHistogram) -> None:
    family.add_metric(
        list(labels),
        [("+Inf" if math.isinf(le) else repr(le), float(n)) for le, n in hist.cumulative()],
        sum_value=hist.sum,
    )


class MeshCollector:
    """Builds the mesh's metric families from live in-process state at each scrape."""

    def __init__(self, metrics: MeshMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # families depend on what runs: described by collecting

    def collect(self) -> Iterator[Metric]:
        sources = self._metrics._sources
        adapters = _unique(a for provider in sources.adapters for a in provider())
        yield from self._adapters(adapters)
        yield from self._caches(sources.caches, adapters)
        yield from self._events(sources)
        yield from self._catalog(sources.ingest, self._metrics.queries)

    # --- adapters -------------------------------------------------------------------------

    def _adapters(self, adapters: list[Any]) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "dictamesh_adapter_calls",
            "Logical source calls (retries included) by adapter, operation and outcome"
            " (success, error, circuit_open, rejected, cancelled).",
            labels=["adapter", "operation", "outcome"],
        )
        duration = HistogramMetricFamily(
            "dictamesh_adapter_call_duration_seconds",
            "Duration of logical source calls, retries and backoff included.",
            labels=["adapter", "operation"],
        )
        retries = CounterMetricFamily(
            "dictamesh_adapter_retries", "Source call attempts retried.", labels=["adapter"]
        )
        stale = CounterMetricFamily(
            "dictamesh_adapter_stale_served",
            "Reads answered from a stale cache copy because the source failed.",
            labels=["adapter"],
        )
        emitted = CounterMetricFamily(
            "dictamesh_adapter_change_events",
            "Change events detected by an adapter.",
            labels=["adapter"],
        )
        state = GaugeMetricFamily(
            "dictamesh_circuit_breaker_state",
            "Circuit breaker of an adapter's source: 0 closed, 1 open, 2 half-open.",
            labels=["adapter"],
        )
        transitions = CounterMetricFamily(
            "dictamesh_circuit_breaker_transitions",
            "Circuit breaker state changes.",
            labels=["adapter", "from_state", "to_state"],
        )
        rejected = CounterMetricFamily(
            "dictamesh_circuit_breaker_rejected",
            "Calls refused without touching the source because the breaker was open.",
            labels=["adapter"],
        )
        for adapter in adapters:
            name = str(adapter.name)
            counters = getattr(adapter, "counters", None)
            policy = getattr(adapter, "policy", None)
            if counters is not None:
                for (op, outcome), n in sorted(counters.ops.items()):
                    calls.add_metric([name, op, outcome], n)
                for op, hist in sorted(counters.durations.items()):
                    _histogram(duration, [name, op], hist)
                retries.add_metric([name], counters.retries)
                stale.add_metric([name], counters.stale_served)
                emitted.add_metric([name], counters.events_emitted)
                seen = {**dict.fromkeys(_TRANSITIONS, 0), **counters.breaker_transitions}
                for (old, new), n in sorted(seen.items()):
                    transitions.add_metric([name, old, new], n)
            else:  # another DataProductAdapter: only its summary metrics
                summary = adapter.get_metrics()
                calls.add_metric([name, "all", "success"], summary.calls - summary.errors)
                calls.add_metric([name, "all", "error"], summary.errors)
            if policy is not None:
                breaker = policy.breaker
                state.add_metric([name], BREAKER_STATE_VALUES.get(breaker.state.value, 1))
                rejected.add_metric([name], breaker.rejected)
            else:
                breaker_state = adapter.get_metrics().breaker_state
                state.add_metric([name], BREAKER_STATE_VALUES.get(breaker_state, 0))
        yield from (calls, duration, retries, stale, emitted, state, transitions, rejected)

    # --- caches ---------------------------------------------------------------------------

    def _caches(self, caches: list[Any], adapters: list[Any]) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "dictamesh_cache_requests",
            "Cache lookups per layer: hit (fresh entry) or miss (absent or expired).",
            labels=["layer", "result"],
        )
        errors = CounterMetricFamily(
            "dictamesh_cache_layer_errors",
            "Cache layer operations that failed (the layer then reads as a miss).",
            labels=["layer"],
        )
        stale = CounterMetricFamily(
            "dictamesh_cache_stale_served",
            "Values served from a stale copy because the loader failed.",
        )
        every = _unique([*caches, *(getattr(a, "cache", None) for a in adapters)])
        hits: _Counter[str] = _Counter()
        misses: _Counter[str] = _Counter()
        failed: _Counter[str] = _Counter()
        stale_total = 0
        for cache in every:
            stats = getattr(cache, "stats", None)
            if stats is None:
                continue
            for layer, s in stats().items():
                hits[layer] += s.hits
                misses[layer] += s.misses
                failed[layer] += s.errors
            stale_total += int(getattr(cache, "stale_served", 0))
        for layer in sorted(hits.keys() | misses.keys()):
            requests.add_metric([layer, "hit"], hits[layer])
            requests.add_metric([layer, "miss"], misses[layer])
            errors.add_metric([layer], failed[layer])
        stale.add_metric([], stale_total)
        yield from (requests, errors, stale)

    # --- events ---------------------------------------------------------------------------

    def _events(self, sources: _Sources) -> Iterator[Metric]:
        published = CounterMetricFamily(
            "dictamesh_events_published",
            "Change events published, by topic.",
            labels=["topic"],
        )
        batch = HistogramMetricFamily(
            "kafka_producer_batch_size",
            "Records per publish call (1 for single publishes), by topic; any bus backend.",
            labels=["topic"],
        )
        consumed = CounterMetricFamily(
            "dictamesh_events_consumed",
            "Messages received by a consumer group, by topic.",
            labels=["group", "topic"],
        )
        dead = CounterMetricFamily(
            "dictamesh_events_dead_lettered",
            "Messages a consumer group published to the topic's DLQ, by original topic.",
            labels=["group", "topic"],
        )
        retried = CounterMetricFamily(
            "dictamesh_events_retried",
            "Handler calls that re-handled messages after a failure.",
            labels=["group"],
        )
        lag = GaugeMetricFamily(
            "kafka_consumer_lag",
            "Messages a consumer group has not committed yet (end offset - committed),"
            " per partition; the embedded bus reports the same.",
            labels=["topic", "partition", "group"],
        )
        per_topic: _Counter[str] = _Counter()
        sizes: dict[str, list[BucketHistogram]] = {}
        for publisher in sources.publishers:
            stats = getattr(publisher, "stats", None)
            if stats is None:
                continue
            per_topic.update(stats.published)
            for topic, hist in stats.batch_sizes.items():
                sizes.setdefault(topic, []).append(hist)
        for topic in sorted(per_topic):
            published.add_metric([topic], per_topic[topic])
        for topic, hists in sorted(sizes.items()):
            _histogram(batch, [topic], BucketHistogram.merged(hists))
        for group, consumer in sorted(sources.consumers.items()):
            stats = consumer.stats
            topics = set(consumer.topics()) | set(stats.consumed_by_topic)
            topics |= set(stats.dead_lettered_by_topic)
            for topic in sorted(topics):
                consumed.add_metric([group, topic], stats.consumed_by_topic.get(topic, 0))
                dead.add_metric([group, topic], stats.dead_lettered_by_topic.get(topic, 0))
            retried.add_metric([group], stats.retried)
        for (topic, partition, group), value in sorted(sources.lag.items()):
            lag.add_metric([topic, partition, group], value)
        yield from (published, batch, consumed, dead, retried, lag)

    # --- catalog --------------------------------------------------------------------------

    def _catalog(self, ingest: list[IngestCounters], queries: QueryStats) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "dictamesh_catalog_ingest_events",
            "Change events offered to catalog ingest: applied, stale (older than the"
            " registry, logged only) or duplicate (already ingested).",
            labels=["result"],
        )
        durations = HistogramMetricFamily(
            "catalog_query_duration_seconds",
            "Catalog SQL statement durations by dialect (postgresql, sqlite) and operation.",
            labels=["dialect", "operation"],
        )
        if ingest:
            applied = sum(s.events - s.stale for s in ingest)
            events.add_metric(["applied"], applied)
            events.add_metric(["stale"], sum(s.stale for s in ingest))
            events.add_metric(["duplicate"], sum(s.duplicates for s in ingest))
        for (dialect, op), hist in sorted(queries.durations.items()):
            _histogram(durations, [dialect, op], hist)
        yield from (events, durations)


def _unique(items: Iterable[Any]) -> list[Any]:
    seen: dict[int, Any] = {}
    for item in items:
        if item is not None:
            seen.setdefault(id(item), item)
    return list(seen.values())
