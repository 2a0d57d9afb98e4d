"""Kafka-compatible partitioning: the same key lands on the same partition number everywhere.

The embedded bus and Apache Kafka's Java client (``BuiltInPartitioner``/the legacy
``DefaultPartitioner``) agree: a keyed record goes to
``(murmur2(utf8(key)) & 0x7fffffff) % partitions``. That keeps one entity's changes on one
partition, in order, and lets a deployment move from the embedded bus to Kafka without
re-keying anything.

Example::

    partition_for_key("c-1", 3)        # same number Kafka's Java producer picks
    rr = RoundRobin()
    rr.next_partition("orders", 3)     # 0, 1, 2, 0, ... for records without a key
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["RoundRobin", "murmur2", "partition_for", "partition_for_key", "to_positive"]

_MASK32 = 0xFFFFFFFF
_SEED = 0x9747B28C
_M = 0x5BD1E995
_R = 24


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2``: MurmurHash2 (seed 0x9747b28c) as a *signed* 32-bit int.

    A straight port of the Java code with every product reduced mod 2**32, because Java's
    ``int`` arithmetic wraps and ``>>>`` is an unsigned shift of the 32-bit pattern.
    """
    length = len(data)
    h = (_SEED ^ length) & _MASK32
    n4 = length - (length & 3)
    for i in range(0, n4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK32
        k ^= k >> _R
        k = (k * _M) & _MASK32
        h = (h * _M) & _MASK32
        h ^= k
    rest = length & 3
    # Java's switch falls through: case 3 -> case 2 -> case 1.
    if rest == 3:
        h ^= data[n4 + 2] << 16
    if rest >= 2:
        h ^= data[n4 + 1] << 8
    if rest >= 1:
        h ^= data[n4]
        h = (h * _M) & _MASK32
    h ^= h >> 13
    h = (h * _M) & _MASK32
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(number: int) -> int:
    """Kafka's ``Utils.toPositive``: clear the sign bit (not ``abs``, which breaks on MIN_INT)."""
    return number & 0x7FFFFFFF


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's Java client picks for a record with these key bytes."""
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    return to_positive(murmur2(key)) % partitions


@lru_cache(maxsize=65_536)
def partition_for_key(key: str, partitions: int) -> int:
    """The partition for a string key (UTF-8 encoded, like Kafka's ``StringSerializer``)."""
    return partition_for(key.encode("utf-8"), partitions)


class RoundRobin:
    """Partition choice for records without a key: each topic cycles over its partitions.

    (Kafka ≥ 2.4 uses a "sticky" batch partitioner for null keys instead; either way no
    ordering is promised for unkeyed records, so the exact choice does not matter.)
    """

    __slots__ = ("_counters",)

    def __init__(self) -> None:
        self._counters: dict[str, int] = {}

    def next_partition(self, topic: str, partitions: int) -> int:
        n = self._counters.get(topic, 0)
        self._counters[topic] = n + 1
        return n % partitions
