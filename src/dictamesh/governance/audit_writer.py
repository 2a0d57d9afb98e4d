"""Buffered audit writing: accesses are queued in memory and written in batches.

Every read of a classified field makes one :class:`~dictamesh.governance.audit.AuditEntry`;
writing each in its own transaction would cost a database round trip per field. The
:class:`AuditWriter` queues entries and one background task writes them with
:meth:`AuditLog.record <dictamesh.governance.audit.AuditLog.record>`, one transaction per
batch (per tenant within a batch), when ``batch_size`` entries are waiting or
``flush_interval`` seconds after the first one arrived — and on :meth:`aclose`, which drains
the queue before the node closes its catalog.

The queue is bounded (``max_pending``). A writer that cannot keep up (the catalog is down or
slow) makes callers of :meth:`submit` **wait** up to ``max_wait`` seconds for room: requests
slow down instead of losing their audit trail. Only after that wait are entries dropped —
counted in ``stats.dropped`` (``dictamesh_audit_entries_total{outcome="dropped"}``) and
logged; :meth:`submit` then returns False, and the enforcement layer withholds the
classified values it was about to serve (``governance.audit_on_overflow: deny``, the
default) or serves them unaudited (``drop``). A failed batch write is retried with backoff
and never dropped while the node runs.

Example::

    writer = AuditWriter(AuditLog(catalog), batch_size=500, flush_interval=1.0)
    writer.start()
    await writer.submit([entry])      # queued; True unless the queue stayed full
    await writer.flush()              # everything submitted so far is written
    await writer.aclose()             # drains, then stops
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from dictamesh.core.context import current_tenant
from dictamesh.governance.audit import AuditEntry

__all__ = ["AuditRecorder", "AuditWriter", "AuditWriterCollector", "AuditWriterStats"]

log = logging.getLogger("dictamesh.governance.audit")

#: how long :meth:`AuditWriter.aclose` keeps retrying a failing write before giving up
CLOSE_TIMEOUT_SECONDS = 10.0
_DROP_LOG_INTERVAL = 10.0


class AuditRecorder(Protocol):
    """What the writer writes to (:class:`~dictamesh.governance.audit.AuditLog`)."""

    async def record(self, entries: Sequence[AuditEntry]) -> int: ...


@dataclass
class AuditWriterStats:
    #: entries written to the audit log
    written: int = 0
    #: entries refused because the queue stayed full for ``max_wait`` seconds
    dropped: int = 0
    #: entries still queued when :meth:`AuditWriter.aclose` gave up on a failing database
    lost: int = 0
    #: transactions written (one per tenant per batch)
    batches: int = 0
    #: failed write attempts (each retried)
    failures: int = 0


class AuditWriter:
    """A bounded queue of audit entries and the task that writes them in batches."""

    def __init__(
        self,
        recorder: AuditRecorder,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_pending: int = 10_000,
        max_wait: float = 2.0,
        retry_max_seconds: float = 5.0,
    ) -> None:
        if batch_size < 1 or max_pending < batch_size:
            raise ValueError("need 1 <= batch_size <= max_pending")
        self._recorder = recorder
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.max_wait = max_wait
        self.retry_max_seconds = retry_max_seconds
        self.stats = AuditWriterStats()
        self._pending: deque[AuditEntry] = deque()
        self._submitted = 0  # entries ever queued
        self._done = 0  # entries written or given up
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._flushing = 0
        self._arrived = asyncio.Event()  # something is queued
        self._full = asyncio.Event()  # a batch is ready (or a flush/close wants one now)
        self._progress = asyncio.Condition()  # entries were written, room was made
        self._last_drop_log = 0.0

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the writing task (in the running event loop); idempotent."""
        if self.running:
            return
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")

    # --- producers ----------------------------------------------------------------------

    async def submit(self, entries: Sequence[AuditEntry]) -> bool:
        """Queue ``entries``; waits up to ``max_wait`` s for room. False: some were dropped."""
        if not entries:
            return True
        self.start()
        deadline = time.monotonic() + self.max_wait
        for i, entry in enumerate(entries):
            if len(self._pending) >= self.max_pending and not await self._room(deadline):
                self._dropped(len(entries) - i)
                return False
            self._queue(entry)
        return True

    def has_room(self, count: int) -> bool:
        """Whether ``count`` entries fit now (:meth:`submit` would not wait for them)."""
        return len(self._pending) + count <= self.max_pending

    def submit_nowait(self, entries: Sequence[AuditEntry]) -> bool:
        """Queue ``entries`` without waiting (for code that cannot await); False: dropped."""
        if not entries:
            return True
        if len(self._pending) + len(entries) > self.max_pending:
            self._dropped(len(entries))
            return False
        with contextlib.suppress(RuntimeError):  # no running loop: the next submit starts it
            self.start()
        for entry in entries:
            self._queue(entry)
        return True

    def _queue(self, entry: AuditEntry) -> None:
        self._pending.append(entry)
        self._submitted += 1
        self._arrived.set()
        if len(self._pending) >= self.batch_size:
            self._full.set()

    async def _room(self, deadline: float) -> bool:
        async with self._progress:
            while len(self._pending) >= self.max_pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closing:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), remaining)
        return True

    def _dropped(self, count: int) -> None:
        self.stats.dropped += count
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_INTERVAL:
            self._last_drop_log = now
            log.error(
                "audit queue full (%d entries) for %.1f s: %d entries dropped so far",
                self.max_pending,
                self.max_wait,
                self.stats.dropped,
            )

    # --- flushing -----------------------------------------------------------------------

    async def flush(self) -> None:
        """Return when every entry submitted before the call is written (or given up)."""
        target = self._submitted
        if self._done >= target:
            return
        self.start()
        self._flushing += 1
        self._full.set()
        try:
            async with self._progress:
                await self._progress.wait_for(lambda: self._done >= target or not self.running)
        finally:
            self._flushing -= 1

    async def aclose(self) -> None:
        """Write what is queued, then stop (a failing database is retried for a while)."""
        self._closing = True
        self._full.set()
        self._arrived.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), CLOSE_TIMEOUT_SECONDS)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._pending:
            self.stats.lost += len(self._pending)
            log.error("audit writer stopped with %d entries unwritten", len(self._pending))
            self._done += len(self._pending)
            self._pending.clear()
        async with self._progress:
            self._progress.notify_all()

    # --- the writing task -----------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            if len(self._pending) < self.batch_size and not (self._closing or self._flushing):
                # the first entry of a batch waits at most flush_interval for company
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.flush_interval)
            size = min(self.batch_size, len(self._pending))
            batch = [self._pending.popleft() for _ in range(size)]
            await self._write(batch)
            self._done += len(batch)
            async with self._progress:
                self._progress.notify_all()

    async def _write(self, batch: list[AuditEntry]) -> None:
        by_tenant: dict[str | None, list[AuditEntry]] = {}
        for entry in batch:
            by_tenant.setdefault(entry.tenant, []).append(entry)
        for tenant, entries in by_tenant.items():
            await self._write_tenant(tenant, entries)

    async def _write_tenant(self, tenant: str | None, entries: list[AuditEntry]) -> None:
        delay = 0.05
        started = time.monotonic()
        while True:
            # the catalog scopes writes (row-level security) to the context's tenant
            token = current_tenant.set(tenant)
            try:
                await self._recorder.record(entries)
            except Exception:
                self.stats.failures += 1
                if self._closing and time.monotonic() - started > CLOSE_TIMEOUT_SECONDS / 2:
                    self.stats.lost += len(entries)
                    log.exception("audit write failed at shutdown: %d entries lost", len(entries))
                    return
                log.warning("audit write failed; retrying in %.2f s", delay, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_seconds)
                continue
            finally:
                current_tenant.reset(token)
            self.stats.written += len(entries)
            self.stats.batches += 1
            return


