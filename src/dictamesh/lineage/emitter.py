"""Hands OpenLineage events to a transport without ever blocking the event loop.

openlineage-python's transports are synchronous (``requests``, a flushing Kafka producer,
file writes): they run in one background thread that drains a bounded queue. When the queue
is full (the receiver is slow or down) a new event is dropped and counted rather than making
capture or ingest wait; a transport error is logged once per outage and counted.

Example::

    emitter = LineageEmitter(transport, queue_size=1000)
    emitter.start()
    emitter.emit(event)            # never blocks; False if dropped
    await emitter.aclose(timeout=5)
    emitter.stats.emitted, emitter.stats.failed, emitter.stats.dropped
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from openlineage.client.transport import Transport
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["EmitterCollector", "EmitterStats", "LineageEmitter"]

log = logging.getLogger("dictamesh.lineage")

#: how often an idle drain thread checks whether the emitter is closing
_IDLE_WAKE = 0.25


@dataclass(slots=True)
class EmitterStats:
    """Counters since the emitter was made (``emitted``/``failed`` written by the drain
    thread; ``dropped`` by the caller, and by the thread only once the emitter is closing)."""

    #: events the transport accepted
    emitted: int = 0
    #: events the transport failed to deliver (error logged)
    failed: int = 0
    #: events dropped because the queue was full, or left when closing timed out
    dropped: int = 0


class LineageEmitter:
    def __init__(self, transport: Transport, *, queue_size: int = 1_000) -> None:
        self.transport = transport
        self.stats = EmitterStats()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._abandon = threading.Event()
        self._failing = False

    @property
    def pending(self) -> int:
        """Events waiting for the transport."""
        return self._queue.qsize()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._drain, name="dictamesh-openlineage", daemon=True
            )
            self._thread.start()

    def emit(self, event: Any) -> bool:
        """Queue ``event``; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.stats.dropped += 1
            return False
        return True

    async def aclose(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (for at most ``timeout`` seconds; the rest is dropped and
        counted), then close the transport."""
        thread = self._thread
        if thread is None:
            return
        self._closing.set()  # the thread ends once the queue is empty
        await asyncio.to_thread(thread.join, timeout)
        if thread.is_alive():
            self._abandon.set()  # the thread drops the rest and ends after its current send
            log.warning(
                "openlineage: the %s transport is still sending at shutdown; %d queued events"
                " are dropped",
                self.transport.kind,
                self.pending,
            )
        else:
            await asyncio.to_thread(self._close_transport, timeout)
        self._thread = None

    def _close_transport(self, timeout: float) -> None:
        try:
            self.transport.close(timeout)
        except Exception as exc:  # closing must not fail a node's stop
            log.warning(
                "openlineage: closing the %s transport failed: %r", self.transport.kind, exc
            )

    def _drain(self) -> None:
        while True:
            try:
                event = self._queue.get(timeout=_IDLE_WAKE)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            if self._abandon.is_set():
                self.stats.dropped += 1
                continue
            try:
                self.transport.emit(event)
            except Exception as exc:
                self.stats.failed += 1
                if not self._failing:  # once per outage, not once per event
                    log.warning("openlineage: %s transport failed: %r", self.transport.kind, exc)
                    self._failing = True
            else:
                self.stats.emitted += 1
                if self._failing:
                    log.info("openlineage: %s transport delivers again", self.transport.kind)
                    self._failing = False


class EmitterCollector(Collector):
    """``dictamesh_openlineage_events_{emitted,failed,dropped}_total`` and the queue depth."""

    def __init__(self, emitter: LineageEmitter) -> None:
        self.emitter = emitter

    def collect(self) -> Iterator[Any]:
        stats = self.emitter.stats
        for name, value, text in (
            ("emitted", stats.emitted, "OpenLineage events the transport accepted."),
            ("failed", stats.failed, "OpenLineage events the transport failed to deliver."),
            ("dropped", stats.dropped, "OpenLineage events dropped: queue full or shutdown."),
        ):
            family = CounterMetricFamily(f"dictamesh_openlineage_events_{name}", text)
            family.add_metric([], value)
            yield family
        depth = GaugeMetricFamily(
            "dictamesh_openlineage_queue_depth", "OpenLineage events waiting for the transport."
        )
        depth.add_metric([], self.emitter.pending)
        yield depth
