"""Fixtures for tests against a real Apache Kafka broker (marker ``kafka``).

The broker address comes from ``DICTAMESH_TEST_KAFKA_BOOTSTRAP`` (default 127.0.0.1:9092,
see ``tests/conftest.py``). Not reachable: skipped on a developer machine, a failure in CI.
Every test gets unique topic and group names, so tests never see each other's data and the
suite can run against a long-lived broker.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from dictamesh.core.errors import EventBusError
from dictamesh.events.bus import Consumer, Message
from dictamesh.events.kafka import KafkaBus


def unavailable(message: str) -> None:
    """Skip locally, fail in CI (a missing broker must never turn CI green)."""
    if os.environ.get("CI"):
        pytest.fail(message + " — CI must run the kafka marker against a real broker")
    pytest.skip(message)


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def topic_name(uid: str) -> Callable[..., str]:
    """``topic_name("a")`` -> a unique, valid mesh topic name for this test."""

    def name(suffix: str = "events") -> str:
        return f"it.k{uid}.{suffix}"

    return name


@pytest.fixture
async def kafka_bus(kafka_bootstrap: str) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka_bootstrap, client_id="dictamesh-tests", topic_specs=(), linger_ms=0)
    try:
        await bus.connect()
    except EventBusError as exc:
        await bus.aclose()
        unavailable(
            f"Kafka broker not reachable at {kafka_bootstrap}: {exc.message}:"
            " run scripts/services.sh up"
        )
    try:
        yield bus
    finally:
        await bus.aclose()


async def _poll_until(
    consumer: Consumer,
    count: int,
    timeout: float = 15.0,
    max_records: int = 500,
) -> list[Message]:
    """Poll until ``count`` messages arrived (or fail after ``timeout`` seconds)."""
    got: list[Message] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < count:
        remaining = deadline - loop.time()
        if remaining <= 0:
            pytest.fail(f"got {len(got)} of {count} messages within {timeout}s: {got!r}"[:2000])
        got.extend(await consumer.poll(max_records=max_records, timeout=min(remaining, 1.0)))
    return got


PollUntil = Callable[..., Awaitable[list[Message]]]


@pytest.fixture
def poll_until() -> PollUntil:
    """``await poll_until(consumer, n)``: the first ``n`` messages, failing after a timeout."""
    return _poll_until
