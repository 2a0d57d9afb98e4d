"""Dead-letter topics: list them, read their records with the error headers, replay some.

:func:`~dictamesh.events.consume.run_consumer` (and the router) write a message that keeps
failing to ``<topic>.dlq`` with ``dlq-*`` headers (:func:`dead_letter_headers`). Once the
cause is fixed, :func:`replay` publishes the chosen records back to their source topic
(``dlq-original-topic``) with the same key, value and headers, minus the ``dlq-*`` ones, plus
``dlq-replayed-from: <dlq topic>/<partition>/<offset>``.

Replays are recorded: each replayed record gets an entry keyed by that same reference in the
compacted topic ``system.bus.dlq_replayed`` (written after the record itself), and a later
replay skips every record found there, so replaying the same range twice publishes nothing
the second time (``force=True`` replays them again). A crash between the two writes can
replay one record twice: consumers dedupe, as at-least-once delivery asks anyway.

Filters (:func:`parse_filters`) are ``field=value`` terms, ANDed: ``error_type`` (a glob on
the exception's class, dotted or short name), ``error`` (a glob on the message), ``key``
(glob), ``topic`` (glob on the original topic), ``partition`` (a number), ``offset`` and
``original_offset`` (``N``, ``A..B`` inclusive, ``A..`` or ``..B``).

Example::

    letters = await read_dead_letters(bus, "customers.crm.entity_changed.dlq",
                                      parse_filters(["error_type=SerializationError"]))
    outcomes = await replay(bus, "customers.crm.entity_changed.dlq", parse_filters([]))
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from dictamesh.core.errors import ValidationError
from dictamesh.events.bus import Message
from dictamesh.events.consume import (
    DLQ_ATTEMPTS,
    DLQ_ERROR,
    DLQ_ERROR_TYPE,
    DLQ_ORIGINAL_OFFSET,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_TOPIC,
)
from dictamesh.events.inspect import InspectableBus, TopicRow, read_range, topic_rows
from dictamesh.events.inspect_view import header_text
from dictamesh.events.topics import CleanupPolicy, TopicSpec

__all__ = [
    "DLQ_REPLAYED_FROM",
    "REPLAY_LEDGER_TOPIC",
    "DeadLetter",
    "DlqFilter",
    "DlqTopic",
    "ReplayOutcome",
    "dead_letter",
    "dlq_topics",
    "parse_filters",
    "read_dead_letters",
    "replay",
    "replayed_refs",
]

DLQ_SUFFIX: Final = ".dlq"
#: the header a replayed record carries: where in which DLQ it came from
DLQ_REPLAYED_FROM: Final = "dlq-replayed-from"
#: compacted: one entry per replayed DLQ record, keyed ``<dlq topic>/<partition>/<offset>``
REPLAY_LEDGER_TOPIC: Final = "system.bus.dlq_replayed"
_LEDGER_SPEC: Final = TopicSpec(
    name=REPLAY_LEDGER_TOPIC, partitions=1, retention_ms=None, cleanup_policy=CleanupPolicy.COMPACT
)

_TEXT_FIELDS: Final = ("error_type", "error", "key", "topic")
_NUMBER_FIELDS: Final = ("partition", "offset", "original_offset")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A DLQ record with its ``dlq-*`` headers read."""

    message: Message
    error: str | None
    error_type: str | None
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    attempts: int | None

    @property
    def ref(self) -> str:
        m = self.message
        return f"{m.topic}/{m.partition}/{m.offset}"


