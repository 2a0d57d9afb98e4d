"""SQL of the embedded bus (SQLite). Kept apart so the engine code reads as logic only."""

from __future__ import annotations

#: 2: deliveries are counted per fetched offset *range*, not per message (see below)
SCHEMA_VERSION = 2

# WITHOUT ROWID: every table is looked up by its composite primary key, so storing rows in
# the PK b-tree itself saves a second index and a lookup per read.
SCHEMA = """
CREATE TABLE IF NOT EXISTS dictamesh_bus_topics (
    name            TEXT PRIMARY KEY,
    partitions      INTEGER NOT NULL,
    retention_ms    INTEGER,
    cleanup_policy  TEXT NOT NULL,
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per partition: the next offset to assign. Kept apart from the messages so
-- offsets stay monotonic even after retention deleted every message of a partition.
CREATE TABLE IF NOT EXISTS dictamesh_bus_partitions (
    topic        TEXT NOT NULL,
    partition    INTEGER NOT NULL,
    next_offset  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS dictamesh_bus_messages (
    topic         TEXT NOT NULL,
    partition     INTEGER NOT NULL,
    offset        INTEGER NOT NULL,
    key           TEXT,
    value         BLOB NOT NULL,
    headers       TEXT,
    timestamp_ms  INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS dictamesh_bus_group_offsets (
    group_id     TEXT NOT NULL,
    topic        TEXT NOT NULL,
    partition    INTEGER NOT NULL,
    next_offset  INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;

-- One row per fetch of a partition (offsets first..last handed to the group), counted
-- again when the same range is fetched again: a message's delivery count is the sum over
-- the ranges covering it. One write per fetched partition instead of one per message.
-- Rows exist only while some of their range is uncommitted: commit deletes the rest.
CREATE TABLE IF NOT EXISTS dictamesh_bus_delivered (
    group_id      TEXT NOT NULL,
    topic         TEXT NOT NULL,
    partition     INTEGER NOT NULL,
    first_offset  INTEGER NOT NULL,
    last_offset   INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition, first_offset, last_offset)
) WITHOUT ROWID;
"""

#: from schema v1 (one row per delivered message): each becomes a one-offset range
UPGRADE_FROM_V1 = """
INSERT OR IGNORE INTO dictamesh_bus_delivered
    (group_id, topic, partition, first_offset, last_offset, count)
    SELECT group_id, topic, partition, offset, offset, count FROM dictamesh_bus_deliveries;
DROP TABLE dictamesh_bus_deliveries;
"""

INSERT_TOPIC = (
    "INSERT OR IGNORE INTO dictamesh_bus_topics"
    " (name, partitions, retention_ms, cleanup_policy, created_at) VALUES (?, ?, ?, ?, ?)"
)
INSERT_PARTITION = (
    "INSERT OR IGNORE INTO dictamesh_bus_partitions (topic, partition, next_offset)"
    " VALUES (?, ?, 0)"
)
SELECT_TOPIC = (
    "SELECT name, partitions, retention_ms, cleanup_policy FROM dictamesh_bus_topics WHERE name = ?"
)
SELECT_TOPICS = "SELECT name, partitions, retention_ms, cleanup_policy FROM dictamesh_bus_topics"

