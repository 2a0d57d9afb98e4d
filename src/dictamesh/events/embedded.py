"""The embedded event bus: a durable, partitioned, append-only log in one SQLite file.

It gives a single node (or a test) the same semantics the Kafka backend gives a cluster:
topics split into partitions by the key's Kafka murmur2 hash, offsets per partition,
consumer groups with committed offsets, at-least-once delivery, retention and compaction.
No server to run: ``EmbeddedBus("var/bus.db")`` and go. ``":memory:"`` keeps the log in
memory (tests); any other path survives restarts and process crashes.

Example::

    async with EmbeddedBus("var/bus.db") as bus:
        await bus.ensure_topic(TopicSpec(name="customers.directus.entity_changed"))
        await bus.publish("customers.directus.entity_changed", b"{...}", key="c-1")
        async with bus.consumer("catalog-ingest", ["customers.directus.entity_changed"]) as c:
            for msg in await c.poll(max_records=100, timeout=1.0):
                handle(msg)
                await c.commit(msg)

Semantics worth knowing:

* Publishing to a topic that does not exist creates it with ``TopicSpec(name=topic)``
  defaults (3 partitions, 7 days retention, delete policy; ``topic_settings`` override
  them as they override every created topic's), like Kafka's
  ``auto.create.topics.enable``; call :meth:`EmbeddedBus.ensure_topic` first to choose.
  The name must follow the mesh scheme (``[tenant.]<domain>.<source>.<event>[.dlq]``),
  else :class:`~dictamesh.core.errors.ValidationError`. An existing topic's configuration
  always wins over a later ``ensure_topic`` (a warning is logged).
* A consumer starts each partition at its group's committed offset, or where the group
  never committed: at the earliest message, or at ``initial_offsets`` when given (that
  start is then committed for the group, in the transaction that read the commits).
  ``poll`` moves the consumer's in-memory position; only ``commit`` is durable.
  So a message polled but not committed is delivered again after the consumer closes or
  crashes, after a rebalance, or after :meth:`EmbeddedConsumer.seek_to_committed`; a
  committed message never comes back to that group. :attr:`Message.delivery_count` counts
  the group's earlier deliveries of a message, across restarts.
* Consumers of one group *within one EmbeddedBus instance* split the partitions (an
  in-process coordinator rebalances when a member joins or leaves). Several processes may
  publish to and consume from one file, but group membership is not coordinated across
  processes: give each process its own group, or use Kafka for a multi-process group.
* Retention is not automatic: call :meth:`EmbeddedBus.enforce_retention` periodically.
* All SQLite work of one bus runs on one dedicated thread, one whole operation (a publish,
  a poll, a commit) per round-trip, so the event loop never blocks on the file and a
  transaction never spans an ``await`` (a cancelled caller cannot leave one open). Each
  ``publish`` is its own transaction (~0.25 ms); :meth:`EmbeddedBus.publish_many` (used by
  ``EventPublisher.publish_events``) appends a whole batch in one.
* Durability (WAL journal): every publish, every poll (its delivery record) and every
  commit is one transaction, appended to the write-ahead log before the call returns. With
  ``synchronous="NORMAL"`` (default) nothing is fsynced at commit: a commit survives a crash
  of the process, and reaches the disk at the next checkpoint (SQLite's automatic one, when
  the log passes ~1 000 pages, run by the writer that crosses it; it fsyncs the log, then
  the database file). An OS crash or power cut can lose the commits since the last
  checkpoint, never corrupt the file. ``synchronous="FULL"`` fsyncs the log at every commit.
* Delivery counts (for :attr:`Message.delivery_count` and the consumer's poison-message
  rule) are one row per fetched partition range, written in the poll's transaction and
  deleted by the commit that covers the range: two writes per poll and partition, not per
  message (file schema v2; a v1 file is upgraded when opened).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

import pydantic

from dictamesh.core.bus_config import TopicSettings
from dictamesh.core.errors import ConfigurationError, EventBusError, ValidationError
from dictamesh.core.lifecycle import AsyncResource
from dictamesh.events._embedded_group import GroupState, TopicPartition, new_member_id
from dictamesh.events._embedded_store import (
    DEFAULT_TOMBSTONE_RETENTION_MS,
    Store,
    decode_headers,
    encode_headers,
)
from dictamesh.events._start_offsets import start_positions
from dictamesh.events.bus import Message, PartitionLag, RecordMetadata, StartOffsets, TopicInfo
from dictamesh.events.partitioner import RoundRobin, partition_for_key
from dictamesh.events.topics import TopicSpec, configured_spec

__all__ = [
    "DEFAULT_TOMBSTONE_RETENTION_MS",
    "EmbeddedBus",
    "EmbeddedConsumer",
    "Record",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

Record = tuple[bytes, str | None, Mapping[str, bytes] | None]
"""``(value, key, headers)`` for :meth:`EmbeddedBus.publish_many`."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _check_record(value: object, key: object, headers: object) -> None:
    """Value and key types (header items are checked as they are encoded)."""
    if type(value) is bytes and (key is None or type(key) is str):
        pass  # the common case, checked cheaply
    elif not isinstance(value, bytes | bytearray | memoryview):
        raise ValidationError(f"record value must be bytes, got {type(value).__name__}")
    elif key is not None and not isinstance(key, str):
        raise ValidationError(f"record key must be str or None, got {type(key).__name__}")
    if headers is not None and not isinstance(headers, Mapping):
        raise ValidationError(f"record headers must be a mapping, not {type(headers).__name__}")


