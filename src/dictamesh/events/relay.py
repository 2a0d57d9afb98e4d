"""EventRelay: JSON events published in the background, in order, best effort.

For events that tell what already happened and is stored elsewhere (a breaker's change, a
saga's transition): whoever offers one never waits for the bus, and a bus that is down is
logged and counted, never raised. A full queue drops the oldest event.

Example::

    relay = EventRelay(bus, what="saga events")
    relay.offer("system.saga.create_invoice.started", key=saga_id, body={...})
    task = asyncio.create_task(relay.run())      # until cancelled; flush() to drain now
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dictamesh.events.bus import EventBus

__all__ = ["FLUSH_ON_CLOSE_SECONDS", "EventRelay"]

log = logging.getLogger("dictamesh.events")

#: how long closing waits for the queued events to go out (``flush_on_close``)
FLUSH_ON_CLOSE_SECONDS = 2.0

_JSON = {"content-type": b"application/json"}


@dataclass(frozen=True, slots=True)
class _Queued:
    topic: str
    key: str | None
    value: bytes
    headers: Mapping[str, bytes]


class EventRelay:
    def __init__(self, bus: EventBus, *, what: str = "events", max_queue: int = 10_000) -> None:
        self.bus = bus
        self.what = what
        self._queue: deque[_Queued] = deque(maxlen=max_queue)
        self._ready = asyncio.Event()
        self.published = 0
        self.dropped = 0
        self.failed = 0

    @property
    def pending(self) -> int:
        return len(self._queue)

    def offer(
        self,
        topic: str,
        *,
        key: str | None,
        body: Mapping[str, Any],
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        """Queue one event; never blocks."""
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1  # deque drops the oldest; newer state matters more
        value = json.dumps(body, separators=(",", ":")).encode()
        self._queue.append(_Queued(topic, key, value, {**_JSON, **(headers or {})}))
        self._ready.set()

    def clear(self) -> None:
        self._queue.clear()

    async def flush(self) -> int:
        """Publish everything queued now; returns how many were published."""
        sent = 0
        while self._queue:
            item = self._queue.popleft()
            try:
                await self.bus.publish(item.topic, item.value, key=item.key, headers=item.headers)
            except asyncio.CancelledError:
                self._queue.appendleft(item)
                raise
            except Exception:
                self.failed += 1
                log.warning("could not publish %s to %s", self.what, item.topic, exc_info=True)
                continue
            self.published += 1
            sent += 1
        return sent

    async def flush_on_close(self, timeout: float = FLUSH_ON_CLOSE_SECONDS) -> None:
        """What is queued still goes out, briefly: at most ``timeout`` seconds, and a bus
        that fails now is no reason to fail a shutdown."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), timeout)

    async def run(self) -> None:
        """Publish events as they come, until cancelled."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            await self.flush()
