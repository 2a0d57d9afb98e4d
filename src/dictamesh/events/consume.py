"""Running a consumer group: batches, commits after success, retries, dead letters.

:func:`run_consumer` polls batches, hands them to an async handler and commits only after
the handler succeeded. A failing batch is retried with exponential backoff and jitter, then
split and handled one message at a time to isolate the poison message(s); a message that
still fails ``max_attempts`` times goes to ``<topic>.dlq`` (with the error in its headers)
and is committed, so consumption moves on.

A *transient* failure (:func:`is_transient`: a dependency is unavailable, such as the
catalog database restarting) is no fault of the messages: the same call is retried with
backoff until it succeeds (or ``stop`` fires), without using up attempts, never
dead-lettered and never committed meanwhile. One warning is logged per outage.

Delivery is at-least-once: after a crash, a restart or a rebalance a handler may see a
message again (even one it already handled, if the commit did not happen). **Handlers must
be idempotent** (upsert by entity id and version, dedupe on ``event_id``...).

Example::

    async def index(messages: list[Message]) -> None:
        await search.bulk_upsert(serde.decode(m.value, m.headers) for m in messages)

    stop = asyncio.Event()
    stats = await run_consumer(bus, "search-indexer", ["customers.directus.entity_changed"],
                               index, serializer=JsonEventSerializer(), stop=stop)

    # or one event at a time:
    await consume_events(bus, "audit", topics, handle_event, stop=stop)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pydantic

from dictamesh.core.errors import (
    ConfigurationError,
    DictaMeshError,
    EventBusError,
    NotFoundError,
    SerializationError,
)
from dictamesh.core.models import ChangeEvent
from dictamesh.events.bus import Consumer, EventBus, Message, StartOffsets
from dictamesh.events.serde import JsonEventSerializer, Serializer
from dictamesh.events.topics import TopicSpec, dlq_topic
from dictamesh.observability.tracing import trace_batches

__all__ = [
    "DLQ_ATTEMPTS",
    "DLQ_ERROR",
    "DLQ_ERROR_TYPE",
    "DLQ_ORIGINAL_OFFSET",
    "DLQ_ORIGINAL_PARTITION",
    "DLQ_ORIGINAL_TOPIC",
    "BatchHandler",
    "ConsumerStats",
    "DeadLetterCallback",
    "backoff_delay",
    "consume_events",
    "dead_letter_headers",
    "is_transient",
    "per_event",
    "per_message",
    "run_consumer",
]

log = logging.getLogger(__name__)

DLQ_ERROR = "dlq-error"
DLQ_ERROR_TYPE = "dlq-error-type"
DLQ_ORIGINAL_TOPIC = "dlq-original-topic"
DLQ_ORIGINAL_PARTITION = "dlq-original-partition"
DLQ_ORIGINAL_OFFSET = "dlq-original-offset"
DLQ_ATTEMPTS = "dlq-attempts"
_MAX_ERROR_CHARS = 2000

BatchHandler = Callable[[list[Message]], Awaitable[None]]
"""``async (messages) -> None``; raising means none of the batch counts as handled."""

DeadLetterCallback = Callable[[Message, BaseException], Awaitable[None]]
"""Called after a message was published to its DLQ (e.g. to alert or count)."""


@dataclass(slots=True)
class ConsumerStats:
    """Counters of one :func:`run_consumer` run (live while it runs)."""

    #: messages received from the bus
    consumed: int = 0
    #: messages acknowledged, whether handled or dead-lettered
    committed: int = 0
    #: handler calls that re-handled messages after a failure (batch retries, the
    #: one-by-one pass of a failed batch, per-message retries)
    retried: int = 0
    #: messages published to a DLQ
    dead_lettered: int = 0
    #: batches received from the bus
    batches: int = 0
    #: handler calls that failed transiently (a dependency was down) and were retried
    transient_failures: int = 0
    #: tombstones (null values after deletes) committed without calling the handler
    tombstones: int = 0
    #: ``consumed`` and ``dead_lettered`` by (original) topic, for /metrics
    consumed_by_topic: Counter[str] = field(default_factory=Counter)
    dead_lettered_by_topic: Counter[str] = field(default_factory=Counter)


@runtime_checkable
class _CommitsMany(Protocol):
    async def commit_many(self, messages: Iterable[Message]) -> None: ...


class _Stopped(Exception):
    """The stop event fired mid-batch: leave the rest uncommitted (it is redelivered)."""


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _error_text(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def dead_letter_headers(message: Message, exc: BaseException, attempts: int) -> dict[str, bytes]:
    """The original headers plus the ``dlq-*`` ones describing why and where from."""
    headers = dict(message.headers)
    headers.update(
        {
            DLQ_ERROR: _error_text(exc).encode("utf-8", errors="replace"),
            DLQ_ERROR_TYPE: _error_type(exc).encode(),
            DLQ_ORIGINAL_TOPIC: message.topic.encode(),
            DLQ_ORIGINAL_PARTITION: str(message.partition).encode(),
            DLQ_ORIGINAL_OFFSET: str(message.offset).encode(),
            DLQ_ATTEMPTS: str(attempts).encode(),
        }
    )
    return headers


def is_transient(exc: BaseException) -> bool:
    """The default rule for failures that are no fault of the messages: a DictaMesh error
    meaning "unavailable, try again later" (HTTP 503: catalog database down, event bus,
    source unavailable or rate limited) or a built-in :class:`ConnectionError`."""
    if isinstance(exc, DictaMeshError):
        return exc.http_status == 503
    return isinstance(exc, ConnectionError)


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential,
    capped, with "equal jitter": half fixed so retries never bunch up at zero, half random
    so consumers that failed together do not retry in lockstep."""
    delay = min(cap, initial * 2.0 ** min(attempt - 1, 64))
    return delay / 2 + rng.uniform(0, delay / 2)


