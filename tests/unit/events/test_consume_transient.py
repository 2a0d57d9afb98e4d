"""run_consumer and transient handler failures: retried until they pass, never dead-lettered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from dictamesh.core.errors import (
    CatalogError,
    CatalogUnavailable,
    EventBusError,
    SerializationError,
    SourceUnavailable,
    ValidationError,
)
from dictamesh.events.bus import Message
from dictamesh.events.consume import BatchHandler, ConsumerStats, is_transient, run_consumer
from dictamesh.events.embedded import EmbeddedBus
from dictamesh.events.topics import TopicSpec, dlq_topic
from dictamesh.testing.bus import InMemoryBus

T = "orders.shop.entity_changed"
FAST: dict[str, Any] = {"backoff_initial": 0.001, "backoff_max": 0.005, "poll_timeout": 0.05}


@pytest.fixture
async def bus() -> AsyncIterator[EmbeddedBus]:
    async with InMemoryBus() as bus:
        await bus.ensure_topic(TopicSpec(name=T, partitions=1))
        yield bus


async def until(condition: Callable[[], bool], task: asyncio.Task[ConsumerStats]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            if task.done():
                task.result()  # raises what ended the consumer early
            await asyncio.sleep(0.005)


def start(
    bus: EmbeddedBus, handler: BatchHandler, **options: Any
) -> tuple[asyncio.Task[ConsumerStats], ConsumerStats, asyncio.Event]:
    """``run_consumer`` of group ``g`` on ``T`` in a task; its stats and stop event."""
    stats, stop = ConsumerStats(), asyncio.Event()
    task = asyncio.create_task(
        run_consumer(bus, "g", [T], handler, stop=stop, stats=stats, **FAST, **options)
    )
    return task, stats, stop


async def always_down(messages: list[Message]) -> None:
    raise CatalogUnavailable("down")


def test_default_rule() -> None:
    assert is_transient(CatalogUnavailable("db restarting"))
    assert is_transient(SourceUnavailable("503"))
    assert is_transient(EventBusError("broker down"))
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(CatalogError("syntax error"))
    assert not is_transient(SerializationError("garbage"))  # 400: bad bytes stay bad
    assert not is_transient(ValidationError("bad"))
    assert not is_transient(KeyError("x"))


async def test_outage_longer_than_max_attempts_loses_nothing(
    bus: EmbeddedBus, caplog: pytest.LogCaptureFixture
) -> None:
    await bus.publish_many(T, [(b"a", "k", None), (b"b", "k", None)])
    down = asyncio.Event()
    down.set()
    handled: list[bytes] = []
    committed_during_outage: list[dict[str, dict[int, int]]] = []

    async def handler(messages: list[Message]) -> None:
        if down.is_set():
            committed_during_outage.append(await bus.committed("g"))
            raise CatalogUnavailable("catalog database unavailable")
        handled.extend(m.value for m in messages)

    caplog.set_level(logging.WARNING, "dictamesh.events.consume")
    task, stats, stop = start(bus, handler, max_attempts=2)
    await until(lambda: stats.transient_failures >= 20, task)  # ten times max_attempts
    down.clear()
    await until(lambda: stats.committed >= 2, task)
    stop.set()
    await task

    assert handled == [b"a", b"b"]  # one batch, handled once, after the outage
    assert stats.dead_lettered == 0
    assert (await bus.end_offsets()).get(dlq_topic(T)) is None
    assert all(c == {} for c in committed_during_outage)  # nothing committed meanwhile
    assert await bus.committed("g") == {T: {0: 2}}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # one when the outage starts, one when it ends
    assert "transiently" in warnings[0]
    assert "recovered" in warnings[1]


async def test_stop_during_an_outage_leaves_the_batch_uncommitted(bus: EmbeddedBus) -> None:
    await bus.publish(T, b"a", key="k")
    task, stats, stop = start(bus, always_down, max_attempts=1)
    await until(lambda: stats.transient_failures >= 5, task)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert (stats.committed, stats.dead_lettered) == (0, 0)
    assert await bus.committed("g") == {}


async def test_custom_rule_turns_the_retry_off(bus: EmbeddedBus) -> None:
    await bus.publish(T, b"a", key="k")
    task, stats, stop = start(bus, always_down, max_attempts=2, transient=lambda exc: False)
    await until(lambda: stats.dead_lettered >= 1, task)
    stop.set()
    await task
    assert stats.transient_failures == 0
