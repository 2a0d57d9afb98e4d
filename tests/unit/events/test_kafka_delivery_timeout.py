"""KafkaBus's bounded wait for a publish acknowledgement, without a broker."""

from __future__ import annotations

import asyncio
import gc

import pytest

from dictamesh.core.errors import ConfigurationError, EventBusError
from dictamesh.events.kafka import KafkaBus


async def test_unacknowledged_publish_raises_after_the_delivery_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = KafkaBus("127.0.0.1:1", topic_specs=(), delivery_timeout_ms=50)
    pending: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    with pytest.raises(EventBusError, match=r"not acknowledged within 0\.05s") as info:
        await bus._delivered(pending, "orders.shop.entity_changed")
    assert info.value.http_status == 503
    assert info.value.details["topic"] == "orders.shop.entity_changed"
    # The record stays queued in the producer: its future is not cancelled...
    assert not pending.cancelled()
    # ...and a late failure is retrieved, so asyncio logs no "never retrieved" error.
    pending.set_exception(RuntimeError("late"))
    await asyncio.sleep(0)
    del pending
    gc.collect()
    assert "never retrieved" not in caplog.text


async def test_kafka_errors_of_the_delivery_are_event_bus_errors() -> None:
    import aiokafka.errors

    bus = KafkaBus("127.0.0.1:1", topic_specs=())
    pending: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    pending.set_exception(aiokafka.errors.KafkaTimeoutError())
    with pytest.raises(EventBusError, match="publish failed"):
        await bus._delivered(pending, "orders.shop.entity_changed")


def test_delivery_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        KafkaBus("127.0.0.1:1", delivery_timeout_ms=0)