class _Runner:
    def __init__(
        self,
        bus: EventBus,
        handler: BatchHandler,
        *,
        serializer: Serializer | None,
        max_attempts: int,
        batch_attempts: int,
        backoff_initial: float,
        backoff_max: float,
        stop: asyncio.Event | None,
        on_dead_letter: DeadLetterCallback | None,
        stats: ConsumerStats,
        transient: Callable[[BaseException], bool],
        tombstones: bool = False,
    ) -> None:
        self.bus = bus
        self.tombstones = tombstones
        self.handler = handler
        self.transient = transient
        self.serializer = serializer
        self.max_attempts = max_attempts
        self.batch_attempts = batch_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stop = stop
        self.on_dead_letter = on_dead_letter
        self.stats = stats
        self._dlq_ready: set[str] = set()
        self._random = random.Random()

    async def _backoff(self, attempt: int) -> None:
        delay = backoff_delay(attempt, self.backoff_initial, self.backoff_max, self._random)
        if self.stop is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), delay)
        if self.stop.is_set():
            raise _Stopped

    async def _handle(self, messages: list[Message]) -> None:
        """Call the handler, again and again while it fails transiently (see the module
        docstring); any other error propagates to the attempt/DLQ logic."""
        failures = 0
        started = 0.0
        while True:
            try:
                await self.handler(messages)
            except Exception as exc:
                if not self.transient(exc):
                    raise
                failures += 1
                self.stats.transient_failures += 1
                if failures == 1:
                    started = time.monotonic()
                    log.warning(
                        "handler failed transiently on %s message(s) (%s: %s); retrying until"
                        " it recovers, nothing is committed meanwhile",
                        len(messages),
                        _error_type(exc),
                        _error_text(exc),
                    )
                await self._backoff(failures)
                self.stats.retried += 1
                continue
            if failures:
                log.warning(
                    "handler recovered after %s transient failure(s) in %.1fs",
                    failures,
                    time.monotonic() - started,
                )
            return

    def _check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise _Stopped

    async def _dead_letter(self, message: Message, exc: BaseException, attempts: int) -> None:
        topic = dlq_topic(message.topic)
        if topic not in self._dlq_ready:
            try:
                spec = TopicSpec(name=topic)
            except pydantic.ValidationError:
                spec = None  # a topic outside the naming scheme: let the broker decide
            if spec is not None:
                await self.bus.ensure_topic(spec)
            self._dlq_ready.add(topic)
        await self.bus.publish(
            topic,
            message.value,
            key=message.key,
            headers=dead_letter_headers(message, exc, attempts),
        )
        self.stats.dead_lettered += 1
        self.stats.dead_lettered_by_topic[message.topic] += 1
        log.warning(
            "dead-lettered %s[%s]@%s after %s attempt(s): %s: %s",
            message.topic,
            message.partition,
            message.offset,
            attempts,
            _error_type(exc),
            _error_text(exc),
        )
        if self.on_dead_letter is not None:
            try:
                await self.on_dead_letter(message, exc)
            except Exception:  # an observer must not stop consumption
                log.exception("on_dead_letter callback failed")

    async def _commit(
        self, consumer: Consumer, messages: Sequence[Message], newly_acked: int
    ) -> None:
        """Commit the last message per partition (which acks every earlier one)."""
        last: dict[tuple[str, int], Message] = {}
        for m in messages:
            tp = (m.topic, m.partition)
            if tp not in last or m.offset > last[tp].offset:
                last[tp] = m
        if isinstance(consumer, _CommitsMany):
            await consumer.commit_many(last.values())
        else:
            for m in last.values():
                await consumer.commit(m)
        self.stats.committed += newly_acked

    async def process(self, consumer: Consumer, batch: list[Message]) -> None:
        # Messages that can never succeed are dead-lettered up front, without the handler.
        # They are committed with the rest of the batch: committing a message acks every
        # earlier one of its partition, so nothing may be committed out of order.
        todo: list[Message] = []
        heads: set[tuple[str, int]] = set()
        for m in batch:
            if m.tombstone and not self.tombstones:
                # "this key is gone" (compacted topics, after a delete): no event to handle
                self.stats.tombstones += 1
                continue
            tp = (m.topic, m.partition)
            is_head = tp not in heads
            heads.add(tp)
            if is_head and m.delivery_count >= self.max_attempts:
                # Handed out max_attempts times and never committed: it likely crashes or
                # hangs the consumer, so retrying it here would only loop.
                err = EventBusError(
                    f"delivered {m.delivery_count} times without being committed (the consumer"
                    " stopped or crashed while handling it)"
                )
                await self._dead_letter(m, err, m.delivery_count)
                continue
            if self.serializer is not None and not m.tombstone:
                try:
                    # Avro values may carry a writer schema this process has not seen yet
                    # (another producer, a newer version): fetch it before the sync decode.
                    await self.serializer.resolve(m.value)
                    self.serializer.decode(m.value, m.headers)
                except (SerializationError, NotFoundError) as exc:
                    await self._dead_letter(m, exc, 0)
                    continue
            todo.append(m)

        # A redelivered batch (after a crash or rebalance) goes one by one straight away, so
        # each handled message is committed before the next one can take the consumer down.
        redelivered = any(m.delivery_count > 0 for m in todo)
        if todo and not redelivered and len(todo) > 1:
            for attempt in range(1, self.batch_attempts + 1):
                self._check_stop()
                try:
                    await self._handle(todo)
                except _Stopped:
                    raise
                except Exception as exc:
                    log.info("batch of %s failed (attempt %s): %r", len(todo), attempt, exc)
                    if attempt < self.batch_attempts:
                        await self._backoff(attempt)
                        self.stats.retried += 1
                    continue
                await self._commit(consumer, batch, len(batch))
                return
            self.stats.retried += len(todo)  # the one-by-one pass re-handles every message
        for m in todo:
            await self._one(consumer, m)
        if len(todo) < len(batch):
            # Acks the up-front dead letters and tombstones (the handled ones are committed).
            await self._commit(consumer, batch, len(batch) - len(todo))

    async def _one(self, consumer: Consumer, message: Message) -> None:
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            self._check_stop()
            try:
                await self._handle([message])
            except _Stopped:
                raise
            except Exception as exc:
                last = exc
                log.info(
                    "message %s[%s]@%s failed (attempt %s/%s): %r",
                    message.topic,
                    message.partition,
                    message.offset,
                    attempt,
                    self.max_attempts,
                    exc,
                )
                if attempt < self.max_attempts:
                    await self._backoff(attempt)
                    self.stats.retried += 1
                continue
            break
        else:
            assert last is not None
            await self._dead_letter(message, last, self.max_attempts)
        await self._commit(consumer, [message], 1)