class EmbeddedBus(AsyncResource):
    """Durable SQLite-backed :class:`~dictamesh.events.bus.EventBus` (see the module docs).

    :param path: database file (created with its parent directories), or ``":memory:"``.
    :param poll_interval: how often an idle ``poll`` re-reads the file to notice messages
        published by *other processes*; same-process publishes wake pollers at once.
    :param synchronous: SQLite ``synchronous`` pragma. ``"NORMAL"`` (default) in WAL mode
        makes every commit durable across a *process* crash (the WAL append reaches the OS
        before ``publish``/``commit`` return); only an OS crash or power loss may lose the
        last transactions, the same trade Kafka makes by not fsyncing each write.
        ``"FULL"`` fsyncs the WAL on every commit: power-loss safe, much slower.
    :param busy_timeout: seconds to wait for another process's write lock on the file.
    :param topic_settings: ``bus.topics``: override the partitions, retention and cleanup
        policy of every topic this bus creates (replication settings mean nothing here).
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        poll_interval: float = 0.05,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = 30.0,
        topic_settings: Sequence[TopicSettings] = (),
    ) -> None:
        if poll_interval <= 0:
            raise ConfigurationError("poll_interval must be > 0")
        if synchronous not in ("NORMAL", "FULL"):
            raise ConfigurationError("synchronous must be 'NORMAL' or 'FULL'")
        self.path = str(path)
        self.poll_interval = poll_interval
        self._synchronous: Literal["NORMAL", "FULL"] = synchronous
        self._busy_timeout = busy_timeout
        self.topic_settings = tuple(topic_settings)
        self._store: Store | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        self._connect_lock = asyncio.Lock()
        self._topics: dict[str, TopicSpec] = {}
        self._topology = 0  # bumped whenever a topic becomes known; triggers reassignment
        self._rr = RoundRobin()
        self._groups: dict[str, GroupState] = {}
        self._consumers: weakref.WeakSet[EmbeddedConsumer] = weakref.WeakSet()
        self._seq = 0  # bumped on every local publish/close; idle pollers wait for a change
        # set (and replaced) on every change: an Event, not a Condition, so a poller cancelled
        # while it waits can never leave a lock held that the next publish would wait on
        # (a Condition re-acquires its lock on cancellation inside wait_for: a stuck stop)
        self._changed = asyncio.Event()
        self._taps: list[Callable[[list[Message]], None]] = []

    def __repr__(self) -> str:
        return f"EmbeddedBus({self.path!r})"

    # --- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the file and create the tables if needed. Safe to call more than once."""
        if self._store is not None:
            return
        async with self._connect_lock:
            if self._store is not None:
                return
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dictamesh-bus")
            loop = asyncio.get_running_loop()
            try:
                store, mode = await loop.run_in_executor(
                    executor,
                    lambda: Store.open(
                        self.path, synchronous=self._synchronous, busy_timeout=self._busy_timeout
                    ),
                )
                specs = await loop.run_in_executor(executor, store.topics)
            except BaseException as exc:
                executor.shutdown(wait=False)
                if isinstance(exc, sqlite3.Error | OSError):
                    raise EventBusError(
                        f"cannot open the embedded bus at {self.path!r}: {exc}", path=self.path
                    ) from exc
                raise
            if mode != "wal" and self.path != ":memory:":
                log.warning("embedded bus %s: WAL unavailable (journal_mode=%s)", self.path, mode)
            self._store, self._executor, self._closed = store, executor, False
            for spec in specs:
                self._remember(spec)

    async def aclose(self) -> None:
        """Close every consumer (without committing) and the file. Idempotent."""
        for consumer in list(self._consumers):
            await consumer.aclose()
        store, executor = self._store, self._executor
        self._store, self._executor, self._closed = None, None, True
        if store is not None and executor is not None:
            # Queued behind any operation still running, so those finish first.
            try:
                await asyncio.get_running_loop().run_in_executor(executor, store.close)
            finally:
                executor.shutdown(wait=False)
        self._topics.clear()
        self._groups.clear()
        await self._wake()

    async def ping(self) -> bool:
        try:
            await self._call(lambda store: store.conn.execute("SELECT 1").fetchone())
        except EventBusError:
            return False
        return True

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(store, *args)`` on the database thread (one whole unit of work)."""
        if self._store is None:
            if self._closed:
                raise EventBusError(f"the embedded bus at {self.path!r} is closed")
            await self.connect()
        store, executor = self._store, self._executor
        assert store is not None
        assert executor is not None
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, store, *args)
        except sqlite3.Error as exc:
            raise EventBusError(f"embedded bus {self.path!r}: {exc}", path=self.path) from exc
        except RuntimeError as exc:  # executor shut down under us by a concurrent aclose()
            if self._store is None:
                raise EventBusError(f"the embedded bus at {self.path!r} is closed") from exc
            raise

    async def _wake(self) -> None:
        self._seq += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait_for_change(self, seq: int, seconds: float) -> None:
        if self._seq != seq:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    # --- topics ----------------------------------------------------------------------------

    def _remember(self, spec: TopicSpec) -> None:
        if spec.name not in self._topics:
            self._topology += 1
        self._topics[spec.name] = spec

    async def ensure_topic(self, spec: TopicSpec) -> None:
        """Create the topic if missing (idempotent; an existing topic keeps its config)."""
        await self._ensure_topic(spec, warn=True)

    async def _ensure_topic(self, spec: TopicSpec, *, warn: bool) -> TopicSpec:
        known = self._topics.get(spec.name)
        if known is not None:
            return known
        spec = configured_spec(spec, self.topic_settings)
        actual = await self._call(Store.ensure_topic, spec, _now_ms())
        if warn and (actual.partitions, actual.retention_ms, actual.cleanup_policy) != (
            spec.partitions,
            spec.retention_ms,
            spec.cleanup_policy,
        ):
            log.warning(
                "topic %s already exists with partitions=%s retention_ms=%s cleanup_policy=%s;"
                " keeping that (requested %s/%s/%s)",
                spec.name,
                actual.partitions,
                actual.retention_ms,
                actual.cleanup_policy.value,
                spec.partitions,
                spec.retention_ms,
                spec.cleanup_policy.value,
            )
        self._remember(actual)
        return actual

    async def _topic(self, name: str) -> TopicSpec:
        spec = self._topics.get(name)
        if spec is not None:
            return spec
        try:
            default = TopicSpec(name=name)
        except pydantic.ValidationError as exc:
            raise ValidationError(
                f"cannot auto-create topic {name!r}: not '[tenant.]<domain>.<source>.<event>'",
                topic=name,
            ) from exc
        return await self._ensure_topic(default, warn=False)

    async def _discover(self, names: Sequence[str]) -> None:
        """Learn topics another process (or bus instance) created in the same file."""
        for spec in await self._call(Store.topics, names):
            self._remember(spec)

    async def topics(self) -> dict[str, TopicSpec]:
        """Every topic in the file, with its stored configuration."""
        specs = await self._call(Store.topics)
        for spec in specs:
            self._remember(spec)
        return {spec.name: spec for spec in specs}

    # --- publishing ------------------------------------------------------------------------

    async def publish(
        self,
        topic: str,
        value: bytes,
        key: str | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> RecordMetadata:
        """Append one record; the key picks the partition (Kafka murmur2), None = round robin.

        Returns once the record is committed to the file.
        """
        return (await self.publish_many(topic, [(value, key, headers)]))[0]

    async def publish_many(self, topic: str, records: Iterable[Record]) -> list[RecordMetadata]:
        """Append ``(value, key, headers)`` records in one transaction (all or none).

        Same partitions and per-key order as calling :meth:`publish` for each in turn, at a
        fraction of the cost. Embedded-only: not part of the EventBus protocol.
        """
        spec = await self._topic(topic)
        n_parts = spec.partitions
        rows: list[list[Any]] = []
        by_partition: dict[int, list[int]] = {p: [] for p in range(n_parts)}
        add = rows.append
        # The common record (bytes, str key, dict headers) is checked by exact type, cheaply;
        # anything else takes the full check (ABC isinstance costs more than the rest).
        for value, key, headers in records:
            if type(value) is not bytes or (key is not None and type(key) is not str):
                _check_record(value, key, headers)
                value = bytes(value)
            elif headers is not None and type(headers) is not dict:
                _check_record(value, key, headers)
            if key is None:
                partition = self._rr.next_partition(topic, n_parts)
            else:
                partition = partition_for_key(key, n_parts)
            by_partition[partition].append(len(rows))
            # offset (index 2) and timestamp (index 6) are assigned by the store
            add([topic, partition, 0, key, value, encode_headers(headers), 0])
        by_partition = {p: indexes for p, indexes in by_partition.items() if indexes}
        if not rows:
            return []
        await self._call(Store.append, topic, rows, by_partition, _now_ms())
        if self._taps:
            published = [
                Message(topic, r[1], r[2], r[3], r[4], decode_headers(r[5]), r[6]) for r in rows
            ]
            for tap in list(self._taps):
                tap(published)
        await self._wake()
        return [RecordMetadata(topic, row[1], row[2]) for row in rows]

    def on_publish(self, callback: Callable[[list[Message]], None]) -> Callable[[], None]:
        """Call ``callback(messages)`` after each publish through *this* bus instance
        commits, with the new messages in publish order; returns a function that removes it.

        For tests and debugging (see :func:`dictamesh.testing.bus.capture_events`); the
        callback runs inline, so keep it cheap and never raise from it.
        """
        self._taps.append(callback)

        def remove() -> None:
            if callback in self._taps:
                self._taps.remove(callback)

        return remove

    # --- consuming -------------------------------------------------------------------------

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        *,
        initial_offsets: StartOffsets | None = None,
    ) -> EmbeddedConsumer:
        """A member of ``group``; it joins (and the group rebalances) on first use.
        ``initial_offsets``: where partitions the group never committed on start (see
        :meth:`EventBus.consumer <dictamesh.events.bus.EventBus.consumer>`)."""
        return EmbeddedConsumer(self, group, topics, initial_offsets=initial_offsets)

    def _group(self, name: str) -> GroupState:
        state = self._groups.get(name)
        if state is None:
            state = self._groups[name] = GroupState(name)
        return state

    async def read(
        self, topic: str, partition: int, offset: int = 0, max_records: int = 1000
    ) -> list[Message]:
        """Up to ``max_records`` messages of one partition from ``offset`` on, without a
        consumer group (nothing is committed or counted). For tools, tests and debugging."""
        if max_records < 1:
            raise ValidationError("max_records must be >= 1")
        return await self._call(Store.read, topic, partition, max(0, offset), max_records)

    # --- maintenance & observability -------------------------------------------------------

    async def enforce_retention(self, now_ms: int | None = None) -> dict[str, int]:
        """Apply every topic's cleanup policy; returns deleted message counts per topic.

        ``delete`` topics lose messages older than ``retention_ms`` (none if it is None).
        ``compact`` topics keep only the newest record of each key per partition, and drop
        that one too when it is a tombstone (empty value) older than ``retention_ms`` (or
        :data:`DEFAULT_TOMBSTONE_RETENTION_MS` when the topic keeps data forever). Unkeyed
        records on compacted topics are kept. Offsets are never reused; consumers skip gaps.
        Topics with nothing to enforce (delete policy, no retention) are not in the result.
        """
        now = _now_ms() if now_ms is None else now_ms
        return await self._call(Store.enforce_retention, now)

    async def end_offsets(self, topics: Sequence[str] | None = None) -> dict[str, dict[int, int]]:
        """Next offset to be written, per partition: ``{topic: {partition: offset}}``."""
        ends = await self._call(Store.end_offsets, None if topics is None else list(topics))
        out: dict[str, dict[int, int]] = {}
        for (topic, partition), n in sorted(ends.items()):
            out.setdefault(topic, {})[partition] = n
        return out

    async def beginning_offsets(
        self, topics: Sequence[str] | None = None
    ) -> dict[str, dict[int, int]]:
        """Oldest retained offset per partition (``{topic: {partition: offset}}``); the end
        offset where retention left nothing."""
        starts = await self._call(Store.beginning_offsets, None if topics is None else list(topics))
        out: dict[str, dict[int, int]] = {}
        for (topic, partition), n in sorted(starts.items()):
            out.setdefault(topic, {})[partition] = n
        return out

    async def topic_names(self) -> list[str]:
        """Every topic in the file, sorted."""
        return sorted(await self.topics())

    async def describe_topics(self, topics: Sequence[str]) -> list[TopicInfo]:
        """Partitions, retention and cleanup policy of ``topics`` (those in the file)."""
        specs = await self.topics()
        return [
            TopicInfo(s.name, s.partitions, s.retention_ms, s.cleanup_policy.value)
            for t in topics
            if (s := specs.get(t)) is not None
        ]

    async def consumer_groups(self) -> list[str]:
        """Groups that committed in the file, or have members in this bus instance."""
        names = set(await self._call(Store.groups))
        names.update(name for name, state in self._groups.items() if state.members)
        return sorted(names)

    async def prune_groups(
        self, prefix: str, *, idle_ms: int, now_ms: int | None = None
    ) -> list[str]:
        """Forget consumer groups named ``prefix...`` that committed nothing for ``idle_ms``
        and have no member in this bus instance; returns their names.

        What Kafka does by itself (``offsets.retention.minutes``) for groups of processes
        that are gone, such as each node process's own cache group. Only for groups that
        start anew without loss (``initial_offsets``): a pruned durable group would read
        its topics again from the earliest message.
        """
        if not prefix:
            raise ValidationError("prune_groups needs a group name prefix")
        if idle_ms < 0:
            raise ValidationError("idle_ms must be >= 0")
        now = _now_ms() if now_ms is None else now_ms
        live = [name for name, state in self._groups.items() if state.members]
        return await self._call(Store.prune_groups, prefix, now - idle_ms, live)

    async def committed_offsets(
        self, group: str, topics: Sequence[str] | None = None
    ) -> dict[str, dict[int, int]]:
        """:meth:`committed` under the Kafka backend's name."""
        return await self.committed(group, topics)

    async def committed(
        self, group: str, topics: Sequence[str] | None = None
    ) -> dict[str, dict[int, int]]:
        """The group's committed next-offsets: ``{topic: {partition: offset}}``."""
        rows = await self._call(Store.committed, group, None if topics is None else list(topics))
        out: dict[str, dict[int, int]] = {}
        for (topic, partition), n in sorted(rows.items()):
            out.setdefault(topic, {})[partition] = n
        return out

    async def lag(
        self, group: str, topics: Sequence[str] | None = None
    ) -> dict[str, dict[int, int]]:
        """Messages the group has not committed yet, per partition (an offset distance,
        like Kafka's lag: compaction gaps are counted).

        Counted from the committed offset, or from the oldest retained message when that is
        later (never committed, or retention removed unread messages). Without ``topics``:
        the topics the group committed on, or subscribes to in this bus.
        """
        topics = await self._group_topics(group, topics)
        if not topics:
            return {}
        return await self._call(Store.lag, group, list(topics))

    async def lag_details(
        self, group: str, topics: Sequence[str] | None = None
    ) -> list[PartitionLag]:
        """:meth:`lag` with the committed and end offsets behind each number (as
        :meth:`KafkaBus.lag_details <dictamesh.events.kafka.KafkaBus.lag_details>`)."""
        topics = await self._group_topics(group, topics)
        if not topics:
            return []
        return await self._call(Store.lag_details, group, list(topics))

    async def _group_topics(self, group: str, topics: Sequence[str] | None) -> Sequence[str]:
        if topics is not None:
            return topics
        names = set(await self.committed(group))
        state = self._groups.get(group)
        if state is not None:
            for subscribed in state.members.values():
                names.update(subscribed)
        return sorted(names)