def _int(value: bytes | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def dead_letter(message: Message) -> DeadLetter:
    h = message.headers
    original = h.get(DLQ_ORIGINAL_TOPIC)
    return DeadLetter(
        message,
        None if DLQ_ERROR not in h else header_text(h[DLQ_ERROR]),
        None if DLQ_ERROR_TYPE not in h else header_text(h[DLQ_ERROR_TYPE]),
        # a DLQ record without the header (written by hand): its topic names the source
        message.topic.removesuffix(DLQ_SUFFIX) if original is None else original.decode(),
        _int(h.get(DLQ_ORIGINAL_PARTITION)),
        _int(h.get(DLQ_ORIGINAL_OFFSET)),
        _int(h.get(DLQ_ATTEMPTS)),
    )


@dataclass(frozen=True, slots=True)
class DlqFilter:
    field: str
    pattern: str = ""
    low: int | None = None
    high: int | None = None

    def matches(self, letter: DeadLetter) -> bool:
        if self.field in _TEXT_FIELDS:
            value = {
                "error_type": letter.error_type,
                "error": letter.error,
                "key": letter.message.key,
                "topic": letter.original_topic,
            }[self.field]
            if value is None:
                return False
            if self.field == "error_type" and "." not in self.pattern:
                value = value.rsplit(".", 1)[-1]  # SerializationError matches the dotted name
            return fnmatch.fnmatchcase(value, self.pattern)
        number = {
            "partition": letter.message.partition,
            "offset": letter.message.offset,
            "original_offset": letter.original_offset,
        }[self.field]
        if number is None:
            return False
        return (self.low is None or number >= self.low) and (
            self.high is None or number <= self.high
        )


def _number(text: str, term: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValidationError(f"filter {term!r}: {text!r} is not a number") from None
    if value < 0:
        raise ValidationError(f"filter {term!r}: offsets and partitions are >= 0")
    return value


def _parse_term(term: str) -> DlqFilter:
    name, sep, value = term.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise ValidationError(f"filter {term!r}: expected field=value")
    if name in _TEXT_FIELDS:
        return DlqFilter(name, pattern=value)
    if name not in _NUMBER_FIELDS:
        known = ", ".join(_TEXT_FIELDS + _NUMBER_FIELDS)
        raise ValidationError(f"filter {term!r}: unknown field {name!r} (known: {known})")
    if ".." not in value:
        n = _number(value, term)
        return DlqFilter(name, low=n, high=n)
    if name == "partition":
        raise ValidationError(f"filter {term!r}: a partition is one number")
    low_text, _, high_text = value.partition("..")
    low = _number(low_text, term) if low_text else None
    high = _number(high_text, term) if high_text else None
    if low is None and high is None:
        raise ValidationError(f"filter {term!r}: a range needs a bound")
    if low is not None and high is not None and low > high:
        raise ValidationError(f"filter {term!r}: empty range")
    return DlqFilter(name, low=low, high=high)


def parse_filters(expressions: Sequence[str]) -> list[DlqFilter]:
    """``["error_type=SerializationError,offset=3..7", "key=c-*"]`` → filters (all must
    match); :class:`ValidationError` for a malformed term."""
    return [_parse_term(term) for expr in expressions for term in expr.split(",") if term.strip()]


@dataclass(frozen=True, slots=True)
class DlqTopic:
    topic: TopicRow
    #: records of it already replayed (entries in the replay ledger)
    replayed: int


async def dlq_topics(bus: InspectableBus) -> list[DlqTopic]:
    """Every ``.dlq`` topic with its message count and how many were replayed."""
    rows = await topic_rows(bus, f"*{DLQ_SUFFIX}")
    done = await replayed_refs(bus)
    counts: dict[str, int] = {}
    for ref in done:
        topic = ref.rsplit("/", 2)[0]
        counts[topic] = counts.get(topic, 0) + 1
    return [DlqTopic(row, counts.get(row.name, 0)) for row in rows]


async def _all(bus: InspectableBus, topic: str) -> list[Message]:
    starts = (await bus.beginning_offsets([topic])).get(topic, {})
    ends = (await bus.end_offsets([topic])).get(topic, {})
    out: list[Message] = []
    for partition, end in sorted(ends.items()):
        async for chunk in read_range(bus, topic, partition, starts.get(partition, 0), end):
            out.extend(chunk)
    return out


async def read_dead_letters(
    bus: InspectableBus, topic: str, filters: Sequence[DlqFilter] = ()
) -> list[DeadLetter]:
    """The records of DLQ ``topic`` that match every filter, by partition and offset."""
    if not topic.endswith(DLQ_SUFFIX):
        raise ValidationError(f"{topic!r} is not a dead-letter topic (<topic>.dlq)", topic=topic)
    letters = (dead_letter(m) for m in await _all(bus, topic) if not m.tombstone)
    return [letter for letter in letters if all(f.matches(letter) for f in filters)]


async def replayed_refs(bus: InspectableBus) -> set[str]:
    """References (``<dlq topic>/<partition>/<offset>``) of every DLQ record replayed."""
    if REPLAY_LEDGER_TOPIC not in await bus.topic_names():
        return set()
    refs = set()
    for m in await _all(bus, REPLAY_LEDGER_TOPIC):
        if m.key is not None:
            if m.tombstone:
                refs.discard(m.key)  # an entry deleted by hand: that record may go again
            else:
                refs.add(m.key)
    return refs


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    letter: DeadLetter
    #: ``replayed``, ``skipped`` (replayed before) or ``dry-run`` (would be replayed)
    status: str
    #: where it was written (``replayed`` only)
    partition: int | None = None
    offset: int | None = None


def _replay_headers(letter: DeadLetter) -> dict[str, bytes]:
    headers = {k: v for k, v in letter.message.headers.items() if not k.startswith("dlq-")}
    headers[DLQ_REPLAYED_FROM] = letter.ref.encode()
    return headers


async def replay(
    bus: InspectableBus,
    topic: str,
    filters: Sequence[DlqFilter] = (),
    *,
    dry_run: bool = False,
    force: bool = False,
) -> list[ReplayOutcome]:
    """Publish the matching records of DLQ ``topic`` back to their source topics, each
    recorded in the replay ledger; those recorded before are skipped unless ``force``.

    Every source topic must exist (:class:`ValidationError` before anything is written):
    a replay never creates a topic. ``dry_run``: nothing is written."""
    letters = await read_dead_letters(bus, topic, filters)
    names = set(await bus.topic_names())
    missing = sorted({lt.original_topic for lt in letters} - names)
    if missing:
        raise ValidationError(
            f"cannot replay to {', '.join(missing)}: no such topic on this bus", topics=missing
        )
    done = set() if force else await replayed_refs(bus)
    outcomes: list[ReplayOutcome] = []
    ledger_ready = REPLAY_LEDGER_TOPIC in names
    for letter in letters:
        if letter.ref in done:
            outcomes.append(ReplayOutcome(letter, "skipped"))
            continue
        if dry_run:
            outcomes.append(ReplayOutcome(letter, "dry-run"))
            continue
        if not ledger_ready:
            await bus.ensure_topic(_LEDGER_SPEC)
            ledger_ready = True
        m = letter.message
        written = await bus.publish(
            letter.original_topic, m.value, key=m.key, headers=_replay_headers(letter)
        )
        entry = {
            "dlq_topic": m.topic,
            "dlq_partition": m.partition,
            "dlq_offset": m.offset,
            "topic": written.topic,
            "partition": written.partition,
            "offset": written.offset,
            "error_type": letter.error_type,
            "replayed_at_ms": time.time_ns() // 1_000_000,
        }
        await bus.publish(REPLAY_LEDGER_TOPIC, json.dumps(entry).encode(), key=letter.ref)
        outcomes.append(ReplayOutcome(letter, "replayed", written.partition, written.offset))
    return outcomes
