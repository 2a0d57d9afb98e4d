"""Dead letters over HTTP for operators (``docs/api.md``, "Dead letters"; the DLQ page).

Under ``/api/v1/admin`` like the other operator routes, so the default access rules give
them to the ``admin`` role only (``401``/``403`` otherwise):

* ``GET /api/v1/admin/dlq`` → ``{"topics": [{"topic", "source_topic", "partitions",
  "messages", "end_offsets": {partition: offset}, "replayed"}]}``: every ``*.dlq`` topic
  of the node's bus (:func:`dictamesh.events.dlq.dlq_topics`).
* ``GET /api/v1/admin/dlq/{topic}?limit=20`` → the newest dead letters of one topic, newest
  first: position, time, key, the ``dlq-*`` error headers read
  (:func:`~dictamesh.events.dlq.dead_letter`), payload size, whether it was replayed, and
  the event it carries with its attributes masked as ``/entities/{type}/{id}/events``
  masks them (:func:`dictamesh.api.governance_routes.events_body`). A payload that does
  not decode to an event is never shown (it cannot be masked): only why and its size.

Records are read by partition and offset (no consumer group joins, nothing is committed).
A tenant-bound administrator sees only the letters that name its tenant (the ``tenant-id``
header, or the event's tenant); ``withheld`` counts the others. Topic counts are the bus's.
``limit`` is 1..:data:`MAX_DLQ_LIMIT`; a topic name that is not ``<topic>.dlq`` is ``400``,
an unknown one ``404``, and a bus that does not answer within
:data:`DLQ_DEADLINE_SECONDS` ``503 EVENT_BUS_ERROR``.

Example::

    GET /api/v1/admin/dlq                                  # X-API-Key of an admin
    GET /api/v1/admin/dlq/customers.crm.entity_changed.dlq?limit=5
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query

import dictamesh.api.governance_routes as governed
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import DictaMeshError, EventBusError, NotFoundError
from dictamesh.events.bus import Message
from dictamesh.events.dlq import DeadLetter, dead_letter, dlq_topics, replayed_refs
from dictamesh.events.inspect import InspectableBus, tail
from dictamesh.events.inspect_view import EventDecoder, header_text
from dictamesh.events.serde import HEADER_TENANT_ID

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext

__all__ = ["DLQ_DEADLINE_SECONDS", "DLQ_PATH", "MAX_DLQ_LIMIT", "dlq_router"]

DLQ_PATH = "/api/v1/admin/dlq"
#: most dead letters one request returns
MAX_DLQ_LIMIT = 100
#: longest a request waits for the bus (seconds)
DLQ_DEADLINE_SECONDS = 10.0
#: Kafka's topic names (249 characters at most), ending in .dlq
DLQ_TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,245}\.dlq$"


@asynccontextmanager
async def _deadline() -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(DLQ_DEADLINE_SECONDS):
            yield
    except TimeoutError:
        raise EventBusError(
            f"the event bus did not answer within {DLQ_DEADLINE_SECONDS:g} s"
        ) from None


def _letter_tenant(message: Message, body: dict[str, Any]) -> str | None:
    """The tenant a dead letter belongs to: its ``tenant-id`` header, else its event's."""
    value = message.headers.get(HEADER_TENANT_ID)
    if value is not None:
        return header_text(value)
    event = body.get("event")
    found = event.get("tenant_id") if isinstance(event, dict) else None
    return found if isinstance(found, str) else None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _letter_body(letter: DeadLetter, replayed: bool) -> dict[str, Any]:
    m = letter.message
    return {
        "ref": letter.ref,
        "partition": m.partition,
        "offset": m.offset,
        "timestamp": _iso(m.timestamp_ms),
        "key": m.key,
        "error": letter.error,
        "error_type": letter.error_type,
        "original_topic": letter.original_topic,
        "original_partition": letter.original_partition,
        "original_offset": letter.original_offset,
        "attempts": letter.attempts,
        "headers": {k: header_text(v) for k, v in m.headers.items() if k.startswith("dlq-")},
        "payload_size": len(m.value),
        "replayed": replayed,
    }


async def _event_body(ctx: ApiContext, decoder: EventDecoder, message: Message) -> dict[str, Any]:
    """``{"event": ...}`` masked for the caller, or ``{"undecodable": why}`` (no bytes)."""
    event, why = await decoder.try_decode(message)
    if event is None:
        return {"event": None, "undecodable": why or "no event (a tombstone)"}
    record = {
        "event_id": str(event.event_id),
        "event_type": event.event_type.value,
        "entity_type": event.entity.type,
        "entity_id": event.entity.id,
        "version": event.entity.version,
        "tenant_id": event.tenant_id,
        "changed_fields": list(event.changed_fields),
        "payload": {"before": event.before, "after": event.after},
    }
    try:
        (masked,) = await governed.events_body(ctx, event.entity.type, [record])
    except DictaMeshError:  # the caller may not read this entity type at all
        return {"event": None, "withheld": "not readable by the caller"}
    return {"event": masked}


def dlq_router(ctx: ApiContext, bus: InspectableBus) -> APIRouter:
    """The dead-letter routes over ``bus``."""
    router = APIRouter(prefix=DLQ_PATH, tags=["dlq", "admin"])
    decoder = EventDecoder(ctx.bus_topics)

    @router.get("")
    async def list_dead_letter_topics() -> Any:
        """Every dead-letter topic with its message count, end offsets and replays."""
        async with _deadline():
            found = await dlq_topics(bus)
            names = [d.topic.name for d in found]
            ends = await bus.end_offsets(names) if names else {}
        return {
            "topics": [
                {
                    "topic": d.topic.name,
                    "source_topic": d.topic.name.removesuffix(".dlq"),
                    "partitions": d.topic.partitions,
                    "messages": d.topic.messages,
                    "end_offsets": {
                        str(p): n for p, n in sorted(ends.get(d.topic.name, {}).items())
                    },
                    "replayed": d.replayed,
                }
                for d in found
            ]
        }

    @router.get("/{topic}")
    async def list_dead_letters(
        topic: Annotated[str, Path(pattern=DLQ_TOPIC_PATTERN, description="a <topic>.dlq")],
        limit: Annotated[int, Query(ge=1, le=MAX_DLQ_LIMIT)] = 20,
    ) -> Any:
        """The newest dead letters of ``topic``, newest first, payloads masked."""
        async with _deadline():
            if topic not in await bus.topic_names():
                raise NotFoundError(f"no dead-letter topic {topic!r} on this bus", topic=topic)
            messages, _ = await tail(bus, topic, limit=limit)
            done = await replayed_refs(bus)
        tenant = current_tenant.get()
        letters, withheld = [], 0
        for message in reversed(messages):  # tail is oldest first
            if message.tombstone:
                continue
            letter = dead_letter(message)
            body = _letter_body(letter, letter.ref in done)
            body.update(await _event_body(ctx, decoder, message))
            if tenant is not None and _letter_tenant(message, body) != tenant:
                withheld += 1  # a tenant-bound admin sees only letters that name its tenant
                continue
            letters.append(body)
        return {"topic": topic, "dead_letters": letters, "withheld": withheld}

    return router
