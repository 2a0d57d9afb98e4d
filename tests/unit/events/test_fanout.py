"""ChangeFeed: filtered fan-out to bounded subscriber queues; slow subscribers are dropped."""

from __future__ import annotations

import asyncio

import pytest

from dictamesh.core.errors import ConfigurationError, SubscriberTooSlow
from dictamesh.core.models import ChangeEvent, Entity, EventType, SourceRef
from dictamesh.events.fanout import ChangeFeed

SOURCE = SourceRef(domain="customers", system="memory")


def change(
    entity_id: str = "c-1",
    *,
    kind: str = "customer",
    tenant: str | None = None,
    version: int = 2,
    event_type: EventType = EventType.UPDATED,
) -> ChangeEvent:
    entity = Entity(
        type=kind,
        id=entity_id,
        version=version,
        attributes={"name": f"v{version}"},
        source=SOURCE,
        tenant_id=tenant,
    )
    return ChangeEvent.for_change(event_type, entity, before={"name": "old"})


async def drain(subscription: object, count: int) -> list[ChangeEvent]:
    it = aiter(subscription)  # type: ignore[call-overload]
    return [await asyncio.wait_for(anext(it), 1) for _ in range(count)]


async def test_subscribers_get_only_matching_events() -> None:
    feed = ChangeFeed()
    every_customer = feed.subscribe("customer")
    one_customer = feed.subscribe("customer", entity_id="c-2")
    acme = feed.subscribe("customer", tenant="acme")
    invoices = feed.subscribe("invoice")

    events = [
        change("c-1"),
        change("c-2"),
        change("c-1", tenant="acme"),
        change("i-1", kind="invoice"),
    ]
    delivered = [feed.publish(e) for e in events]

    assert delivered == [1, 2, 1, 1]
    assert [e.entity.id for e in await drain(every_customer, 2)] == ["c-1", "c-2"]
    assert [e.entity.id for e in await drain(one_customer, 1)] == ["c-2"]
    # A tenant's subscriber sees its tenant's events only, and untenanted ones none.
    assert [(e.entity.id, e.tenant_id) for e in await drain(acme, 1)] == [("c-1", "acme")]
    assert [e.entity.id for e in await drain(invoices, 1)] == ["i-1"]
    assert every_customer.pending == one_customer.pending == acme.pending == 0
    assert feed.stats.published == 4
    assert feed.stats.delivered == 5


async def test_a_waiting_subscriber_wakes_up_on_publish() -> None:
    feed = ChangeFeed()
    async with feed.subscribe("customer") as changes:
        waiting = asyncio.create_task(anext(aiter(changes)))
        await asyncio.sleep(0)
        assert not waiting.done()
        feed.publish(change("c-9"))
        event = await asyncio.wait_for(waiting, 1)
    assert event.entity.id == "c-9"
    assert feed.subscriber_count == 0  # leaving the block unsubscribes


async def test_a_slow_subscriber_is_dropped_and_the_others_keep_up() -> None:
    feed = ChangeFeed(queue_size=3)
    slow = feed.subscribe("customer")
    fast = feed.subscribe("customer")
    received: list[ChangeEvent] = []

    for version in range(2, 12):
        feed.publish(change(version=version))  # returns at once, whatever the queues hold
        received.extend(await drain(fast, 1))

    assert [e.entity.version for e in received] == list(range(2, 12))
    assert slow.dropped
    assert slow.pending == 0  # what it had not read is discarded
    assert feed.subscriber_count == 1
    assert feed.stats.dropped == 1
    with pytest.raises(SubscriberTooSlow) as raised:
        await anext(aiter(slow))
    assert raised.value.code == "SUBSCRIBER_TOO_SLOW"
    assert raised.value.details == {"queue_size": 3}


async def test_a_subscriber_may_read_up_to_its_queue_size_late() -> None:
    feed = ChangeFeed(queue_size=2)
    late = feed.subscribe("customer", queue_size=4)
    for version in range(2, 6):
        feed.publish(change(version=version))
    assert not late.dropped
    assert [e.entity.version for e in await drain(late, 4)] == [2, 3, 4, 5]


async def test_listeners_see_every_event_and_a_failing_one_harms_nobody() -> None:
    feed = ChangeFeed()
    seen: list[str] = []

    def broken(event: ChangeEvent) -> None:
        raise RuntimeError("boom")

    feed.add_listener(broken)
    remove = feed.add_listener(lambda e: seen.append(e.entity.id))
    subscriber = feed.subscribe("invoice")
    feed.publish(change("c-1"))
    feed.publish(change("i-1", kind="invoice"))
    remove()
    feed.publish(change("c-3"))

    assert seen == ["c-1", "i-1"]
    assert [e.entity.id for e in await drain(subscriber, 1)] == ["i-1"]


async def test_close_ends_iteration_after_the_queued_events() -> None:
    feed = ChangeFeed()
    subscription = feed.subscribe("customer")
    feed.publish(change("c-1"))
    feed.close()
    feed.publish(change("c-2"))  # nobody listens any more
    assert [e.entity.id async for e in subscription] == ["c-1"]
    # The feed itself stays usable (a node may be started again).
    again = feed.subscribe("customer")
    feed.publish(change("c-3"))
    assert [e.entity.id for e in await drain(again, 1)] == ["c-3"]


def test_queue_size_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        ChangeFeed(queue_size=0)
    with pytest.raises(ConfigurationError):
        ChangeFeed().subscribe("customer", queue_size=0)
