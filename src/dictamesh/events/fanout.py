"""A node's in-process fan-out of change events: one bus consumer, many live subscribers.

The node's cache-invalidation consumer (one consumer group per node) hands every change
event it handled to :meth:`ChangeFeed.publish`, *after* the node's cached copy of the
entity was dropped, so a subscriber that loads the entity on receipt gets the new version.
The feed then

* calls its listeners (synchronous callbacks, e.g. the GraphQL response cache's
  invalidation), and
* offers the event to every subscription whose filter matches — entity type, optionally
  one entity id, and the subscriber's tenant (an event is delivered only when its
  ``tenant_id`` equals the subscription's ``tenant``, ``None`` included).

Each subscription has a bounded queue. Publishing never waits: a subscriber whose queue is
full is **dropped** — its queue is emptied, it is removed from the feed, and its next read
raises :class:`SubscriberTooSlow` — so one slow client never holds up the bus consumer,
the cache invalidation or the other subscribers. Delivery is at-least-once, like the bus:
after a consumer retry an event may arrive twice (``event_id`` tells).

Example::

    feed = ChangeFeed(queue_size=100)
    async with feed.subscribe("customer", entity_id="c-1", tenant=None) as changes:
        async for event in changes:          # ChangeEvent, until closed
            print(event.event_type, event.entity.version)

    feed.publish(event)                      # from the consumer; never blocks
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Self

from dictamesh.core.errors import ConfigurationError, SubscriberTooSlow
from dictamesh.core.lifecycle import AsyncResource
from dictamesh.core.models import ChangeEvent

__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "ChangeFeed",
    "ChangeListener",
    "ChangeSubscription",
    "FeedStats",
    "SubscriberTooSlow",
]

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 100
"""Events one subscriber may have waiting before it is dropped."""

ChangeListener = Callable[[ChangeEvent], object]
"""Called synchronously with every published event; must be quick and must not raise."""


@dataclass(slots=True)
class FeedStats:
    """Counters of one feed (live)."""

    #: events handed to :meth:`ChangeFeed.publish`
    published: int = 0
    #: events queued for a subscriber (one event to three subscribers counts three)
    delivered: int = 0
    #: subscribers dropped because their queue was full
    dropped: int = 0


class ChangeSubscription(AsyncResource):
    """One subscriber's filtered, bounded view of the feed; an async iterator of events.

    Iteration ends when the subscription or the feed is closed, and raises
    :class:`SubscriberTooSlow` once the subscriber was dropped.
    """

    def __init__(
        self,
        feed: ChangeFeed,
        entity_type: str,
        entity_id: str | None,
        tenant: str | None,
        queue_size: int,
    ) -> None:
        self.entity_type = entity_type
        self.entity_id = entity_id
        self.tenant = tenant
        self.queue_size = queue_size
        self._feed = feed
        self._queue: deque[ChangeEvent] = deque()
        self._ready = asyncio.Event()
        self._state: Literal["open", "closed", "dropped"] = "open"

    @property
    def dropped(self) -> bool:
        return self._state == "dropped"

    @property
    def pending(self) -> int:
        """Events queued and not read yet."""
        return len(self._queue)

    def matches(self, event: ChangeEvent) -> bool:
        return (
            event.entity.type == self.entity_type
            and (self.entity_id is None or event.entity.id == self.entity_id)
            and event.tenant_id == self.tenant
        )

    def _offer(self, event: ChangeEvent) -> bool:
        """Queue ``event``; False (and the subscriber is dropped) when the queue is full."""
        if self._state != "open":
            return False
        if len(self._queue) >= self.queue_size:
            self._end("dropped")
            return False
        self._queue.append(event)
        self._ready.set()
        return True

    def _end(self, state: Literal["closed", "dropped"]) -> None:
        if self._state != "open":
            return
        self._state = state
        if state == "dropped":
            # What it did not read is of no use any more: the client must resync anyway.
            self._queue.clear()
        self._feed._remove(self)
        self._ready.set()

    def close(self) -> None:
        """Stop receiving; iteration ends after the events already queued."""
        self._end("closed")

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> ChangeEvent:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._state == "dropped":
                raise SubscriberTooSlow(
                    f"more than {self.queue_size} change events were waiting for this"
                    " subscriber; it was dropped (subscribe again to resume)",
                    queue_size=self.queue_size,
                )
            if self._state == "closed":
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()

    async def aclose(self) -> None:
        """``close()`` (what ``async with`` ends with)."""
        self.close()

    def __repr__(self) -> str:
        target = (
            self.entity_type if self.entity_id is None else f"{self.entity_type}:{self.entity_id}"
        )
        return f"ChangeSubscription({target}, tenant={self.tenant!r}, {self._state})"


class ChangeFeed:
    """Fans change events out to listeners and to subscriptions (module docs)."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ConfigurationError("queue_size must be >= 1")
        self.queue_size = queue_size
        self.stats = FeedStats()
        self._by_type: dict[str, set[ChangeSubscription]] = {}
        self._listeners: list[ChangeListener] = []

    @property
    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._by_type.values())

    def subscribe(
        self,
        entity_type: str,
        *,
        entity_id: str | None = None,
        tenant: str | None = None,
        queue_size: int | None = None,
    ) -> ChangeSubscription:
        """A subscription to changes of ``entity_type`` (one entity when ``entity_id``)
        in ``tenant``; events published from now on. Close it (or use ``async with``)."""
        size = self.queue_size if queue_size is None else queue_size
        if size < 1:
            raise ConfigurationError("queue_size must be >= 1")
        subscription = ChangeSubscription(self, entity_type, entity_id, tenant, size)
        self._by_type.setdefault(entity_type, set()).add(subscription)
        return subscription

    def add_listener(self, listener: ChangeListener) -> Callable[[], None]:
        """Call ``listener`` with every published event; returns the function removing it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def publish(self, event: ChangeEvent) -> int:
        """Hand ``event`` to the listeners and the matching subscriptions; never blocks.

        Returns the number of subscriptions it was queued for.
        """
        self.stats.published += 1
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one broken listener must not starve the others
                log.exception("change listener %r failed", listener)
        delivered = 0
        for subscription in list(self._by_type.get(event.entity.type, ())):
            if not subscription.matches(event):
                continue
            if subscription._offer(event):
                delivered += 1
            else:
                self.stats.dropped += 1
                log.warning("dropped a slow subscriber: %r", subscription)
        self.stats.delivered += delivered
        return delivered

    def close(self) -> None:
        """End every current subscription (their iteration stops), e.g. at shutdown."""
        for subscriptions in list(self._by_type.values()):
            for subscription in list(subscriptions):
                subscription.close()

    def _remove(self, subscription: ChangeSubscription) -> None:
        subscriptions = self._by_type.get(subscription.entity_type)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._by_type[subscription.entity_type]