async def _poll(
    consumer: Consumer, batch_size: int, wait: float, stop: asyncio.Event | None
) -> list[Message]:
    """Poll, returning early (empty) when ``stop`` fires."""
    if stop is None:
        return await consumer.poll(max_records=batch_size, timeout=wait)
    if stop.is_set():
        return []
    poll = asyncio.ensure_future(consumer.poll(max_records=batch_size, timeout=wait))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({poll, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not poll.done():
            # Nothing polled here is committed, so whatever the cancelled poll had fetched
            # is delivered again to the group.
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
    return poll.result() if not poll.cancelled() else []


async def run_consumer(
    bus: EventBus,
    group: str,
    topics: Sequence[str],
    handler: BatchHandler,
    *,
    serializer: Serializer | None = None,
    max_attempts: int = 5,
    backoff_initial: float = 0.05,
    backoff_max: float = 2.0,
    stop: asyncio.Event | None = None,
    batch_size: int = 100,
    on_dead_letter: DeadLetterCallback | None = None,
    batch_attempts: int = 2,
    poll_timeout: float = 1.0,
    stats: ConsumerStats | None = None,
    transient: Callable[[BaseException], bool] = is_transient,
    tombstones: bool = False,
    initial_offsets: StartOffsets | None = None,
) -> ConsumerStats:
    """Consume ``topics`` as ``group`` until ``stop`` is set (or the task is cancelled).

    ``handler`` gets each polled batch (at most ``batch_size``, in offset order per
    partition) and **must be idempotent**: delivery is at-least-once. After it returns, the
    last message of each partition is committed. If it raises, the batch is retried (up to
    ``batch_attempts`` times in all, with backoff), then handled one message at a time: each
    gets up to ``max_attempts`` tries with exponential backoff (``backoff_initial`` doubling
    up to ``backoff_max``, with jitter), and one that still fails is published to
    ``dlq_topic(topic)`` with the original key, value and headers plus ``dlq-error``,
    ``dlq-error-type``, ``dlq-original-topic``, ``dlq-original-partition``,
    ``dlq-original-offset`` and ``dlq-attempts``; then it is committed and consumption goes
    on. ``on_dead_letter(message, error)`` is awaited after each such publish.

    A handler error for which ``transient(error)`` is true (default :func:`is_transient`)
    does none of that: the same call is retried with the same backoff (capped at
    ``backoff_max``) until it succeeds or ``stop`` fires, and nothing is committed
    meanwhile, so an outage of the handler's database stalls consumption instead of
    emptying the topic into the DLQ.

    Tombstones (:attr:`Message.tombstone`: the null value a compacted topic gets after a
    delete) are committed without calling the handler, unless ``tombstones`` is true: then
    the handler gets them too (never decoded by ``serializer``), for a consumer that mirrors
    a compacted topic.

    With a ``serializer``, a message it cannot decode is dead-lettered at once (``dlq-attempts``
    0), without calling the handler: no retry fixes bad bytes. On buses that track
    deliveries (embedded), a message handed out ``max_attempts`` times without ever being
    committed (it keeps crashing the consumer) is dead-lettered without another attempt.

    Bus errors (poll, commit, DLQ publish) propagate: the run ends, nothing uncommitted is
    lost, and a supervisor may restart it. When ``stop`` fires mid-batch, the unfinished
    rest is left uncommitted and will be delivered again. Pass ``stats`` to watch the
    counters live; the same object is returned.

    Partitions the group never committed on start at the earliest retained message, or at
    ``initial_offsets`` (``{topic: {partition: offset}}``, e.g. ``bus.end_offsets(topics)``
    taken at process start) for a group that only wants what is new: see
    :meth:`EventBus.consumer <dictamesh.events.bus.EventBus.consumer>`.
    """
    if max_attempts < 1 or batch_attempts < 1:
        raise ConfigurationError("max_attempts and batch_attempts must be >= 1")
    if batch_size < 1:
        raise ConfigurationError("batch_size must be >= 1")
    if backoff_initial < 0 or backoff_max < 0:
        raise ConfigurationError("backoff delays must be >= 0")
    stats = stats if stats is not None else ConsumerStats()
    runner = _Runner(
        bus,
        trace_batches(handler, group),  # a consumer span per handler call
        serializer=serializer,
        max_attempts=max_attempts,
        batch_attempts=batch_attempts,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
        stop=stop,
        on_dead_letter=on_dead_letter,
        stats=stats,
        transient=transient,
        tombstones=tombstones,
    )
    # Only a group that asks passes the argument: bus plugins and wrappers written
    # before it existed keep working for every durable group.
    consumer = (
        bus.consumer(group, list(topics))
        if initial_offsets is None
        else bus.consumer(group, list(topics), initial_offsets=initial_offsets)
    )
    async with consumer:
        while stop is None or not stop.is_set():
            batch = await _poll(consumer, batch_size, poll_timeout, stop)
            if not batch:
                continue
            stats.batches += 1
            stats.consumed += len(batch)
            stats.consumed_by_topic.update(m.topic for m in batch)
            try:
                await runner.process(consumer, batch)
            except _Stopped:
                break
    return stats


def per_message(handler: Callable[[Message], Awaitable[Any]]) -> BatchHandler:
    """Adapt ``async (message) -> None`` to a batch handler (messages handled in order).

    If message *k* of a batch fails, messages before it are handled again on the retry:
    idempotence makes that harmless.
    """

    async def handle_batch(messages: list[Message]) -> None:
        for message in messages:
            await handler(message)

    return handle_batch


def per_event(
    handler: Callable[[ChangeEvent], Awaitable[Any]], serializer: Serializer | None = None
) -> BatchHandler:
    """Adapt ``async (event) -> None`` to a batch handler that decodes each message."""
    serde: Serializer = serializer if serializer is not None else JsonEventSerializer()

    async def handle_batch(messages: list[Message]) -> None:
        for message in messages:
            if not message.tombstone:  # run_consumer(tombstones=True) hands them on
                await handler(serde.decode(message.value, message.headers))

    return handle_batch


async def consume_events(
    bus: EventBus,
    group: str,
    topics: Sequence[str],
    handler: Callable[[ChangeEvent], Awaitable[Any]],
    *,
    serializer: Serializer | None = None,
    **options: Any,
) -> ConsumerStats:
    """:func:`run_consumer` for an ``async (event) -> None`` handler; undecodable messages
    go straight to the DLQ. ``options`` are :func:`run_consumer`'s keyword arguments."""
    serde: Serializer = serializer if serializer is not None else JsonEventSerializer()
    return await run_consumer(
        bus, group, topics, per_event(handler, serde), serializer=serde, **options
    )
