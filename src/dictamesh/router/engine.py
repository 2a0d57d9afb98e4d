"""The router's batch handler: decode, select rules, transform, write, dead-letter.

:meth:`Router.handle` is a :func:`~dictamesh.events.consume.run_consumer` batch handler,
so the consumer loop (batches, retries with backoff, commits, the consumer span per batch)
is the bus's own. It returns only when every record of the batch is acknowledged by the
bus — every target write and every dead letter — so the source offsets are committed only
then (at-least-once). If any write fails the batch fails and is routed again (targets may
see a record twice; consumers dedupe on ``event_id``).

Order: each target gets the batch's records in the batch's order, keyed by the source
record's key (the entity id): one entity's changes stay in order on one partition of every
target. On a bus that can queue records ahead of their acknowledgement (Kafka:
``KafkaBus.enqueue_many``; the idempotent producer keeps the order across retries), the
records of every :data:`QUEUE_EVERY` source messages are handed to the producer, targets
interleaved in message order, while the rest of the batch is transformed; elsewhere (the
embedded bus) one ``publish_many`` per target at the end of the batch.

An event that cannot be read, that belongs to another tenant than its topic, or that a
rule's transform fails on goes to the dead-letter topic (``router.dead_letter_topic``,
default ``<source topic>.dlq``) with ``dlq-*`` error headers and ``router-rule``; the
other rules and events of the batch go on.

Example::

    router = Router(bus, rules, codec=RouterCodec(serializer), metrics=metrics)
    await run_consumer(bus, "dictamesh-router", topics, router.handle, stop=stop)
    router.replace(new_rules)            # the next batch runs the new set
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from dictamesh.core.errors import NotFoundError, PermissionDenied, SerializationError
from dictamesh.events.bus import EventBus, Message
from dictamesh.events.consume import dead_letter_headers
from dictamesh.events.topics import TopicSpec, dlq_topic
from dictamesh.observability.tracing import SpanKind, current_traceparent, span
from dictamesh.router.codec import RouterCodec
from dictamesh.router.metrics import RouterMetrics
from dictamesh.router.rules import RuleSet
from dictamesh.router.transforms import HEADER_RULE
from dictamesh.tenancy import event_for_topic

__all__ = ["Router", "RouterStats"]

Record = tuple[bytes, str | None, Mapping[str, bytes]]
TopicSpecs = Callable[[str], TopicSpec]


#: with a bus that can queue records ahead of their acknowledgement (Kafka), the records
#: of every this many source messages are handed to the producer while the rest of the
#: batch is still transformed
QUEUE_EVERY = 100


@runtime_checkable
class _PublishesMany(Protocol):
    async def publish_many(
        self, topic: str, records: list[Record]
    ) -> list[object]: ...  # pragma: no cover


@runtime_checkable
class _QueuesMany(Protocol):
    async def enqueue_many(
        self, records: list[tuple[str, bytes, str | None, Mapping[str, bytes]]]
    ) -> asyncio.Future[Any]: ...  # pragma: no cover


class RouterStats:
    """What the router did (live), beside the Prometheus metrics."""

    def __init__(self) -> None:
        self.routed: Counter[tuple[str, str]] = Counter()
        self.dropped: Counter[str] = Counter()
        self.dead_lettered: Counter[tuple[str, str]] = Counter()
        self.unmatched = 0
        self.batches = 0


class Router:
    def __init__(
        self,
        bus: EventBus,
        rules: RuleSet,
        *,
        codec: RouterCodec | None = None,
        topic_spec: TopicSpecs = lambda name: TopicSpec(name=name),
        dead_letter_topic: str | None = None,
        strict_tenants: bool = False,
        metrics: RouterMetrics | None = None,
    ) -> None:
        self.bus = bus
        self.codec = codec or RouterCodec()
        self.topic_spec = topic_spec
        self.dead_letter_topic = dead_letter_topic
        self.strict_tenants = strict_tenants
        self.metrics = metrics
        self.stats = RouterStats()
        self._ensured: set[str] = set()
        self.rules = rules
        if metrics is not None:
            metrics.rule_set(rules.version, ((r.name, r.targets) for r in rules.rules))

    def replace(self, rules: RuleSet) -> None:
        """Run ``rules`` from the next batch on (a batch runs one rule set throughout)."""
        self.rules = rules
        if self.metrics is not None:
            self.metrics.rule_set(rules.version, ((r.name, r.targets) for r in rules.rules))

    async def ensure_targets(self, rules: RuleSet | None = None) -> None:
        """Create the target topics of ``rules`` (default: the running set)."""
        for target in (rules or self.rules).targets:
            await self._ensure(target)

    async def _ensure(self, topic: str) -> None:
        if topic not in self._ensured:
            await self.bus.ensure_topic(self.topic_spec(topic))
            self._ensured.add(topic)

    async def handle(self, batch: list[Message]) -> None:
        started = time.perf_counter()
        rules = self.rules
        out: dict[str, list[Record]] = {}
        dead: dict[str, list[Record]] = {}
        routed: Counter[tuple[str, str]] = Counter()
        dropped: Counter[str] = Counter()
        dead_count: Counter[tuple[str, str]] = Counter()
        unmatched = 0
        queues = isinstance(self.bus, _QueuesMany)
        pending: list[asyncio.Future[Any]] = []
        ordered: list[tuple[str, bytes, str | None, Mapping[str, bytes]]] = []
        try:
            for index, message in enumerate(batch, 1):
                if queues and out and index % QUEUE_EVERY == 0:
                    # the producer sends these while the rest of the batch is transformed
                    pending += await self._queue(out, ordered, pending)
                    out, ordered = {}, []

                try:
                    event = event_for_topic(
                        await self.codec.decode(message), message.topic, strict=self.strict_tenants
                    )
                except (SerializationError, NotFoundError, PermissionDenied) as exc:
                    target = self._dead_letter(dead, message, exc, "")
                    dead_count[("", target)] += 1
                    continue
                fired = rules.select(event, message.topic)
                if not fired:
                    unmatched += 1
                    continue
                key = message.key if message.key is not None else event.key
                for rule in fired:
                    if rule.transform is None:  # a drop rule
                        dropped[rule.name] += 1
                        continue
                    try:
                        record = rule.transform.apply(event, message)
                    except Exception as exc:  # TransformError, or a bug in a step: the DLQ
                        target = self._dead_letter(dead, message, exc, rule.name)
                        dead_count[(rule.name, target)] += 1
                        continue
                    for target in rule.targets:
                        out.setdefault(target, []).append((record.value, key, record.headers))
                        routed[(rule.name, target)] += 1
                        if queues:  # in message order across targets (see _queue)
                            ordered.append((target, record.value, key, record.headers))
        except BaseException:
            # nothing of this batch may still be in flight when it is routed again
            await asyncio.gather(*pending, return_exceptions=True)
            raise
        if queues:
            pending += await self._queue(out, ordered, pending)
            await self._write({}, dead, pending)
        else:
            await self._write(out, dead)
        # counted once the batch is acknowledged (a failed batch is routed again)
        stats = self.stats
        stats.batches += 1
        stats.routed.update(routed)
        stats.dropped.update(dropped)
        stats.dead_lettered.update(dead_count)
        stats.unmatched += unmatched
        if self.metrics is not None:
            self.metrics.add(routed, dropped, dead_count, unmatched)
            self.metrics.batch.observe(time.perf_counter() - started)

    def _dead_letter(
        self, dead: dict[str, list[Record]], message: Message, exc: BaseException, rule: str
    ) -> str:
        topic = self.dead_letter_topic or dlq_topic(message.topic)
        headers = dead_letter_headers(message, exc, 1)
        headers[HEADER_RULE] = rule.encode()
        dead.setdefault(topic, []).append((message.value, message.key, headers))
        return topic

    async def _write(
        self,
        out: dict[str, list[Record]],
        dead: dict[str, list[Record]],
        queued: Sequence[asyncio.Future[Any]] = (),
    ) -> None:
        writes: list[Awaitable[Any]] = [self._publish(t, r, "route") for t, r in out.items()]
        writes += [self._publish(t, r, "dead-letter") for t, r in dead.items()]
        writes += queued
        if not writes:
            return
        # Every write finishes (or fails) before the batch is retried: a retry never races
        # a write of the same records still in flight (per-key order on each target).
        results = await asyncio.gather(*writes, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _queue(
        self,
        out: dict[str, list[Record]],
        ordered: list[tuple[str, bytes, str | None, Mapping[str, bytes]]],
        pending: Sequence[asyncio.Future[Any]],
    ) -> list[asyncio.Future[Any]]:
        """Hand ``ordered`` (the records of ``out`` in message order, targets interleaved:
        every target partition's producer batch fills at once, as a plain consume → produce
        loop does) to the producer; the acknowledgement to await. One caller, one call
        after another: per-key order holds on every target."""
        assert isinstance(self.bus, _QueuesMany)
        try:
            for topic in out:
                await self._ensure(topic)
            with self._producer_span(",".join(out), len(ordered), "route"):
                traceparent = current_traceparent()
                if traceparent is not None:
                    tp = traceparent.encode()
                    ordered = [(t, v, k, {**h, "traceparent": tp}) for t, v, k, h in ordered]
                return [await self.bus.enqueue_many(ordered)]
        except BaseException:
            # nothing of the batch may still be in flight when it is retried
            await asyncio.gather(*pending, return_exceptions=True)
            raise

    @staticmethod
    def _producer_span(topic: str, count: int, why: str) -> AbstractContextManager[Any]:
        return span(
            f"publish {topic}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
                "messaging.batch.message_count": count,
                "dictamesh.router.write": why,
            },
        )

    @staticmethod
    def _traced(records: list[Record]) -> list[Record]:
        """Inside a producer span: the target's consumer continues this trace."""
        traceparent = current_traceparent()
        if traceparent is None:
            return records
        tp = traceparent.encode()
        return [(v, k, {**h, "traceparent": tp}) for v, k, h in records]

    async def _publish(self, topic: str, records: list[Record], why: str) -> None:
        await self._ensure(topic)
        with self._producer_span(topic, len(records), why):
            records = self._traced(records)
            if isinstance(self.bus, _PublishesMany):
                await self.bus.publish_many(topic, records)
            else:
                for value, key, headers in records:
                    await self.bus.publish(topic, value, key=key, headers=headers)
