"""Leader election: run a coroutine only while this process holds a named lease.

:class:`LeaderElector` tries to acquire the lease every ``retry_seconds``; once it holds
it, it starts the work and renews every third of ``lease_seconds``. When a renewal answers
"lost" (another holder has the lease) the work is cancelled at once; when renewals fail
(database unreachable) it is cancelled once a third of the lease is left, *before* the
lease can expire and another node start, so two leaders never run at the same time. Then
the elector goes back to trying. On a clean stop it releases the lease, so a successor
need not wait for the expiry.

Example::

    elector = LeaderElector(LeaseStore(database), "capture:crm", holder="node-1/4711",
                            lease_seconds=6, retry_seconds=1)
    await elector.run(lambda lease: capture_forever(), stop=stop_event)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from dictamesh.cluster.leases import Lease, LeaseBackend

__all__ = ["LeaderElector", "LeadershipListener"]

log = logging.getLogger(__name__)

#: told ``True`` when this process becomes the leader, ``False`` when it stops being it
LeadershipListener = Callable[[bool], None]
#: the leader's work, given the lease it runs under (its fencing token)
Work = Callable[[Lease], Coroutine[Any, Any, None]]

_RELEASE_TIMEOUT = 5.0

T = TypeVar("T")


class LeaderElector:
    def __init__(
        self,
        backend: LeaseBackend,
        name: str,
        *,
        holder: str,
        lease_seconds: float,
        retry_seconds: float,
        listener: LeadershipListener | None = None,
    ) -> None:
        if not (retry_seconds > 0 and lease_seconds > 0):
            raise ValueError("lease_seconds and retry_seconds must be positive")
        self.backend = backend
        self.name = name
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.retry_seconds = retry_seconds
        self._listener = listener
        #: the lease held now (None: not the leader)
        self.lease: Lease | None = None

    @property
    def is_leader(self) -> bool:
        return self.lease is not None

    async def run(self, work: Work, stop: asyncio.Event | None = None) -> None:
        """Lead whenever possible until ``stop`` is set (or the work returns by itself).

        An exception of the work is raised here after the lease is released, so whoever
        supervises this restarts it with its backoff while another node may lead.
        """
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            lease = await self._acquire()
            if lease is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry_seconds)
                continue
            if await self._lead(lease, started, work, stop):
                return

    async def _acquire(self) -> Lease | None:
        try:
            return await self.backend.acquire(self.name, self.holder, self.lease_seconds)
        except Exception as exc:  # the database is down: try again at the next interval
            log.warning("%s: cannot try to lead %s: %r", self.holder, self.name, exc)
            return None

    async def _lead(self, lease: Lease, started: float, work: Work, stop: asyncio.Event) -> bool:
        """Run ``work`` under ``lease``; True when the elector is done (stop, work ended)."""
        self._changed(lease)
        log.info("%s leads %s (token %d)", self.holder, self.name, lease.token)
        working = asyncio.create_task(work(lease), name=f"leader:{self.name}")
        keeping = asyncio.create_task(self._keep(lease, started), name=f"lease:{self.name}")
        stopping = asyncio.create_task(stop.wait())
        lost = False
        try:
            await asyncio.wait({working, keeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
            lost = keeping.done() and not working.done()
            if lost:
                log.warning(
                    "%s lost %s (token %d): stepping down", self.holder, self.name, lease.token
                )
            for task in (working, keeping, stopping):
                task.cancel()
            await asyncio.gather(keeping, stopping, return_exceptions=True)
            with contextlib.suppress(asyncio.CancelledError):
                await working
            return not lost
        finally:
            # also on our own cancellation: stop the work before anyone else can lead
            for task in (working, keeping, stopping):
                task.cancel()
            await asyncio.gather(working, keeping, stopping, return_exceptions=True)
            self._changed(None)
            if not lost:
                await self._release(lease)

    async def _keep(self, lease: Lease, started: float) -> None:
        """Renew until the lease is lost, or no renewal succeeded in time; then return."""
        loop = asyncio.get_running_loop()
        interval = self.lease_seconds / 3
        # step down with a third of the lease to spare: the work has that long to stop
        deadline = started + self.lease_seconds - interval
        wait = interval
        while True:
            await asyncio.sleep(max(0.0, min(wait, deadline - loop.time())))
            attempt = loop.time()
            if attempt >= deadline:
                log.warning("%s: no renewal of %s succeeded in time", self.holder, self.name)
                return
            try:
                renewed = await _bounded(
                    self.backend.renew(lease, self.lease_seconds), deadline - attempt
                )
            except TimeoutError:
                return
            except Exception as exc:  # try again soon, until the deadline
                log.warning("%s: renewing %s failed: %r", self.holder, self.name, exc)
                wait = min(self.retry_seconds, interval)
                continue
            if not renewed:
                return
            deadline, wait = attempt + self.lease_seconds - interval, interval

    async def _release(self, lease: Lease) -> None:
        try:
            await _bounded(self.backend.release(lease), _RELEASE_TIMEOUT)
        except Exception as exc:  # it expires by itself
            log.warning("%s: releasing %s failed: %r", self.holder, self.name, exc)

    def _changed(self, lease: Lease | None) -> None:
        was, self.lease = self.lease is not None, lease
        if self._listener is not None and was != (lease is not None):
            self._listener(lease is not None)


#: calls given up on (a database that does not answer): kept referenced until they end
_abandoned: set[asyncio.Task[Any]] = set()


async def _bounded(call: Coroutine[Any, Any, T], seconds: float) -> T:
    """``await call``, but give up after ``seconds`` (``TimeoutError``) *without waiting for
    it to wind down*: a database driver stuck in a lock wait may not honour cancellation
    until the wait ends, and stepping down must not wait for that."""
    task = asyncio.ensure_future(call)
    try:
        done, _ = await asyncio.wait({task}, timeout=max(0.0, seconds))
    except asyncio.CancelledError:
        _abandon(task)
        raise
    if not done:
        _abandon(task)
        raise TimeoutError
    return task.result()


def _abandon(task: asyncio.Task[Any]) -> None:
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_forget)


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failure of a call given up on is not news
