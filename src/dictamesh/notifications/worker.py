"""Delivering the outbox: claim, send, record — with backoff, rate limits and fallback.

A :class:`DeliveryWorker` claims due messages (a lease per message, ``worker.lease_seconds``)
and sends each through its current channel, at most ``batch_size`` at once. Per try:

* sent → ``sent`` (the queue row goes);
* failed, and the channel has failed ``fallback_after`` times in a row, or permanently (a
  4xx, bad credentials) → the rule's next channel, at once (``fallback``);
* failed otherwise → retried after exponential backoff with full jitter (``initial * 2**n``,
  capped at ``backoff_max_seconds``), or after the receiver's ``Retry-After`` — which also
  pauses the whole channel that long;
* ``max_attempts`` tries over all channels, or a permanent failure on the last channel →
  ``dead`` (``dictamesh notify retry ID`` puts it back).

Each channel has a token bucket (``rate_per_second``, ``burst``): a message that would wait
longer than a third of its lease is handed back unsent, due when a token is free, so no
lease runs out while waiting. A digest whose window closed is rendered from its items first.

Delivery is at least once: a node that dies after the receiver accepted a message but before
``sent`` was written leaves it to be sent again when its lease expires. Every try carries the
message's stable id (``Message-ID``, ``Idempotency-Key``, PagerDuty's ``dedup_key``), so a
receiver that remembers ids drops the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from dictamesh.core.notification_config import NotificationRule
from dictamesh.core.settings import NotificationWorkerSettings
from dictamesh.notifications.channels.base import Channel, DeliveryError
from dictamesh.notifications.metrics import NotificationMetrics
from dictamesh.notifications.recipients import Directory
from dictamesh.notifications.store import (
    Attempt,
    Claimed,
    LeaseLost,
    NotificationRecord,
    NotificationStatus,
    NotificationStore,
)
from dictamesh.notifications.templates import Rendered

__all__ = ["DRAIN_SECONDS", "DeliveryWorker", "TokenBucket", "backoff_seconds"]

#: how long a stopping worker lets the sends in flight finish
DRAIN_SECONDS = 10.0

log = logging.getLogger("dictamesh.notifications")

DigestRenderer = Callable[[NotificationRule, str | None, Mapping[str, object]], Rendered]


def backoff_seconds(failures: int, settings: NotificationWorkerSettings) -> float:
    """Full jitter over ``initial * 2**(failures-1)``, capped (AWS's "full jitter")."""
    ceiling = min(
        settings.backoff_max_seconds,
        settings.backoff_initial_seconds * (2 ** max(failures - 1, 0)),
    )
    return random.uniform(ceiling / 2, ceiling)


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved; ``pause`` stops it for a while
    (a receiver's ``Retry-After``)."""

    rate: float
    burst: int
    tokens: float = 0.0
    updated: float = 0.0
    paused_until: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.updated = time.monotonic()

    def reserve(self) -> float:
        """Take a token; the seconds to wait before using it (0: now)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1
        wait = 0.0 if self.tokens >= 0 else -self.tokens / self.rate
        return max(wait, self.paused_until - now)

    def give_back(self) -> None:
        self.tokens = min(self.burst, self.tokens + 1)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)


class DeliveryWorker:
    def __init__(
        self,
        store: NotificationStore,
        channels: Mapping[str, Channel],
        *,
        directory: Directory,
        rules: Mapping[str, NotificationRule],
        render_digest: DigestRenderer,
        settings: NotificationWorkerSettings,
        node: str,
        metrics: NotificationMetrics | None = None,
        send_timeout: Mapping[str, float] | None = None,
        rates: Mapping[str, tuple[float, int]] | None = None,
        max_in_flight: Mapping[str, int] | None = None,
    ) -> None:
        self.store = store
        self.channels = dict(channels)
        self.directory = directory
        self.rules = dict(rules)
        self.render_digest = render_digest
        self.settings = settings
        self.node = node
        #: this process's lease owner (a restart is a new owner; see ``release_previous``)
        self.owner = f"{node}/{uuid.uuid4().hex[:12]}"
        self.metrics = metrics
        self._timeouts = dict(send_timeout or {})
        self._buckets = {
            name: TokenBucket(rate, burst) for name, (rate, burst) in (rates or {}).items()
        }
        self._slots = {name: asyncio.Semaphore(n) for name, n in (max_in_flight or {}).items()}
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.failed = 0

    def wake(self) -> None:
        """Look for due messages now (a rule enqueued some, an operator retried one)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Claim and deliver until ``stop`` is set (or cancelled). On ``stop`` it claims no
        more, lets the sends in flight finish (at most ``DRAIN_SECONDS``, then they are
        cancelled: their messages are sent again later), and gives its leases back."""
        stop = stop or asyncio.Event()
        watcher = asyncio.create_task(self._wake_on(stop))
        await self.store.release_previous(self.node, self.owner)
        try:
            while not stop.is_set():
                # claim again once half the batch is done: fewer, larger claims (and result
                # commits) than one per finished message
                room = self.settings.batch_size - len(self._in_flight)
                if room < self.settings.batch_size // 2:
                    room = 0
                claimed = (
                    await self.store.claim_records(
                        self.owner, lease_seconds=self.settings.lease_seconds, limit=room
                    )
                    if room > 0
                    else []
                )
                for item in claimed:
                    task = asyncio.create_task(self._deliver_safely(item))
                    self._in_flight.add(task)
                    task.add_done_callback(self._done)
                if claimed and len(claimed) == room:
                    continue  # more may be due (or the batch is full: then room is 0)
                await self._idle()
        finally:
            watcher.cancel()
            if self._in_flight and stop.is_set():
                await asyncio.wait(list(self._in_flight), timeout=DRAIN_SECONDS)
            for task in list(self._in_flight):
                task.cancel()
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
            try:
                await asyncio.shield(self.store.release(self.owner))
            except Exception:  # the database may be gone on shutdown: leases expire then
                log.debug("could not release notification leases", exc_info=True)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if len(self._in_flight) <= self.settings.batch_size // 2:
            self._wake.set()

    async def _idle(self) -> None:
        # cleared after waking, not before: a wake-up that came meanwhile is not lost
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval_seconds)
        self._wake.clear()

    # --- one message ----------------------------------------------------------------------

    async def _deliver_safely(self, claimed: NotificationRecord) -> None:
        try:
            await self.deliver(claimed)
        except LeaseLost:
            log.info("notification %s was taken over by another node", claimed.id)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database failed: the lease expires and it is tried again
            log.warning("delivering notification %s failed", claimed.id, exc_info=True)

    async def deliver(self, claimed_record: NotificationRecord) -> None:
        """Send one claimed message (``claim_records`` marked it ``sending``) and record
        the result."""
        claimed = claimed_record.claimed()
        record: NotificationRecord | None = claimed_record
        if (
            claimed_record.kind == "digest"
            and claimed_record.status is NotificationStatus.COLLECTING
        ):
            record = await self._close_digest(claimed, claimed_record.rule)
        if record is None:
            return
        name = record.channel
        bucket = self._buckets.get(name)
        if bucket is not None:
            wait = bucket.reserve()
            if wait > self.settings.lease_seconds / 3:
                bucket.give_back()
                until = self.store.database.now() + timedelta(seconds=wait)
                await self.store.postpone(claimed, self.owner, until)
                return
            if wait > 0:
                await asyncio.sleep(wait)
        channel = self.channels.get(name)
        started = time.perf_counter()
        try:
            if channel is None:
                raise DeliveryError(f"channel {name!r} is not configured", permanent=True)
            address = self.directory.address(record.recipient, channel.address_field)
            if address is None and not (
                channel.address_field is None and record.recipient.startswith("channel:")
            ):
                raise DeliveryError(
                    f"{record.recipient} has no {channel.address_field} address", permanent=True
                )
            message = record.message(address=address if channel.address_field else None)
            slot = self._slots.get(name) or contextlib.nullcontext()
            async with slot:
                started = time.perf_counter()  # the try, not the wait for a slot
                # asyncio.timeout, not wait_for: no extra task per send
                async with asyncio.timeout(self._timeouts.get(name, 30.0) * 1.5):
                    result = await channel.send(message)
        except Exception as exc:
            await self._failed(claimed, record, exc, time.perf_counter() - started)
            return
        elapsed = time.perf_counter() - started
        await self.store.finish(
            claimed,
            self.owner,
            Attempt(
                channel=name,
                outcome="sent",
                node=self.node,
                duration_ms=elapsed * 1000,
                provider_message_id=result.provider_message_id,
            ),
        )
        self.sent += 1
        if self.metrics is not None:
            self.metrics.sent.labels(name, "sent").inc()
            since = record.occurred_at or record.created_at
            lag = (self.store.database.now() - since).total_seconds()
            self.metrics.delivery.labels(name).observe(max(lag, 0.0))

    async def _close_digest(self, claimed: Claimed, rule_name: str) -> NotificationRecord | None:
        """Render a digest whose window closed from its items (``None``: it had none)."""
        rule = self.rules.get(rule_name)

        def render(
            digest: NotificationRecord, items: list[dict[str, object]]
        ) -> tuple[str, str, str | None]:
            context = {
                "rule": digest.rule,
                "priority": digest.priority.value,
                "recipient": digest.recipient,
                "tenant_id": digest.tenant_id,
                "count": len(items),
                "items": items,
                "event": items[-1] if items else {},
                "mesh_event": None,
            }
            if rule is None:  # the rule was removed since: a plain digest
                return (f"{len(items)} events for rule {digest.rule}", "", None)
            out = self.render_digest(rule, digest.locale, context)
            return out.subject, out.text, out.html

        return await self.store.close_digest(claimed, self.owner, render=render)

    async def _failed(
        self, claimed: Claimed, record: NotificationRecord, exc: BaseException, elapsed: float
    ) -> None:
        name = record.channel
        if isinstance(exc, DeliveryError):
            reason, permanent, retry_after, status = (
                exc.reason,
                exc.permanent,
                exc.retry_after,
                exc.status,
            )
        elif isinstance(exc, TimeoutError):
            reason, permanent, retry_after, status = "timed out", False, None, None
        else:
            reason = f"{type(exc).__name__}: {exc}"[:500]
            permanent, retry_after, status = False, None, None
        if retry_after is not None and name in self._buckets:
            self._buckets[name].pause(retry_after)
        attempts = record.attempts + 1
        failures = record.channel_failures + 1
        has_next = record.channel_index + 1 < len(record.channels)
        now = self.store.database.now()
        channel_index: int | None = None
        if attempts >= self.settings.max_attempts or (permanent and not has_next):
            outcome, next_at = "dead", None
        elif has_next and (permanent or failures >= self.settings.fallback_after):
            outcome, next_at = "fallback", now
            channel_index = record.channel_index + 1
        else:
            delay = backoff_seconds(failures, self.settings)
            if retry_after is not None:
                delay = max(retry_after, 0.0)
            outcome, next_at = "failed", now + timedelta(seconds=delay)
        await self.store.finish(
            claimed,
            self.owner,
            Attempt(
                channel=name,
                outcome=outcome,
                node=self.node,
                duration_ms=elapsed * 1000,
                error=reason,
                status_code=status,
                next_attempt_at=next_at,
            ),
            channel_index=channel_index,
            next_channel=record.channels[channel_index] if channel_index is not None else None,
        )
        self.failed += 1
        if self.metrics is not None:
            self.metrics.sent.labels(name, outcome).inc()
        if outcome == "dead":
            log.warning("notification %s is dead after %d tries: %s", record.id, attempts, reason)