# Reserve ``n`` offsets of one partition; returns the first. Runs inside BEGIN IMMEDIATE,
# so the read-modify-write is serialized against every other writer, in-process or not.
RESERVE_OFFSETS = (
    "UPDATE dictamesh_bus_partitions SET next_offset = next_offset + ?"
    " WHERE topic = ? AND partition = ? RETURNING next_offset - ?"
)
INSERT_MESSAGE = (
    "INSERT INTO dictamesh_bus_messages"
    " (topic, partition, offset, key, value, headers, timestamp_ms)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def end_offsets_sql(n_topics: int) -> str:
    marks = ",".join("?" * n_topics)
    return (
        "SELECT topic, partition, next_offset FROM dictamesh_bus_partitions"
        f" WHERE topic IN ({marks})"
    )


SELECT_ALL_END_OFFSETS = "SELECT topic, partition, next_offset FROM dictamesh_bus_partitions"

FETCH = (
    "SELECT offset, key, value, headers, timestamp_ms FROM dictamesh_bus_messages"
    " WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?"
)
# Ranges overlapping first..last of one partition (the PK prefix bounds the scan).
SELECT_DELIVERIES = (
    "SELECT first_offset, last_offset, count FROM dictamesh_bus_delivered"
    " WHERE group_id = ? AND topic = ? AND partition = ? AND first_offset <= ?"
    " AND last_offset >= ?"
)
BUMP_DELIVERY = (
    "INSERT INTO dictamesh_bus_delivered"
    " (group_id, topic, partition, first_offset, last_offset, count) VALUES (?, ?, ?, ?, ?, 1)"
    " ON CONFLICT (group_id, topic, partition, first_offset, last_offset)"
    " DO UPDATE SET count = count + 1"
)

# MAX(): a commit never moves the group's position backwards (late commits from a member
# that lost the partition in a rebalance, or out-of-order acks).
COMMIT_OFFSET = (
    "INSERT INTO dictamesh_bus_group_offsets (group_id, topic, partition, next_offset, updated_at)"
    " VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (group_id, topic, partition) DO UPDATE SET"
    " next_offset = MAX(next_offset, excluded.next_offset), updated_at = excluded.updated_at"
)
# A never-committed partition's start (``initial_offsets``); an existing commit wins.
START_OFFSET = (
    "INSERT INTO dictamesh_bus_group_offsets (group_id, topic, partition, next_offset, updated_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_id, topic, partition) DO NOTHING"
)
# Ranges wholly committed; one straddling the new position keeps counting its later part.
FORGET_DELIVERIES = (
    "DELETE FROM dictamesh_bus_delivered"
    " WHERE group_id = ? AND topic = ? AND partition = ? AND last_offset < ?"
)


def committed_sql(n_topics: int) -> str:
    marks = ",".join("?" * n_topics)
    return (
        "SELECT topic, partition, next_offset FROM dictamesh_bus_group_offsets"
        f" WHERE group_id = ? AND topic IN ({marks})"
    )


SELECT_GROUP_OFFSETS = (
    "SELECT topic, partition, next_offset FROM dictamesh_bus_group_offsets WHERE group_id = ?"
)
SELECT_GROUPS = "SELECT DISTINCT group_id FROM dictamesh_bus_group_offsets ORDER BY group_id"
# substr, not LIKE: a group name may hold % and _
IDLE_GROUPS = (
    "SELECT group_id FROM dictamesh_bus_group_offsets WHERE substr(group_id, 1, ?) = ?"
    " GROUP BY group_id HAVING MAX(updated_at) < ?"
)
DELETE_GROUP_OFFSETS = "DELETE FROM dictamesh_bus_group_offsets WHERE group_id = ?"
DELETE_GROUP_DELIVERIES = "DELETE FROM dictamesh_bus_delivered WHERE group_id = ?"
SELECT_LOG_START = (
    "SELECT MIN(offset) FROM dictamesh_bus_messages WHERE topic = ? AND partition = ?"
)

DELETE_EXPIRED = "DELETE FROM dictamesh_bus_messages WHERE topic = ? AND timestamp_ms < ?"
# Compaction keeps the newest record of every key in a partition. Unkeyed records cannot be
# compacted (Kafka refuses them on compacted topics) and are left alone.
COMPACT = (
    "DELETE FROM dictamesh_bus_messages WHERE topic = ?1 AND key IS NOT NULL"
    " AND (partition, offset) NOT IN ("
    "  SELECT partition, MAX(offset) FROM dictamesh_bus_messages"
    "  WHERE topic = ?1 AND key IS NOT NULL GROUP BY partition, key)"
)
# A tombstone (empty value) that survived compaction is the newest record of its key; it is
# dropped once older than the topic's tombstone retention.
DELETE_OLD_TOMBSTONES = (
    "DELETE FROM dictamesh_bus_messages"
    " WHERE topic = ? AND key IS NOT NULL AND length(value) = 0 AND timestamp_ms < ?"
)
DELETE_ORPHAN_DELIVERIES = (
    "DELETE FROM dictamesh_bus_delivered WHERE NOT EXISTS ("
    " SELECT 1 FROM dictamesh_bus_messages m WHERE m.topic = dictamesh_bus_delivered.topic"
    " AND m.partition = dictamesh_bus_delivered.partition"
    " AND m.offset BETWEEN dictamesh_bus_delivered.first_offset"
    " AND dictamesh_bus_delivered.last_offset)"
)