class EmbeddedConsumer(AsyncResource):
    """A member of a consumer group on an :class:`EmbeddedBus` (see the module docs)."""

    def __init__(
        self,
        bus: EmbeddedBus,
        group: str,
        topics: Sequence[str],
        *,
        initial_offsets: StartOffsets | None = None,
    ) -> None:
        if not group or not isinstance(group, str):
            raise ValidationError("consumer group must be a non-empty string")
        if isinstance(topics, str) or not topics:
            raise ValidationError("topics must be a non-empty list of topic names")
        self._bus = bus
        self._initial = start_positions(initial_offsets)
        self.group = group
        self.topics: tuple[str, ...] = tuple(dict.fromkeys(topics))
        self.member_id = new_member_id()
        self._joined = False
        self._closed = False
        self._positions: dict[TopicPartition, int] = {}
        self._assignment_key: tuple[int, int] | None = None
        self._rotation = 0
        self._leave: weakref.finalize[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"EmbeddedConsumer(group={self.group!r}, topics={list(self.topics)!r})"

    # --- group membership ------------------------------------------------------------------

    async def _join(self) -> None:
        if self._joined:
            return
        bus = self._bus
        if bus._store is None:
            if bus._closed:
                raise EventBusError(f"the embedded bus at {bus.path!r} is closed")
            await bus.connect()
        group = bus._group(self.group)
        group.join(self.member_id, self.topics)
        # A consumer dropped without aclose() leaves its group when garbage-collected, so
        # its partitions (and their uncommitted messages) go to the remaining members.
        self._leave = weakref.finalize(self, group.leave, self.member_id)
        bus._consumers.add(self)
        self._joined = True

    async def _sync_assignment(self) -> None:
        await self._join()
        bus = self._bus
        missing = [t for t in self.topics if t not in bus._topics]
        if missing:
            await bus._discover(missing)
        group = bus._group(self.group)
        key = (group.generation, bus._topology)
        if key == self._assignment_key:
            return
        sizes = {t: bus._topics[t].partitions for t in self.topics if t in bus._topics}
        target = group.assignment(self.member_id, sizes)
        for tp in list(self._positions):
            if tp not in target:
                del self._positions[tp]
        new = [tp for tp in target if tp not in self._positions]
        if new and self._initial is not None:
            starts = {tp: self._initial.get(tp, 0) for tp in new}
            self._positions.update(
                await bus._call(Store.start_group, self.group, starts, _now_ms())
            )
        elif new:
            topics = sorted({t for t, _ in new})
            committed = await bus._call(Store.committed, self.group, topics)
            for tp in new:
                self._positions[tp] = committed.get(tp, 0)
        self._assignment_key = key

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """Partitions this member owned at its last poll (empty before it joined)."""
        return frozenset(self._positions)

    def position(self, topic: str, partition: int) -> int | None:
        """Next offset this member will read from the partition (None if not assigned)."""
        return self._positions.get((topic, partition))

    def _check_open(self) -> None:
        if self._closed:
            raise EventBusError(f"consumer of group {self.group!r} is closed")

    # --- Consumer protocol -----------------------------------------------------------------

    async def poll(self, max_records: int = 100, timeout: float = 1.0) -> list[Message]:
        """Up to ``max_records`` next messages, in offset order per partition.

        Waits up to ``timeout`` seconds for the first one: woken at once by publishes in this
        process, re-checking the file every ``poll_interval`` for other processes' writes.
        """
        if max_records < 1:
            raise ValidationError("max_records must be >= 1")
        self._check_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            seq = self._bus._seq
            messages = await self._fetch(max_records)
            if messages or self._closed:
                return messages
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            await self._bus._wait_for_change(seq, min(remaining, self._bus.poll_interval))
            if self._closed:
                return []

    async def _fetch(self, max_records: int) -> list[Message]:
        await self._sync_assignment()
        if not self._positions:
            return []
        order = sorted(self._positions)
        # Rotate the first partition read so a busy partition cannot starve the others.
        start = self._rotation % len(order)
        self._rotation += 1
        order = order[start:] + order[:start]
        messages, advanced = await self._bus._call(
            Store.fetch, self.group, self.topics, dict(self._positions), order, max_records
        )
        # Positions move only once the read (and its delivery count) is committed, and not
        # for a partition this member lost to a rebalance meanwhile.
        for tp, position in advanced.items():
            if tp in self._positions:
                self._positions[tp] = position
        return messages

    async def commit(self, message: Message) -> None:
        """Ack ``message`` and all earlier messages of its partition, for this group.

        The group's committed offset becomes ``message.offset + 1`` unless it is already
        further: it never moves backwards.
        """
        await self.commit_many([message])

    async def commit_many(self, messages: Iterable[Message]) -> None:
        """Commit the highest offset per partition among ``messages``, in one transaction."""
        self._check_open()
        top: dict[TopicPartition, int] = {}
        for m in messages:
            tp = (m.topic, m.partition)
            top[tp] = max(top.get(tp, 0), m.offset + 1)
        if top:
            await self._bus._call(Store.commit, self.group, top, _now_ms())

    async def seek(self, topic: str, partition: int, offset: int) -> None:
        """Make the next poll of this partition start at ``offset`` (nothing is committed)."""
        self._check_open()
        if offset < 0:
            raise ValidationError("offset must be >= 0")
        await self._sync_assignment()
        if (topic, partition) not in self._positions:
            raise EventBusError(
                f"{topic}[{partition}] is not assigned to this consumer",
                topic=topic,
                partition=partition,
            )
        self._positions[(topic, partition)] = offset

    async def seek_to_committed(self) -> None:
        """Rewind every assigned partition to the group's committed offset, so whatever was
        polled but not committed is delivered again."""
        self._check_open()
        await self._sync_assignment()
        if not self._positions:
            return
        committed = await self._bus._call(Store.committed, self.group, list(self.topics))
        initial = self._initial or {}
        for tp in self._positions:
            self._positions[tp] = committed.get(tp, initial.get(tp, 0))

    async def aclose(self) -> None:
        """Leave the group without committing anything. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._leave is not None:
            self._leave()
        self._positions.clear()
        self._bus._consumers.discard(self)
        await self._bus._wake()

    async def connect(self) -> None:
        """Join the group now (else on the first poll)."""
        self._check_open()
        await self._join()
