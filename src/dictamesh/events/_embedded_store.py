"""Synchronous storage engine of the embedded bus: every method is one unit of work.

:class:`Store` methods run on the bus's single database thread (see ``_embedded_db``), so a
method never interleaves with another and a transaction never spans an ``await``: a
cancelled caller cannot leave a transaction half-open, and a whole publish or poll costs one
thread round-trip instead of one per statement.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import dictamesh.events._embedded_sql as sql
from dictamesh.core.errors import EventBusError, ValidationError
from dictamesh.events.bus import Message, PartitionLag
from dictamesh.events.topics import CleanupPolicy, TopicSpec

TopicPartition = tuple[str, int]

#: how long a tombstone survives on a compacted topic without ``retention_ms``
#: (Kafka's ``delete.retention.ms`` default): long enough for consumers to see the delete
DEFAULT_TOMBSTONE_RETENTION_MS = 24 * 3600 * 1000


# One reusable encoder: json.dumps() with non-default options builds a new one per call.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode

HeaderItems = tuple[tuple[str, bytes], ...]


# Headers are stored as JSON text; latin-1 maps every byte to one code point, so arbitrary
# bytes survive exactly. Most records of a topic carry the very same headers (content type,
# event type, entity type...), so both directions are memoized on the exact content.
@lru_cache(maxsize=1024)
def _items_to_json(items: HeaderItems) -> str:
    for k, v in items:
        if not isinstance(k, str) or not isinstance(v, bytes):
            raise ValidationError(f"record header {k!r} must map a str to bytes")
    return _encode_json({k: v.decode("latin-1") for k, v in items})


@lru_cache(maxsize=1024)
def _json_to_items(raw: str) -> HeaderItems:
    return tuple((k, v.encode("latin-1")) for k, v in json.loads(raw).items())


def encode_headers(headers: Mapping[str, bytes] | None) -> str | None:
    if not headers:
        return None
    try:
        return _items_to_json(tuple(headers.items()))
    except TypeError:  # unhashable values (bytearray, memoryview)
        items = []
        for k, v in headers.items():
            if not isinstance(k, str) or not isinstance(v, bytes | bytearray | memoryview):
                raise ValidationError(f"record header {k!r} must map a str to bytes") from None
            items.append((k, bytes(v)))
        return _items_to_json(tuple(items))


def decode_headers(raw: str | None) -> dict[str, bytes]:
    return {} if raw is None else dict(_json_to_items(raw))


def spec_from_row(row: Sequence[Any]) -> TopicSpec:
    name, partitions, retention_ms, policy = row
    # model_construct: the row was validated when it was written.
    return TopicSpec.model_construct(
        name=name,
        partitions=int(partitions),
        replication_factor=1,
        retention_ms=retention_ms,
        cleanup_policy=CleanupPolicy(policy),
    )


class Store:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(
        cls, path: str, *, synchronous: Literal["NORMAL", "FULL"], busy_timeout: float
    ) -> tuple[Store, str]:
        """Connect and create/upgrade the schema; returns the store and the journal mode."""
        uri = path.startswith("file:")
        if path != ":memory:" and not uri:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; every write says BEGIN IMMEDIATE.
        # check_same_thread=False: the connection is only ever used by the bus's one
        # database thread, but it is opened and closed from tasks scheduled onto it.
        conn = sqlite3.connect(
            path,
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            uri=uri,
            cached_statements=64,
        )
        try:
            # WAL: readers never block the writer, and a commit is one sequential append.
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            # NORMAL (the default) in WAL mode: a commit has reached the OS when it returns,
            # so it survives a crash of this process; only an OS crash or power cut can drop
            # the newest commits. FULL adds an fsync per commit for that (see EmbeddedBus).
            conn.execute(f"PRAGMA synchronous={synchronous}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > sql.SCHEMA_VERSION:
                raise EventBusError(
                    f"{path!r} holds bus schema v{version}; this DictaMesh knows up to "
                    f"v{sql.SCHEMA_VERSION}",
                    path=path,
                )
            if version < sql.SCHEMA_VERSION:
                upgrade = sql.UPGRADE_FROM_V1 if version == 1 else ""
                conn.executescript(
                    f"BEGIN IMMEDIATE;{sql.SCHEMA}{upgrade}"
                    f"PRAGMA user_version={sql.SCHEMA_VERSION};COMMIT;"
                )
        except BaseException:
            conn.close()
            raise
        return cls(conn), str(mode)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction. BEGIN IMMEDIATE takes the file's write lock up front, so a
        read-then-write (offset assignment) cannot race another process's."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # --- topics ----------------------------------------------------------------------------

    def topics(self, names: Iterable[str] | None = None) -> list[TopicSpec]:
        if names is None:
            rows = self.conn.execute(sql.SELECT_TOPICS).fetchall()
        else:
            rows = [r for n in names for r in self.conn.execute(sql.SELECT_TOPIC, (n,))]
        return [spec_from_row(r) for r in rows]

    def ensure_topic(self, spec: TopicSpec, now_ms: int) -> TopicSpec:
        """Create the topic unless it exists; returns the stored (authoritative) spec."""
        with self._tx() as conn:
            conn.execute(
                sql.INSERT_TOPIC,
                (
                    spec.name,
                    spec.partitions,
                    spec.retention_ms,
                    spec.cleanup_policy.value,
                    now_ms,
                ),
            )
            actual = spec_from_row(conn.execute(sql.SELECT_TOPIC, (spec.name,)).fetchone())
            conn.executemany(
                sql.INSERT_PARTITION, [(spec.name, p) for p in range(actual.partitions)]
            )
        return actual

    # --- log -------------------------------------------------------------------------------

    def append(
        self,
        topic: str,
        rows: list[list[Any]],
        by_partition: Mapping[int, list[int]],
        now_ms: int,
    ) -> None:
        """Insert ``rows`` (``[topic, partition, offset, key, value, headers, ts]``), giving
        each partition's rows the next offsets in order. Fills in offset and timestamp."""
        with self._tx() as conn:
            for partition, indexes in by_partition.items():
                n = len(indexes)
                reserved = conn.execute(sql.RESERVE_OFFSETS, (n, topic, partition, n)).fetchone()
                if reserved is None:
                    raise EventBusError(f"partition {partition} of topic {topic!r} is missing")
                first = reserved[0]
                for i, index in enumerate(indexes):
                    row = rows[index]
                    row[2] = first + i
                    row[6] = now_ms
            conn.executemany(sql.INSERT_MESSAGE, rows)

    def end_offsets(self, topics: Sequence[str] | None = None) -> dict[TopicPartition, int]:
        if topics is None:
            cur = self.conn.execute(sql.SELECT_ALL_END_OFFSETS)
        else:
            cur = self.conn.execute(sql.end_offsets_sql(len(topics)), tuple(topics))
        return {(t, p): n for t, p, n in cur}

    def beginning_offsets(self, topics: Sequence[str] | None = None) -> dict[TopicPartition, int]:
        """Oldest retained offset per partition (the end offset when none is retained)."""
        out = {}
        for (topic, partition), end in self.end_offsets(topics).items():
            first = self.conn.execute(sql.SELECT_LOG_START, (topic, partition)).fetchone()[0]
            out[(topic, partition)] = end if first is None else first
        return out

    def fetch(
        self,
        group: str,
        topics: Sequence[str],
        positions: Mapping[TopicPartition, int],
        order: Sequence[TopicPartition],
        max_records: int,
    ) -> tuple[list[Message], dict[TopicPartition, int]]:
        """Next messages of the partitions in ``order`` from ``positions`` on.

        Returns the messages and each read partition's new position. Records the delivery
        (for ``Message.delivery_count``) in the same transaction as the read.
        """
        ends = self.end_offsets(topics)
        ready = [tp for tp in order if ends.get(tp, 0) > positions[tp]]
        if not ready:  # the common idle case: no write lock taken
            return [], {}
        out: list[Message] = []
        append = out.append
        advanced: dict[TopicPartition, int] = {}
        bumps: list[tuple[str, str, int, int, int]] = []
        with self._tx() as conn:
            for tp in ready:
                room = max_records - len(out)
                if room <= 0:
                    break
                topic, partition = tp
                rows = conn.execute(sql.FETCH, (topic, partition, positions[tp], room)).fetchall()
                if not rows:  # retention removed everything from the position on
                    advanced[tp] = ends[tp]
                    continue
                first, last = rows[0][0], rows[-1][0]
                earlier = conn.execute(
                    sql.SELECT_DELIVERIES, (group, topic, partition, last, first)
                ).fetchall()
                for offset, key, value, headers, ts in rows:
                    # Usually no earlier range (a first delivery): no per-message summing.
                    count = sum(n for lo, hi, n in earlier if lo <= offset <= hi) if earlier else 0
                    append(
                        Message(
                            topic, partition, offset, key, value, decode_headers(headers), ts, count
                        )
                    )
                bumps.append((group, topic, partition, first, last))
                advanced[tp] = last + 1
            conn.executemany(sql.BUMP_DELIVERY, bumps)
        return out, advanced

    def read(self, topic: str, partition: int, offset: int, max_records: int) -> list[Message]:
        """Messages of one partition from ``offset`` on, outside any consumer group."""
        rows = self.conn.execute(sql.FETCH, (topic, partition, offset, max_records)).fetchall()
        return [
            Message(topic, partition, o, key, value, decode_headers(headers), ts)
            for o, key, value, headers, ts in rows
        ]

    # --- groups ----------------------------------------------------------------------------

    def committed(self, group: str, topics: Sequence[str] | None) -> dict[TopicPartition, int]:
        if topics is None:
            cur = self.conn.execute(sql.SELECT_GROUP_OFFSETS, (group,))
        else:
            cur = self.conn.execute(sql.committed_sql(len(topics)), (group, *topics))
        return {(t, p): n for t, p, n in cur}

    def start_group(
        self, group: str, starts: Mapping[TopicPartition, int], now_ms: int
    ) -> dict[TopicPartition, int]:
        """Where the group reads each of ``starts``' partitions: its commit, or (never
        committed) the given start, committed now. One transaction, so a commit another
        process makes meanwhile is never overwritten."""
        topics = sorted({t for t, _ in starts})
        with self._tx() as conn:
            committed = {
                (t, p): n
                for t, p, n in conn.execute(sql.committed_sql(len(topics)), (group, *topics))
            }
            fresh = [
                (group, t, p, n, now_ms) for (t, p), n in starts.items() if (t, p) not in committed
            ]
            conn.executemany(sql.START_OFFSET, fresh)
        return {tp: committed.get(tp, n) for tp, n in starts.items()}

    def prune_groups(self, prefix: str, idle_before_ms: int, keep: Sequence[str]) -> list[str]:
        """Forget the groups named ``prefix...`` whose last commit is older than
        ``idle_before_ms`` (except ``keep``): their offsets and delivery counts."""
        with self._tx() as conn:
            stale = [
                name
                for (name,) in conn.execute(sql.IDLE_GROUPS, (len(prefix), prefix, idle_before_ms))
                if name not in keep
            ]
            for name in stale:
                conn.execute(sql.DELETE_GROUP_OFFSETS, (name,))
                conn.execute(sql.DELETE_GROUP_DELIVERIES, (name,))
        return stale

    def groups(self) -> list[str]:
        return [row[0] for row in self.conn.execute(sql.SELECT_GROUPS)]

    def commit(self, group: str, offsets: Mapping[TopicPartition, int], now_ms: int) -> None:
        entries = [(group, t, p, n) for (t, p), n in offsets.items()]
        with self._tx() as conn:
            conn.executemany(sql.COMMIT_OFFSET, [(*e, now_ms) for e in entries])
            conn.executemany(sql.FORGET_DELIVERIES, entries)

    def lag(self, group: str, topics: Sequence[str]) -> dict[str, dict[int, int]]:
        """Offset distance from the group's position to the end, per partition. The
        position is the committed offset, or the oldest retained message if that is later
        (never committed, or retention deleted what the group had not read)."""
        out: dict[str, dict[int, int]] = {}
        for item in self.lag_details(group, topics):
            out.setdefault(item.topic, {})[item.partition] = item.lag
        return out

    def lag_details(self, group: str, topics: Sequence[str]) -> list[PartitionLag]:
        """:meth:`lag` with the committed and end offsets behind each number."""
        committed = self.committed(group, topics)
        ends = self.end_offsets(topics)
        starts = self.beginning_offsets(topics)
        result = []
        for (topic, partition), end in sorted(ends.items()):
            done = committed.get((topic, partition))
            start = starts[(topic, partition)]
            position = start if done is None else max(done, start)
            result.append(PartitionLag(topic, partition, done, end, max(0, end - position)))
        return result

    # --- retention -------------------------------------------------------------------------

    def enforce_retention(self, now_ms: int) -> dict[str, int]:
        removed: dict[str, int] = {}
        for spec in self.topics():
            # One transaction per topic keeps each write-lock hold short.
            with self._tx() as conn:
                if spec.cleanup_policy is CleanupPolicy.COMPACT:
                    n = conn.execute(sql.COMPACT, (spec.name,)).rowcount
                    keep = spec.retention_ms
                    if keep is None:
                        keep = DEFAULT_TOMBSTONE_RETENTION_MS
                    n += conn.execute(
                        sql.DELETE_OLD_TOMBSTONES, (spec.name, now_ms - keep)
                    ).rowcount
                elif spec.retention_ms is not None:
                    cutoff = now_ms - spec.retention_ms
                    n = conn.execute(sql.DELETE_EXPIRED, (spec.name, cutoff)).rowcount
                else:
                    continue
            removed[spec.name] = n
        if any(removed.values()):
            with self._tx() as conn:
                conn.execute(sql.DELETE_ORPHAN_DELIVERIES)
        return removed
