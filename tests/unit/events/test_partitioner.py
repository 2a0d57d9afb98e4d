"""The partitioner must agree with Kafka's Java client bit for bit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dictamesh.events.partitioner import (
    RoundRobin,
    murmur2,
    partition_for,
    partition_for_key,
    to_positive,
)

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed 32-bit results).
KAFKA_MURMUR2_VECTORS = [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
]

# Computed with kafka-clients 4.4.0 (Utils.murmur2 / Utils.toPositive) on the JVM:
# key -> (murmur2, partition for 1, 3, 6, 12, 100 partitions).
JAVA_PARTITIONS = [
    ("c-1", 460065359, (0, 2, 5, 11, 59)),
    ("c-2", -494967646, (0, 1, 4, 10, 2)),
    ("cust-42", 1534714832, (0, 2, 2, 8, 32)),
    ("order:2024-0001", -727428030, (0, 2, 2, 2, 18)),
    ("invoice.17", -1720156009, (0, 1, 1, 7, 39)),
    ("ü-ñ-€", 1748002802, (0, 2, 2, 2, 2)),  # multi-byte UTF-8
    ("", 275646681, (0, 0, 3, 9, 81)),
    ("0123456789abcdef", 1438427052, (0, 0, 0, 0, 52)),
]
PARTITION_COUNTS = (1, 3, 6, 12, 100)


@pytest.mark.parametrize(("data", "expected"), KAFKA_MURMUR2_VECTORS)
def test_murmur2_matches_kafka_test_vectors(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


@pytest.mark.parametrize(("key", "hash_", "partitions"), JAVA_PARTITIONS)
def test_partition_matches_java_client(key: str, hash_: int, partitions: tuple[int, ...]) -> None:
    assert murmur2(key.encode("utf-8")) == hash_
    assert tuple(partition_for_key(key, n) for n in PARTITION_COUNTS) == partitions


def test_to_positive_clears_sign_bit_not_abs() -> None:
    assert to_positive(-1) == 0x7FFFFFFF
    assert to_positive(-(2**31)) == 0  # abs() would overflow in Java; masking gives 0
    assert to_positive(5) == 5


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=1024))
def test_partition_in_range_and_stable(key: bytes, partitions: int) -> None:
    p = partition_for(key, partitions)
    assert 0 <= p < partitions
    assert partition_for(key, partitions) == p
    assert -(2**31) <= murmur2(key) < 2**31


@given(st.text(max_size=40), st.integers(min_value=1, max_value=64))
def test_string_key_is_utf8_bytes(key: str, partitions: int) -> None:
    assert partition_for_key(key, partitions) == partition_for(key.encode("utf-8"), partitions)


@given(st.binary(max_size=64))
def test_agrees_with_aiokafka_default_partitioner(key: bytes) -> None:
    aiokafka_partitioner = pytest.importorskip("aiokafka.partitioner")
    assert to_positive(murmur2(key)) == aiokafka_partitioner.murmur2(key) & 0x7FFFFFFF


def test_zero_partitions_is_an_error() -> None:
    with pytest.raises(ValueError, match="partitions"):
        partition_for(b"k", 0)


def test_round_robin_cycles_per_topic() -> None:
    rr = RoundRobin()
    assert [rr.next_partition("a", 3) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert [rr.next_partition("b", 2) for _ in range(3)] == [0, 1, 0]
