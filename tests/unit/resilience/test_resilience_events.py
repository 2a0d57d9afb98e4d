"""Breaker transitions published to ``system.adapters.breaker_changed`` on a real bus."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import Any

from dictamesh.core.errors import SourceUnavailable
from dictamesh.events.bus import Message
from dictamesh.events.topics import DEFAULT_TOPICS
from dictamesh.resilience import CircuitBreaker
from dictamesh.resilience.events import BREAKER_TOPIC, BREAKER_TOPIC_SPEC, BreakerEventRelay
from dictamesh.testing.adapters import FakeAdapter, fake_config
from dictamesh.testing.bus import InMemoryBus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def down() -> None:
    raise SourceUnavailable("503")


async def up() -> str:
    return "ok"


async def consume(bus: InMemoryBus, count: int) -> list[Message]:
    got: list[Message] = []
    async with bus.consumer("test", [BREAKER_TOPIC]) as consumer:
        for _ in range(50):
            got += await consumer.poll(timeout=0.05)
            if len(got) >= count:
                break
    return got


def bodies(messages: Sequence[Message]) -> list[dict[str, Any]]:
    return [json.loads(m.value) for m in messages]


def test_the_topic_is_part_of_the_taxonomy() -> None:
    assert BREAKER_TOPIC_SPEC in DEFAULT_TOPICS
    assert BREAKER_TOPIC == "system.adapters.breaker_changed"


async def test_relay_publishes_every_transition_in_order() -> None:
    clock = Clock()
    breaker = CircuitBreaker("crm", failure_threshold=1, reset_timeout=5, clock=clock)
    async with InMemoryBus() as bus:
        await bus.ensure_topic(BREAKER_TOPIC_SPEC)
        relay = BreakerEventRelay(bus, node="node-1")
        relay.watch(breaker)
        task = asyncio.create_task(relay.run())
        try:
            with contextlib.suppress(SourceUnavailable):
                await breaker.call(down)
            clock.now += 5
            assert await breaker.call(up) == "ok"
            messages = await consume(bus, 3)
        finally:
            task.cancel()
        assert [m.key for m in messages] == ["crm"] * 3
        events = bodies(messages)
        assert [(e["old_state"], e["new_state"], e["reason"]) for e in events] == [
            ("closed", "open", "failure_threshold"),
            ("open", "half_open", "reset_timeout"),
            ("half_open", "closed", "probes_succeeded"),
        ]
        first = events[0]
        assert first["event_type"] == "breaker_changed"
        assert (first["adapter"], first["node"], first["retry_in_seconds"]) == ("crm", "node-1", 5)
        assert first["occurred_at"].endswith("+00:00")
        assert relay.published == 3


async def test_relay_watches_adapters_and_survives_a_failing_bus() -> None:
    adapter = FakeAdapter(
        fake_config(resilience={"max_attempts": 1, "breaker_failure_threshold": 1})
    )

    class BrokenBus(InMemoryBus):
        async def publish(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("bus down")

    async with adapter, BrokenBus() as bus:
        relay = BreakerEventRelay(bus, max_queue=1)
        relay.watch_adapters([adapter, object()])
        adapter.fail(times=1)
        with contextlib.suppress(SourceUnavailable):
            await adapter.get_entity("w-1")
        assert relay.pending == 1
        assert await relay.flush() == 0
        assert relay.failed == 1
        relay.close()
        adapter.policy.breaker.reset()
        assert relay.pending == 0  # no longer watching