class AuditWriterCollector:
    """Prometheus view of an :class:`AuditWriter` (register it in a node's registry)."""

    def __init__(self, writer: AuditWriter, withheld: Callable[[], int] | None = None) -> None:
        self._writer = writer
        self._withheld = withheld

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        stats = self._writer.stats
        entries = CounterMetricFamily(
            "dictamesh_audit_entries",
            "Audit entries by outcome: written, dropped (queue full), lost (at shutdown).",
            labels=["outcome"],
        )
        entries.add_metric(["written"], stats.written)
        entries.add_metric(["dropped"], stats.dropped)
        entries.add_metric(["lost"], stats.lost)
        yield entries
        yield CounterMetricFamily(
            "dictamesh_audit_batches", "Audit transactions written.", value=stats.batches
        )
        yield CounterMetricFamily(
            "dictamesh_audit_write_failures", "Failed (retried) audit writes.", value=stats.failures
        )
        yield GaugeMetricFamily(
            "dictamesh_audit_queue_entries", "Audit entries waiting to be written.",
            value=self._writer.pending,
        )  # fmt: skip
        if self._withheld is not None:
            yield CounterMetricFamily(
                "dictamesh_governance_withheld_values",
                "Classified values withheld because their audit entry could not be queued.",
                value=self._withheld(),
            )
