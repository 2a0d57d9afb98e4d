"""AdapterBase: the contract implemented around a few source-specific hooks.

A subclass writes only what is particular to its source: how to fetch raw records over
HTTP and how to turn one into a canonical :class:`Entity`. The base adds timeouts, retry
with backoff (retryable errors only), a circuit breaker, a bulkhead, the entity cache,
metrics, and change detection (cursor polling with a persisted watermark, and webhooks).
``docs/adapters.md`` is the guide; the short version::

    class CrmAdapter(AdapterBase):
        entity_type = "contact"
        source = SourceRef(domain="sales", system="crm")
        source_collection = "contacts"            # lineage: crm/contacts → dictamesh/...
        schema = EntitySchema(entity_type="contact", domain="sales", fields=[...])
        sla = SLA(freshness_seconds=60, availability_target=0.99, latency_p95_ms=300)

        async def fetch_one(self, client, entity_id):
            return read_json(await client.get(f"/contacts/{entity_id}"), self.name)

        async def fetch_page(self, client, query): ...
        async def fetch_changed_since(self, client, watermark, limit): ...

        def transform(self, raw):
            return Entity(type="contact", id=str(raw["id"]), attributes={...}, source=self.source)

    async with CrmAdapter(AdapterConfig(name="crm", kind="crm", base_url=URL)) as crm:
        contact = await crm.get_entity("42")

**Reads.** ``get_entity`` and ``get_entities`` go through the tenant-scoped
:class:`~dictamesh.cache.tiered.TieredCache` (single-flight; ``get_entities`` makes *one*
``fetch_many`` call for all misses). Every source call runs through the adapter's
:class:`~dictamesh.resilience.ResiliencePolicy`. Hook errors are mapped to typed errors:
httpx timeouts/transport errors → ``SourceUnavailable``, a ``KeyError``/``ValueError``/
``TypeError`` from a hook or ``transform`` → ``SourceResponseError``.

**Staleness (read info).** When the source fails and the cache still holds an expired copy,
the read returns that copy instead of failing, and records it in the active
:class:`ReadInfo` collector, so the transport can tell the client::

    with collect_read_info() as info:
        customer = await adapter.get_entity("c-1")
    if info.stale:
        response.headers.update(info.to_headers())      # REST: X-DictaMesh-Stale, Age, ...
        result.extensions = info.to_extensions()         # {"dictamesh": {"stale": [...]}}

The collector lives in a contextvar holding a *mutable* object, so reads made in tasks
started inside the ``with`` block (e.g. DataLoader batches) are collected too. Without an
active collector nothing is recorded (the stale value is still returned).

**Writes.** Overriding a write hook (``write_create``, ``write_update``, ``write_delete``,
``write_command`` with :attr:`commands`) adds the ``WRITE`` / ``COMMANDS`` capability. Each
write checks its idempotency key (``InvalidInput`` before any request), runs once through the
resilience policy — retried on retryable errors only when :attr:`idempotent_writes` (the
source honours ``Idempotency-Key``) — and drops the cached copies of what it wrote, also when
it failed. :func:`~dictamesh.adapters.http.read_write` turns a source's refusal into
``WriteRejected(reason=...)`` (never retried, not counted by the breaker)::

    async def write_command(self, client, command, payload, idempotency_key):
        response = await client.post("/v1/charges", json=payload,
                                     headers={IDEMPOTENCY_HEADER: idempotency_key})
        body, replayed = read_write(response, self.name)
        return RawWrite(data=body, record=body, replayed=replayed)

**Change detection.** ``stream_changes()`` yields :class:`ChangeEvent` from cursor polling
(every ``config.poll_interval_seconds``, via ``fetch_changed_since``) and from webhook
pushes (``handle_webhook``), through one detection path. The watermark and the entity's
seen snapshot are committed **when the consumer asks for the next event** ("ack on
next()"), or earlier with :meth:`AdapterBase.ack`. Event ids are deterministic
(:func:`change_event_id`), so an event re-emitted after a crash has the same id. See
ADR 0002 and ``docs/adapters.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, ClassVar, Literal, TypeVar

import httpx

from dictamesh import __version__
from dictamesh.adapters._metrics import AdapterCounters
from dictamesh.adapters._sent import track, watch
from dictamesh.adapters.contract import (
    DEFAULT_MAX_RELATED_ITEMS,
    AdapterCapability,
    DataProductAdapter,
    WriteResult,
)
from dictamesh.adapters.http import parse_retry_after
from dictamesh.adapters.state import ChangeStateStore, MemoryChangeStateStore, SeenRow
from dictamesh.adapters.webhook_inbox import WebhookInbox
from dictamesh.cache.base import JsonDict
from dictamesh.cache.keys import entity_key, lookup_key
from dictamesh.cache.lookups import event_snapshots, invalidate_lookups, lookup_fields
from dictamesh.cache.memory import MemoryCache
from dictamesh.cache.tiered import SOURCE_LAYER, CacheResult, TieredCache
from dictamesh.core.context import tenant_id
from dictamesh.core.errors import (
    CircuitOpenError,
    ConfigurationError,
    DictaMeshError,
    EntityNotFound,
    InternalError,
    NotFoundError,
    OperationNotSupported,
    SourceError,
    SourceRateLimited,
    SourceRejectedRequest,
    SourceResponseError,
    SourceUnavailable,
    ValidationError,
    WriteRejected,
)
from dictamesh.core.inputs import InvalidInput
from dictamesh.core.models import (
    MAX_QUERY_LIMIT,
    SLA,
    AdapterMetrics,
    ChangeEvent,
    DatasetRef,
    Entity,
    EntitySchema,
    EntityVersionRef,
    EventType,
    FieldType,
    HealthState,
    HealthStatus,
    Lineage,
    LineageEdge,
    Page,
    Query,
    diff_fields,
    is_entity_id,
    validate_entity_id,
    validate_idempotency_key,
)
from dictamesh.core.settings import AdapterConfig
from dictamesh.observability.tracing import (
    capture_context,
    instrument_http_client,
    record_change,
    span,
    traced,
)
from dictamesh.resilience.breaker import BreakerState
from dictamesh.resilience.policy import ResiliencePolicy

__all__ = [
    "CHANGE_EVENT_NAMESPACE",
    "AdapterBase",
    "RawPage",
    "RawWrite",
    "ReadInfo",
    "StaleRead",
    "change_event_id",
    "collect_read_info",
    "current_read_info",
]

log = logging.getLogger("dictamesh.adapters")

#: how often a capture leader looks for webhooks other nodes accepted (a shared inbox)
_SHARED_INBOX_CHECK_SECONDS = 1.0

T = TypeVar("T")

_SHAPE_ERRORS = (KeyError, ValueError, TypeError, IndexError, AttributeError)
"""What parsing an unexpected record shape raises; becomes SourceResponseError."""


@dataclass(frozen=True, slots=True)
class RawWrite:
    """What a write hook got from its source, before the base makes a :class:`WriteResult`."""

    #: the source's answer (for commands: the command's result)
    data: dict[str, Any]
    #: the raw record to :meth:`AdapterBase.transform` into the written entity, if any
    record: dict[str, Any] | None = None
    #: the source replayed the answer it stored under this idempotency key
    replayed: bool = False
    #: ids of other entities of this adapter the write changed (e.g. the product whose stock
    #: a reservation took): their cached copies are dropped too
    changed: tuple[str, ...] = ()


# --- read info: which answers were served stale ---------------------------------------


@dataclass(frozen=True, slots=True)
class StaleRead:
    """One entity served from a stale cache copy because its source failed."""

    adapter: str
    entity_type: str
    entity_id: str
    age_seconds: float
    #: error code of the source failure (e.g. ``SOURCE_UNAVAILABLE``)
    reason: str


@dataclass
class ReadInfo:
    """Collects what the transport should tell the client about the reads it made."""

    stale_entities: list[StaleRead] = field(default_factory=list)
    _parent: ReadInfo | None = field(default=None, repr=False, compare=False)

    @property
    def stale(self) -> bool:
        return bool(self.stale_entities)

    @property
    def max_age_seconds(self) -> float | None:
        """Age of the oldest stale answer, ``None`` when nothing was stale."""
        return max((s.age_seconds for s in self.stale_entities), default=None)

    def record(self, item: StaleRead) -> None:
        info: ReadInfo | None = self
        while info is not None:  # nested collectors all see it
            info.stale_entities.append(item)
            info = info._parent

    def unique(self) -> list[StaleRead]:
        """One record per (adapter, type, id) — the oldest answer — in first-seen order."""
        out: dict[tuple[str, str, str], StaleRead] = {}
        for s in self.stale_entities:
            key = (s.adapter, s.entity_type, s.entity_id)
            if key not in out or s.age_seconds > out[key].age_seconds:
                out[key] = s
        return list(out.values())

    def to_extensions(self) -> dict[str, Any]:
        """For GraphQL ``extensions``: ``{"dictamesh": {"stale": [{type, id, ageSeconds,
        reason, adapter}, ...]}}`` (empty when nothing was stale)."""
        if not self.stale:
            return {}
        return {
            "dictamesh": {
                "stale": [
                    {
                        "type": s.entity_type,
                        "id": s.entity_id,
                        "ageSeconds": round(s.age_seconds, 3),
                        "reason": s.reason,
                        "adapter": s.adapter,
                    }
                    for s in self.unique()
                ]
            }
        }

    def to_headers(self) -> dict[str, str]:
        """For REST (empty when nothing was stale): ``X-DictaMesh-Stale: true``, ``Age``
        (oldest stale answer, whole seconds), ``Warning: 110 - "Response is Stale"``,
        ``X-DictaMesh-Stale-Reason`` (error codes) and ``X-DictaMesh-Stale-Entities``
        (``type:id``, at most 50)."""
        if not self.stale:
            return {}
        unique = self.unique()
        refs = [f"{s.entity_type}:{s.entity_id}" for s in unique]
        return {
            "X-DictaMesh-Stale": "true",
            "Age": str(int(self.max_age_seconds or 0)),
            "Warning": '110 - "Response is Stale"',
            "X-DictaMesh-Stale-Reason": ",".join(dict.fromkeys(s.reason for s in unique)),
            "X-DictaMesh-Stale-Entities": ",".join(refs[:50]) + (",..." if len(refs) > 50 else ""),
        }


_READ_INFO: ContextVar[ReadInfo | None] = ContextVar("dictamesh_read_info", default=None)


@contextlib.contextmanager
def collect_read_info() -> Iterator[ReadInfo]:
    """Collect read info for everything read inside the block (see the module docstring)."""
    info = ReadInfo(_parent=_READ_INFO.get())
    token = _READ_INFO.set(info)
    try:
        yield info
    finally:
        _READ_INFO.reset(token)


def current_read_info() -> ReadInfo | None:
    """The innermost active collector, if any."""
    return _READ_INFO.get()


# --- change event ids ------------------------------------------------------------------

CHANGE_EVENT_NAMESPACE = uuid.UUID("e9539dd2-a13d-5380-8f57-29bcb86d3bdd")
"""uuid5(NAMESPACE_URL, 'https://dictamesh.dev/ns/change-event'); never change it."""


def change_event_id(
    adapter: str,
    entity_type: str,
    entity_id: str,
    version: int,
    event_type: EventType,
    content_digest: str | None = None,
) -> uuid.UUID:
    """``uuid5(NAMESPACE, "adapter:type:id:version:event_type")`` (ADR 0002).

    ``content_digest`` is appended only when a source changed a record *without* changing
    its version: the plain id would then equal the previous change's id and downstream
    dedupe would drop a real change. The digest keeps the id deterministic for re-emission.
    """
    name = f"{adapter}:{entity_type}:{entity_id}:{version}:{event_type.value}"
    if content_digest:
        name += f":{content_digest}"
    return uuid.uuid5(CHANGE_EVENT_NAMESPACE, name)


def _digest(snapshot: JsonDict | None) -> str:
    blob = json.dumps(snapshot, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --- internals --------------------------------------------------------------------------


@dataclass(slots=True)
class RawPage:
    """One page of raw source records, before transformation."""

    items: list[dict[str, Any]]
    next_cursor: str | None = None
    total: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Commit:
    seq: int
    watermark: str | None
    seen: list[SeenRow]


@dataclass(slots=True)
class _Inbound:
    """Records a webhook made us re-fetch, and ids the source no longer returns."""

    raws: list[dict[str, Any]]
    vanished: list[str]
    #: trace context of the webhook request (parent of the change spans), if traced
    parent: Any = None
    #: its row in the durable webhook inbox, deleted once every event of it is handled
    inbox_row: int | None = None


_BREAKER: dict[BreakerState, Literal["closed", "open", "half_open"]] = {
    BreakerState.CLOSED: "closed",
    BreakerState.OPEN: "open",
    BreakerState.HALF_OPEN: "half_open",
}


def _span_attributes(adapter: AdapterBase, *_: Any, **__: Any) -> dict[str, str]:
    return {"dictamesh.adapter": adapter.name, "dictamesh.entity.type": adapter.entity_type}


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class AdapterBase(DataProductAdapter):
    # --- declared by subclasses -------------------------------------------------------
    schema: ClassVar[EntitySchema]
    sla: ClassVar[SLA]
    #: source dataset name for lineage; default ``entity_type + "s"``
    source_collection: ClassVar[str | None] = None
    #: entity field → the source field it is read from (column-level lineage; optional)
    source_fields: ClassVar[Mapping[str, str]] = {}

    # --- tuning knobs (class level, override in a subclass) -----------------------------
    #: records per ``fetch_changed_since`` call
    change_batch_size: ClassVar[int] = 100
    #: a full page whose records all share the watermark doubles the batch up to this
    max_change_batch_size: ClassVar[int] = 10_000
    #: concurrent ``fetch_one`` calls of the default ``fetch_many``
    fetch_many_concurrency: ClassVar[int] = 8
    #: webhook batches waiting for ``stream_changes``; beyond it webhooks get 503
    webhook_queue_size: ClassVar[int] = 10_000
    #: TTL of the private cache made when none is injected (capped by the SLA's freshness)
    default_cache_ttl: ClassVar[float] = 60.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not hasattr(cls, "entity_type") and "schema" in cls.__dict__:
            cls.entity_type = cls.schema.entity_type

    def __init__(
        self,
        config: AdapterConfig,
        *,
        client: httpx.AsyncClient | None = None,
        cache: TieredCache | None = None,
        state: ChangeStateStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``client``: an httpx client to use (not closed by us); by default one is built
        from ``config.base_url`` and :meth:`auth_headers` on first use. ``cache``: shared
        tiered cache (default: a private L1). ``state``: change-detection state (default:
        in memory). ``clock``/``sleep``: injectable for tests (breaker, backoff, latency)."""
        cls = type(self)
        for attr in ("schema", "sla", "entity_type", "source"):
            if not hasattr(cls, attr):
                raise ConfigurationError(f"adapter class {cls.__name__} must declare {attr!r}")
        if cls.schema.entity_type != cls.entity_type:
            raise ConfigurationError(
                f"{cls.__name__}: schema is for {cls.schema.entity_type!r},"
                f" adapter serves {cls.entity_type!r}"
            )
        self.config = config
        self.name = config.name
        #: the class's SLA with the targets ``mesh.yaml`` overrides (``adapters[].sla``)
        self._sla = cls.sla.model_copy(update=config.sla.model_dump(exclude_none=True))
        self._client = client
        self._owns_client = client is None
        self.cache = (
            cache
            if cache is not None
            else TieredCache(
                [MemoryCache(1_000, ttl=min(self.default_cache_ttl, self._sla.freshness_seconds))]
            )
        )
        self.state: ChangeStateStore = state if state is not None else MemoryChangeStateStore()
        self._clock = clock
        self._counters = AdapterCounters()
        #: told ``(outcome, seconds)`` after every source call (:meth:`observe_calls`)
        self._call_observers: list[Callable[[str, float], None]] = []
        self.policy = ResiliencePolicy.from_settings(
            config.resilience,
            name=config.name,
            clock=clock,
            sleep=sleep,
            on_retry=self._on_retry,
            on_state_change=self._on_breaker_change,
        )
        self.capabilities = cls.capabilities | self._detected_capabilities()
        #: via fields whose inverse lookups (:meth:`get_related`) are cached
        self.lookup_fields = lookup_fields(cls.schema)
        self._closed = False
        self._inbox: deque[_Inbound] = deque()
        self._wakeup = asyncio.Event()
        #: where accepted webhooks are stored before the 202 (the node sets it); None:
        #: memory only, lost if the process dies before they are emitted
        self.webhook_inbox: WebhookInbox | None = None
        self._inbox_replayed = False
        #: inbox rows queued in memory or being emitted (not to be queued again)
        self._inbox_taken: set[int] = set()
        #: a change stream is running (this node captures: with a shared inbox, a node that
        #: does not only stores the webhook for the one that does)
        self._streaming = False
        self._pending: dict[uuid.UUID, _Commit] = {}
        self._seq = itertools.count(1)
        self._committed_seq = 0

    # --- hooks: source-specific code ----------------------------------------------------
    async def fetch_one(self, client: httpx.AsyncClient, entity_id: str) -> dict[str, Any] | None:
        """The raw record, or ``None`` when the source says it does not exist."""
        raise NotImplementedError

    async def fetch_many(
        self, client: httpx.AsyncClient, entity_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Raw records for these ids in as few source calls as the source allows.

        Missing ids are simply absent. The default calls :meth:`fetch_one` per id
        (at most ``fetch_many_concurrency`` at once); override it where the source has a
        batch endpoint or an ``in`` filter.
        """
        limit = asyncio.Semaphore(self.fetch_many_concurrency)

        async def one(entity_id: str) -> dict[str, Any] | None:
            async with limit:
                return await self.fetch_one(client, entity_id)

        tasks = [asyncio.ensure_future(one(i)) for i in entity_ids]
        try:
            found = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:  # one failed: the rest would only waste the source's time
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return [raw for raw in found if raw is not None]

    async def fetch_page(self, client: httpx.AsyncClient, query: Query) -> RawPage:
        """One page of raw records matching ``query`` (filters, sort, cursor, limit).

        ``query.cursor`` is the opaque cursor this method returned before (or None);
        return ``next_cursor=None`` on the last page. Raise
        :class:`~dictamesh.core.errors.ValidationError` for a filter the source cannot do.
        """
        raise NotImplementedError

    async def fetch_changed_since(
        self, client: httpx.AsyncClient, watermark: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Raw records changed at or after ``watermark`` (None = from the beginning),
        ordered by (watermark_of(raw), id) ascending, at most ``limit`` of them.
        Soft-deleted records must be included so deletions are detected."""
        raise NotImplementedError

    def transform(self, raw: dict[str, Any]) -> Entity:
        """Canonical entity from a raw record; raise ValueError/KeyError on garbage."""
        raise NotImplementedError

    def watermark_of(self, raw: dict[str, Any]) -> str:
        """Sortable change marker of a raw record (default: its ``updated_at``)."""
        return str(raw["updated_at"])

    def is_deleted(self, raw: dict[str, Any]) -> bool:
        """Whether a raw record is a (soft) deletion."""
        return False

    def parse_webhook(self, payload: Any) -> list[str]:
        """Entity ids a webhook payload says have changed (the base re-fetches them)."""
        raise NotImplementedError

    # --- write hooks (optional: overriding one adds WRITE / COMMANDS) --------------------
    #: the source honours ``Idempotency-Key``, so a write may be retried; ``False``: writes
    #: are tried once (a retry could apply them twice)
    idempotent_writes: ClassVar[bool] = True

    async def write_create(
        self, client: httpx.AsyncClient, attributes: dict[str, Any], idempotency_key: str
    ) -> RawWrite:
        """Create a record from canonical ``attributes``; the answer should carry it."""
        raise NotImplementedError

    async def write_update(
        self,
        client: httpx.AsyncClient,
        entity_id: str,
        changes: dict[str, Any],
        idempotency_key: str,
    ) -> RawWrite:
        """Change canonical fields of one record; the answer should carry it."""
        raise NotImplementedError

    async def write_delete(
        self, client: httpx.AsyncClient, entity_id: str, idempotency_key: str
    ) -> RawWrite:
        """Delete one record."""
        raise NotImplementedError

    async def write_command(
        self,
        client: httpx.AsyncClient,
        command: str,
        payload: dict[str, Any],
        idempotency_key: str,
    ) -> RawWrite:
        """Run one of :attr:`commands`; the answer is the command's result (``record``: the
        entity it changed, when the answer carries one)."""
        raise NotImplementedError

    # --- client -------------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        """Headers authenticating every request (default: ``Authorization: Bearer``)."""
        if self.config.api_key:
            return {"Authorization": f"Bearer {self.config.api_key.get_secret_value()}"}
        return {}

    def build_client(self) -> httpx.AsyncClient:
        """The httpx client used when none was injected (override to add TLS, proxies...)."""
        return httpx.AsyncClient(
            base_url=self.config.base_url,
            headers={"User-Agent": f"dictamesh/{__version__}", **self.auth_headers()},
            # a backstop only: the policy's asyncio timeout is the real per-call bound
            timeout=httpx.Timeout(self.config.resilience.timeout_seconds * 2),
        )

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = self.build_client()
        instrument_http_client(self._client)  # source requests traced while tracing is on
        watch(self._client)  # tells a hook's errors before sending from those after (_guarded)
        return self._client

    def observe_calls(self, observer: Callable[[str, float], None]) -> None:
        """Call ``observer(outcome, seconds)`` after every source call (the SLA monitor's
        window, ``docs/sla.md``); it runs on the call path, so it must only record."""
        self._call_observers.append(observer)

    @property
    def counters(self) -> AdapterCounters:
        """The raw in-process counters (``/metrics`` reads them at scrape time)."""
        return self._counters

    async def connect(self) -> None:
        """Open the client; idempotent (and undoes a previous :meth:`aclose`)."""
        self._closed = False
        _ = self.client

    async def aclose(self) -> None:
        """Stop ``stream_changes`` and close the client if we built it; idempotent."""
        self._closed = True
        self._wakeup.set()
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # --- writes -------------------------------------------------------------------------

    @traced("adapter.create_entity", attributes=_span_attributes)
    async def create_entity(
        self, attributes: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult:
        self._require_write("write_create", "create")
        body = dict(attributes)
        return await self._write(
            "write_create",
            lambda c: self.write_create(c, body, idempotency_key),
            idempotency_key,
            attributes=body,
        )

    @traced("adapter.update_entity", attributes=_span_attributes)
    async def update_entity(
        self, entity_id: str, changes: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult:
        self._require_write("write_update", "update")
        self._check_id(entity_id)
        body = dict(changes)
        return await self._write(
            "write_update",
            lambda c: self.write_update(c, entity_id, body, idempotency_key),
            idempotency_key,
            entity_id=entity_id,
            attributes=body,
        )

    @traced("adapter.delete_entity", attributes=_span_attributes)
    async def delete_entity(self, entity_id: str, *, idempotency_key: str) -> WriteResult:
        self._require_write("write_delete", "delete")
        self._check_id(entity_id)
        return await self._write(
            "write_delete",
            lambda c: self.write_delete(c, entity_id, idempotency_key),
            idempotency_key,
            entity_id=entity_id,
        )

    @traced("adapter.run_command", attributes=_span_attributes)
    async def run_command(
        self, command: str, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> WriteResult:
        if AdapterCapability.COMMANDS not in self.capabilities or command not in self.commands:
            raise OperationNotSupported(
                f"{self.name} has no command {command!r}",
                adapter=self.name,
                commands=sorted(self.commands),
            )
        body = dict(payload)
        return await self._write(
            "write_command",
            lambda c: self.write_command(c, command, body, idempotency_key),
            idempotency_key,
        )

    def _require_write(self, hook: str, what: str) -> None:
        if not self._overrides(hook):
            raise OperationNotSupported(
                f"{self.name} does not {what} {self.entity_type} entities", adapter=self.name
            )

    async def _write(
        self,
        op: str,
        fn: Callable[[httpx.AsyncClient], Awaitable[RawWrite]],
        idempotency_key: str,
        *,
        entity_id: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> WriteResult:
        """One write through the resilience policy: retried only when the source honours
        idempotency keys; the written entities' cached copies are dropped afterwards — also
        when the write failed, since a write that timed out may still have been applied.

        So are the cached lookups that could hold them: those of their via values before
        the write (their cached copy, else the change state's snapshot) and after it
        (``attributes``: what was created, or the changes; and the answer's record), or
        all of the type's when the values before are unknown. A creation has none before:
        the lookups of its ``attributes`` go even when the answer names no record."""
        try:
            validate_idempotency_key(idempotency_key)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="idempotency_key") from None
        written: set[str] = {entity_id} if entity_id else set()
        entity: Entity | None = None
        try:
            raw = await self._call(op, fn, retry=self.idempotent_writes)
            written.update(i for i in raw.changed if i)
            entity = self._transform(raw.record) if raw.record is not None else None
            if entity is not None:
                written.add(entity.id)
            return WriteResult(data=raw.data, entity=entity, replayed=raw.replayed)
        finally:
            created = op == "write_create"
            for changed in sorted(written):
                after: list[JsonDict | None] = [attributes if changed == entity_id else None]
                if entity is not None and entity.id == changed:
                    after.append(dict(entity.attributes))
                if created and entity is not None and entity.id == changed:
                    await self._invalidate(changed, [attributes, *after])
                    continue
                before = await self._known_before(changed)
                await self._invalidate(changed, None if before is None else [before, *after])
            if created and entity is None:
                await self._invalidate_lookups([attributes])

    # --- reads --------------------------------------------------------------------------

    @traced("adapter.get_entity", attributes=_span_attributes)
    async def get_entity(self, entity_id: str) -> Entity:
        self._check_id(entity_id)

        async def load() -> JsonDict:
            raw = await self._call("fetch_one", lambda c: self.fetch_one(c, entity_id))
            if raw is None or self._is_deleted(raw):
                raise EntityNotFound(self.entity_type, entity_id)
            return self._transform(raw).model_dump(mode="json")

        result = await self.cache.get_or_load(self._key(entity_id), load)
        self._account(entity_id, result)
        return Entity.model_validate(result.value)

    @traced("adapter.get_entities", attributes=_span_attributes)
    async def get_entities(self, entity_ids: Sequence[str]) -> list[Entity | None]:
        """Aligned with ``entity_ids`` (``None`` for unknown ids). Cache misses are fetched
        with **one** ``fetch_many`` call (one per ``MAX_QUERY_LIMIT`` ids)."""
        ids = list(entity_ids)
        for entity_id in ids:
            self._check_id(entity_id)
        unique = list(dict.fromkeys(ids))
        key_of = {i: self._key(i) for i in unique}
        id_of = {k: i for i, k in key_of.items()}
        found: dict[str, Entity] = {}
        for chunk in _chunks(unique, MAX_QUERY_LIMIT):
            results = await self.cache.get_many_or_load(
                [key_of[i] for i in chunk], partial(self._load_many, id_of, key_of)
            )
            for entity_id in chunk:
                result = results.get(key_of[entity_id])
                if result is None:
                    self._counters.cache_misses += 1
                    continue
                self._account(entity_id, result)
                found[entity_id] = Entity.model_validate(result.value)
        return [found.get(i) for i in ids]

    async def _load_many(
        self, id_of: dict[str, str], key_of: dict[str, str], keys: list[str]
    ) -> dict[str, JsonDict]:
        wanted = [id_of[k] for k in keys]
        raws = await self._call("fetch_many", partial(self._fetch_many_hook, wanted))
        if not isinstance(raws, list):
            raise SourceResponseError(f"{self.name}: fetch_many did not return a list")
        requested = set(keys)
        out: dict[str, JsonDict] = {}
        for raw in raws:
            if self._is_deleted(raw):
                continue
            entity = self._transform(raw)
            key = key_of.get(entity.id)
            if key in requested:
                out[key] = entity.model_dump(mode="json")
        return out

    async def get_cached_entities(
        self, entity_ids: Sequence[str], *, error: SourceError
    ) -> list[Entity | None]:
        """Cached copies (fresh or stale) of ``entity_ids``, aligned, ``None`` where the
        cache has none — **without** calling the source. For a batch that failed with
        ``error`` although some of its ids are cached: the gateway answers those and
        fails only the rest (``dictamesh.gateway.loaders``). Stale copies are recorded in
        the read-info collector with ``error.code`` as the reason."""
        found: list[Entity | None] = []
        for entity_id in entity_ids:
            self._check_id(entity_id)
            result = await self.cache.get(self._key(entity_id), allow_stale=True)
            if result is None:
                found.append(None)
                continue
            if result.stale:
                result = replace(result, error=error)
            self._account(entity_id, result)
            found.append(Entity.model_validate(result.value))
        return found

    @traced("adapter.query_entities", attributes=_span_attributes)
    async def query_entities(self, query: Query) -> Page:
        """A page from the source (not cached: filters make poor cache keys)."""
        if not isinstance(query, Query):
            raise ValidationError("query_entities expects a dictamesh Query")
        raw = await self._call("fetch_page", lambda c: self.fetch_page(c, query))
        if not isinstance(raw, RawPage):
            raise SourceResponseError(f"{self.name}: fetch_page did not return a RawPage")
        items = [self._transform(r) for r in raw.items if not self._is_deleted(r)]
        return Page(items=items, next_cursor=raw.next_cursor, total=raw.total)

    @traced("adapter.get_related", attributes=_span_attributes)
    async def get_related(
        self,
        via_field: str,
        keys: Sequence[str],
        *,
        key_type: FieldType | None = None,
        max_items: int = DEFAULT_MAX_RELATED_ITEMS,
    ) -> list[list[Entity]]:
        """The inverse lookup (see the contract), **cached per key** for the via fields of
        the type's relationships (:attr:`lookup_fields`): cached keys cost no source call,
        the others share one ``query_entities`` call (single-flight across requests too).
        Changes drop the lookups that could hold the changed entity
        (:mod:`dictamesh.cache.lookups`); a failing source is answered from stale copies
        where the cache has them, recorded in the read-info collector."""
        unique = list(dict.fromkeys(keys))
        if via_field not in self.lookup_fields or not all(map(is_entity_id, unique)):
            return await super().get_related(
                via_field, keys, key_type=key_type, max_items=max_items
            )
        tenant = tenant_id()
        key_of = {k: lookup_key(tenant, self.entity_type, via_field, k) for k in unique}
        value_of = {v: k for k, v in key_of.items()}

        async def load(lookup_keys: list[str]) -> dict[str, JsonDict]:
            wanted = [value_of[k] for k in lookup_keys]
            groups = await DataProductAdapter.get_related(
                self, via_field, wanted, key_type=key_type, max_items=max_items
            )
            return {
                k: {"items": [e.model_dump(mode="json") for e in group]}
                for k, group in zip(lookup_keys, groups, strict=True)
            }

        found: dict[str, list[Entity]] = {}
        for chunk in _chunks(unique, MAX_QUERY_LIMIT):
            results = await self.cache.get_many_or_load([key_of[k] for k in chunk], load)
            for k in chunk:
                result = results.get(key_of[k])
                if result is None:  # the loader answers every key; be defensive
                    raise SourceResponseError(f"{self.name}: lookup {via_field}={k} unanswered")
                items = [Entity.model_validate(v) for v in result.value["items"]]
                self._account_lookup(result, items)
                found[k] = items
        return [found[k] for k in keys]

    # --- descriptors --------------------------------------------------------------------

    def get_schema(self) -> EntitySchema:
        return self.schema

    def get_sla(self) -> SLA:
        return self._sla

    def get_lineage(self) -> Lineage:
        collection = self.source_collection or f"{self.entity_type}s"
        return Lineage(
            entity_type=self.entity_type,
            edges=[
                LineageEdge(
                    upstream=DatasetRef(namespace=self.source.system, name=collection),
                    downstream=DatasetRef(
                        namespace="dictamesh", name=f"{self.source.domain}.{self.entity_type}"
                    ),
                    transformation=f"adapter:{self.name}",
                    fields={field: [source] for field, source in self.source_fields.items()},
                )
            ],
        )

    # --- health & metrics ---------------------------------------------------------------

    async def health_check(self) -> HealthStatus:
        """A cheap probe (``fetch_page(Query(limit=1))``), bypassing cache, retry and
        breaker but bounded by the timeout. Never raises."""
        started = self._clock()
        details: dict[str, Any] = {"adapter": self.name, "entity_type": self.entity_type}
        try:
            await self.policy.probe(
                lambda: self._guarded("health_check", self.fetch_page(self.client, Query(limit=1)))
            )
        except Exception as exc:
            details["breaker"] = self.policy.breaker.state.value
            details["error"] = (
                exc.to_dict()["error"]
                if isinstance(exc, DictaMeshError)
                else {"code": "INTERNAL", "message": f"{type(exc).__name__}: {exc}"}
            )
            return HealthStatus(
                status=HealthState.UNHEALTHY,
                latency_ms=round((self._clock() - started) * 1000, 2),
                details=details,
            )
        latency_ms = (self._clock() - started) * 1000
        breaker = self.policy.breaker.state
        reasons = []
        if breaker is not BreakerState.CLOSED:
            reasons.append(f"circuit breaker {breaker.value}")
        if latency_ms > self._sla.latency_p95_ms:
            reasons.append(
                f"latency {latency_ms:.0f} ms above SLA p95 {self._sla.latency_p95_ms} ms"
            )
        details.update(breaker=breaker.value, reasons=reasons)
        return HealthStatus(
            status=HealthState.DEGRADED if reasons else HealthState.HEALTHY,
            latency_ms=round(latency_ms, 2),
            details=details,
        )

    async def check_connection(self) -> dict[str, Any]:
        """A report for ``dictamesh`` CLI / operators: can we reach the source?"""
        health = await self.health_check()
        return {
            "adapter": self.name,
            "kind": self.config.kind,
            "base_url": self.config.base_url,
            "ok": health.status is not HealthState.UNHEALTHY,
            "status": health.status.value,
            "latency_ms": health.latency_ms,
            "details": health.details,
        }

    def get_metrics(self) -> AdapterMetrics:
        c = self._counters
        r = self.policy.stats()
        return AdapterMetrics(
            adapter=self.name,
            calls=c.calls,
            errors=c.errors,
            retries=c.retries,
            cache_hits=c.cache_hits,
            cache_misses=c.cache_misses,
            events_emitted=c.events_emitted,
            latency_p50_ms=c.latency.percentile(50),
            latency_p95_ms=c.latency.percentile(95),
            breaker_state=_BREAKER[r.breaker.state],
            stale_served=c.stale_served,
            timeouts=r.timeouts,
            deadline_exceeded=r.deadline_exceeded,
            circuit_rejected=r.circuit_rejected,
            bulkhead_rejected=r.bulkhead_rejected,
            breaker_opened=r.breaker.opened,
            breaker_transitions=r.breaker.transitions,
            breaker_retry_in_seconds=r.breaker.retry_in_seconds,
            in_flight=r.bulkhead.in_flight,
            peak_in_flight=r.bulkhead.peak_in_flight,
        )

    def latency_percentiles(self, *points: float) -> dict[float, float | None]:
        """Source-call latency percentiles (ms, ``points`` in [0, 100]) over the last
        :attr:`latency_window` calls (``None`` before the first call); the operations pages
        show p99 too, which :class:`AdapterMetrics` does not carry."""
        return {p: self._counters.latency.percentile(p) for p in points}

    @property
    def latency_window(self) -> int:
        """How many of the latest source calls :meth:`latency_percentiles` covers now."""
        return len(self._counters.latency)

    # --- change detection -----------------------------------------------------------------

    async def stream_changes(self) -> AsyncGenerator[ChangeEvent, None]:
        """Change events from webhooks and polling until :meth:`aclose` (one consumer per
        adapter). State is committed when you ask for the next event, or on :meth:`ack`.

        A failing source does not end the stream: the poll is logged and tried again at
        the next interval (the breaker and backoff bound how hard we push).
        """
        interval = self.config.poll_interval_seconds
        polling = interval is not None and self._overrides("fetch_changed_since")
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        shared = bool(getattr(self.webhook_inbox, "shared", False))
        next_inbox = loop.time()
        self._streaming = True
        try:
            await self._replay_webhook_inbox()
            while not self._closed:
                if self._inbox:
                    item = self._inbox.popleft()
                    async with contextlib.aclosing(self._inbound_changes(item)) as events:
                        async for event in events:
                            yield event
                    if item.inbox_row is not None and self.webhook_inbox is not None:
                        # back here only once the consumer took the item's last event
                        await self.webhook_inbox.done(item.inbox_row)
                        self._inbox_taken.discard(item.inbox_row)
                    continue
                if shared and loop.time() >= next_inbox:
                    # webhooks other nodes accepted for us (we are the capture leader)
                    await self._take_inbox()
                    next_inbox = loop.time() + _SHARED_INBOX_CHECK_SECONDS
                    if self._inbox:
                        continue
                if polling and loop.time() >= next_poll:
                    assert interval is not None
                    try:
                        async with contextlib.aclosing(self._poll_changes()) as events:
                            async for event in events:
                                yield event
                    except SourceError as exc:
                        log.warning("%s: polling for changes failed: %s", self.name, exc)
                    next_poll = loop.time() + interval
                    continue
                self._wakeup.clear()
                timeout = max(0.0, next_poll - loop.time()) if polling else None
                if shared:
                    until_inbox = max(0.0, next_inbox - loop.time())
                    timeout = until_inbox if timeout is None else min(timeout, until_inbox)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wakeup.wait()
        finally:
            self._streaming = False
            # a row cut off mid-emission (leadership lost) is taken again by the next stream
            self._inbox_taken = {i.inbox_row for i in self._inbox if i.inbox_row is not None}

    async def ack(self, event: ChangeEvent) -> None:
        """Persist the state for ``event`` now (instead of on the next ``__anext__``).

        Idempotent. Acks should come in order; a late ack of an older event records its
        seen row but never moves the watermark backwards.
        """
        commit = self._pending.pop(event.event_id, None)
        if commit is None:
            return
        watermark = commit.watermark if commit.seq > self._committed_seq else None
        await self.state.commit(self.name, watermark, commit.seen)
        self._committed_seq = max(self._committed_seq, commit.seq)

    @traced("adapter.handle_webhook", attributes=_span_attributes)
    async def handle_webhook(self, payload: Any) -> int:
        """Accept a source's change notification: re-fetch the ids it names (one
        ``fetch_many``) and queue them for ``stream_changes``. Returns how many ids."""
        try:
            ids = list(dict.fromkeys(self.parse_webhook(payload)))
        except NotImplementedError:
            raise NotFoundError(
                f"adapter {self.name!r} does not accept webhooks", adapter=self.name
            ) from None
        except DictaMeshError:
            raise
        except _SHAPE_ERRORS as exc:
            raise ValidationError(
                f"webhook payload for {self.name!r} not understood: {exc}", adapter=self.name
            ) from None
        for entity_id in ids:
            self._check_id(entity_id)
        if not ids:
            return 0
        shared = bool(getattr(self.webhook_inbox, "shared", False))
        if len(self._inbox) >= self.webhook_queue_size and not (shared and not self._streaming):
            raise SourceUnavailable(
                f"{self.name}: change queue full; retry the webhook later", adapter=self.name
            )
        self._counters.webhooks_received += 1
        # readers should not wait for the stream to see the change: drop the cached copies,
        # and the lookups of the values last known here (after the re-fetch: the new ones)
        known = {i: await self._known_before(i) for i in ids}
        for entity_id in ids:
            before = known[entity_id]
            await self._invalidate(entity_id, None if before is None else [before])
        raws: list[dict[str, Any]] = []
        for chunk in _chunks(ids, MAX_QUERY_LIMIT):
            raws.extend(await self._call("fetch_many", partial(self._fetch_many_hook, chunk)))
        fetched = [self._transform(raw) for raw in raws]
        await self._invalidate_lookups([dict(e.attributes) for e in fetched])
        returned = {e.id for e in fetched}
        item = _Inbound(
            raws=raws,
            vanished=[i for i in ids if i not in returned],
            parent=capture_context(),
        )
        if self.webhook_inbox is not None:  # durable before the caller hears 202
            try:
                item.inbox_row = await self.webhook_inbox.put(self.name, raws, item.vanished)
            except (OSError, sqlite3.Error, TypeError, ValueError, DictaMeshError) as exc:
                log.warning("%s: webhook not stored: %r", self.name, exc)
                raise SourceUnavailable(
                    f"{self.name}: the webhook could not be stored; retry it later",
                    adapter=self.name,
                ) from None
        if shared and not self._streaming:
            return len(ids)  # stored: the capture leader's stream picks it up
        if item.inbox_row is not None:
            self._inbox_taken.add(item.inbox_row)
        self._inbox.append(item)
        self._wakeup.set()
        return len(ids)

    async def _replay_webhook_inbox(self) -> None:
        """Queue, ahead of new work, the webhooks a previous process accepted but did not
        finish (once per adapter object)."""
        if self._inbox_replayed or self.webhook_inbox is None:
            return
        self._inbox_replayed = True
        left = await self._untaken_inbox_rows()
        if left:
            log.info("%s: replaying %d accepted webhooks", self.name, len(left))
        self._inbox.extendleft(reversed(left))

    async def _take_inbox(self) -> None:
        """Queue the shared inbox's rows that other nodes accepted since we last looked."""
        try:
            found = await self._untaken_inbox_rows()
        except DictaMeshError as exc:  # the database is down: polling still runs
            log.warning("%s: reading the webhook inbox failed: %s", self.name, exc)
            return
        self._inbox.extend(found)

    async def _untaken_inbox_rows(self) -> list[_Inbound]:
        assert self.webhook_inbox is not None
        left = [
            _Inbound(raws=raws, vanished=vanished, inbox_row=row)
            for row, raws, vanished in await self.webhook_inbox.pending(self.name)
            if row not in self._inbox_taken  # queued in memory, or being emitted
        ]
        self._inbox_taken.update(i.inbox_row for i in left if i.inbox_row is not None)
        return left

    async def _poll_changes(self) -> AsyncGenerator[ChangeEvent, None]:
        """Page through ``fetch_changed_since`` from the stored watermark (inclusive)."""
        watermark = await self.state.get_watermark(self.name)
        limit = self.change_batch_size
        while not self._closed:
            start, size = watermark, limit
            raws = await self._call(
                "fetch_changed_since", partial(self._changed_since_hook, start, size)
            )
            if not isinstance(raws, list):
                raise SourceResponseError(f"{self.name}: fetch_changed_since did not return a list")
            committed = watermark
            for raw in raws:
                try:
                    mark = self.watermark_of(raw)
                except _SHAPE_ERRORS as exc:
                    self._poison(raw, exc)
                    continue
                detected = await self._detect(raw)
                if detected is not None:
                    event, row = detected
                    await self._invalidate(event.entity.id, event_snapshots(event))
                    self._stage(event, row, watermark=mark)
                    yield event
                    # the consumer asks for the next event: it has handled this one
                    await self.ack(event)
                    committed = mark
                watermark = mark
            if watermark != committed:
                # trailing records were already seen: move past them without an event
                await self.state.commit(self.name, watermark, [])
            if len(raws) < size:
                return
            if watermark == start:
                # a full page sharing one watermark: an inclusive cursor cannot move past
                # it, so ask for a bigger page until the page reaches a later record
                if size >= self.max_change_batch_size:
                    log.error(
                        "%s: more than %d records share watermark %r; cannot advance",
                        self.name,
                        size,
                        start,
                    )
                    return
                limit = min(size * 2, self.max_change_batch_size)
            else:
                limit = self.change_batch_size

    async def _inbound_changes(self, item: _Inbound) -> AsyncGenerator[ChangeEvent, None]:
        for raw in item.raws:
            detected = await self._detect(raw, parent=item.parent)
            if detected is not None:
                event, row = detected
                await self._invalidate(event.entity.id, event_snapshots(event))
                self._stage(event, row, watermark=None)  # pushes never move the watermark
                yield event
                await self.ack(event)
        for entity_id in item.vanished:
            seen = await self.state.get_seen(self.name, entity_id)
            if seen is None or seen[1] is None:
                continue  # never seen, or already deleted
            version, before = seen
            entity = Entity(
                type=self.entity_type, id=entity_id, version=version, source=self.source
            )
            event = self._event(EventType.DELETED, entity, before, None, None, item.parent)
            await self._invalidate(entity_id, event_snapshots(event))
            self._stage(event, (entity_id, version, None), watermark=None)
            yield event
            await self.ack(event)

    async def _changed_since_hook(
        self, watermark: str | None, limit: int, client: httpx.AsyncClient
    ) -> list[dict[str, Any]]:
        return await self.fetch_changed_since(client, watermark, limit)

    async def _fetch_many_hook(
        self, entity_ids: list[str], client: httpx.AsyncClient
    ) -> list[dict[str, Any]]:
        return await self.fetch_many(client, entity_ids)

    def _stage(self, event: ChangeEvent, row: SeenRow, *, watermark: str | None) -> None:
        """Remember what to commit once ``event`` is handled (ack on next, or ``ack``)."""
        self._pending[event.event_id] = _Commit(next(self._seq), watermark, [row])
        self._counters.events_emitted += 1

    async def _detect(
        self, raw: dict[str, Any], *, parent: Any = None
    ) -> tuple[ChangeEvent, SeenRow] | None:
        """The event this record means (None: nothing new), and the seen row to commit."""
        try:
            entity = self._transform(raw)
            deleted = self._is_deleted(raw)
        except SourceResponseError as exc:
            self._poison(raw, exc)
            return None
        snapshot: JsonDict | None = (
            None if deleted else entity.model_dump(mode="json")["attributes"]
        )
        seen = await self.state.get_seen(self.name, entity.id)
        before: JsonDict | None = None
        digest: str | None = None
        if seen is not None:
            seen_version, before = seen
            if entity.version < seen_version:
                return None  # older than what we already emitted (a late webhook fetch)
            if entity.version == seen_version and before == snapshot:
                return None  # the boundary record of an inclusive poll, or a repeat push
            if deleted and before is None:
                return None  # still deleted
            if entity.version == seen_version:
                digest = _digest(snapshot)  # content changed but the version did not
        if deleted:
            event_type = EventType.DELETED
        elif before is None:
            event_type = EventType.CREATED  # never seen, or re-created after a deletion
        else:
            event_type = EventType.UPDATED
        event = self._event(event_type, entity, before, snapshot, digest, parent)
        return event, (entity.id, entity.version, snapshot)

    def _event(
        self,
        event_type: EventType,
        entity: Entity,
        before: JsonDict | None,
        after: JsonDict | None,
        digest: str | None,
        parent: Any = None,
    ) -> ChangeEvent:
        tenant = tenant_id() or entity.tenant_id
        # the change is the root span of the trace that follows it through bus and catalog
        # (a child of the webhook request that announced it, when there was one)
        trace_context = record_change(
            "adapter.change",
            {
                "dictamesh.adapter": self.name,
                "dictamesh.entity.type": entity.type,
                "dictamesh.entity.id": entity.id,
                "dictamesh.event.type": event_type.value,
                **({"dictamesh.tenant": tenant} if tenant else {}),
            },
            parent=parent,
        )
        return ChangeEvent(
            event_id=change_event_id(
                self.name, entity.type, entity.id, entity.version, event_type, digest
            ),
            event_type=event_type,
            entity=EntityVersionRef(type=entity.type, id=entity.id, version=entity.version),
            source=entity.source,
            # both sides in JSON form, so a datetime and its string never differ
            changed_fields=diff_fields(before, after),
            before=before,
            after=after,
            tenant_id=tenant,
            trace_context=trace_context,
        )

    def _poison(self, raw: Any, exc: Exception) -> None:
        # a record we cannot read must not stall capture forever: log it, count it, skip it
        self._counters.change_errors += 1
        log.error("%s: skipping unreadable change record %.200r: %s", self.name, raw, exc)

    # --- internals ----------------------------------------------------------------------

    def _check_id(self, entity_id: str) -> None:
        try:
            validate_entity_id(entity_id)
        except ValueError as exc:
            raise ValidationError(
                str(exc), entity_type=self.entity_type, entity_id=str(entity_id)[:200]
            ) from None

    def _key(self, entity_id: str) -> str:
        return entity_key(tenant_id(), self.entity_type, entity_id)

    async def _invalidate(
        self, entity_id: str, snapshots: Sequence[Mapping[str, Any] | None] | None = ()
    ) -> None:
        """Drop the cached entity, and the cached lookups that could hold it: those of its
        via values in ``snapshots`` (before and after the change), all of the type's when
        ``snapshots`` is ``None`` (values before unknown; :mod:`dictamesh.cache.lookups`)."""
        try:
            await self.cache.invalidate(self._key(entity_id))
        except Exception:
            log.warning("%s: could not invalidate %s in the cache", self.name, entity_id)
        await self._invalidate_lookups(snapshots)

    async def _invalidate_lookups(
        self, snapshots: Sequence[Mapping[str, Any] | None] | None
    ) -> None:
        try:
            await invalidate_lookups(
                self.cache, tenant_id(), self.entity_type, self.lookup_fields, snapshots
            )
        except Exception:
            log.warning("%s: could not invalidate cached lookups", self.name)

    async def _known_before(self, entity_id: str) -> JsonDict | None:
        """The entity's attributes as last known here (its cached copy, else the change
        state's snapshot), to find the lookups it was in; ``None`` when unknown."""
        if not self.lookup_fields:
            return {}
        try:
            cached = await self.cache.get(self._key(entity_id), allow_stale=True)
        except Exception:
            cached = None
        if cached is not None:
            attributes = cached.value.get("attributes")
            if isinstance(attributes, dict):
                return attributes
        seen = await self.state.get_seen(self.name, entity_id)
        if seen is not None and seen[1] is not None:
            return dict(seen[1])
        return None

    def _account(self, entity_id: str, result: CacheResult) -> None:
        if result.layer == SOURCE_LAYER:
            self._counters.cache_misses += 1
        elif result.stale:
            self._counters.cache_misses += 1
            self._counters.stale_served += 1
            info = _READ_INFO.get()
            if info is not None:
                info.record(
                    StaleRead(
                        adapter=self.name,
                        entity_type=self.entity_type,
                        entity_id=entity_id,
                        age_seconds=result.age_seconds,
                        reason=result.error.code if result.error else "STALE",
                    )
                )
        else:
            self._counters.cache_hits += 1

    def _account_lookup(self, result: CacheResult, items: list[Entity]) -> None:
        if result.layer == SOURCE_LAYER:
            self._counters.cache_misses += 1
        elif not result.stale:
            self._counters.cache_hits += 1
        else:  # every entity of a stale lookup is served stale
            self._counters.cache_misses += 1
            self._counters.stale_served += 1
            info = _READ_INFO.get()
            if info is not None:
                for entity in items:
                    info.record(
                        StaleRead(
                            adapter=self.name,
                            entity_type=self.entity_type,
                            entity_id=entity.id,
                            age_seconds=result.age_seconds,
                            reason=result.error.code if result.error else "STALE",
                        )
                    )

    def _transform(self, raw: Any) -> Entity:
        try:
            entity = self.transform(raw)
        except DictaMeshError:
            raise
        except _SHAPE_ERRORS as exc:
            self._counters.errors += 1
            raise self._bad_shape(exc) from exc
        if not isinstance(entity, Entity) or entity.type != self.entity_type:
            self._counters.errors += 1
            raise SourceResponseError(
                f"{self.name}: transform did not return a {self.entity_type!r} Entity",
                adapter=self.name,
            )
        return entity

    def _is_deleted(self, raw: Any) -> bool:
        try:
            return bool(self.is_deleted(raw))
        except _SHAPE_ERRORS as exc:
            raise self._bad_shape(exc) from exc

    def _bad_shape(self, exc: Exception) -> SourceResponseError:
        # The exception's text (a record's keys, values) is for the log, not the caller.
        log.warning("%s: unexpected record shape: %r", self.name, exc)
        return SourceResponseError(
            f"{self.name}: unexpected record shape ({type(exc).__name__})", adapter=self.name
        )

    async def _call(
        self,
        op: str,
        fn: Callable[[httpx.AsyncClient], Awaitable[T]],
        *,
        retry: bool = True,
    ) -> T:
        """One logical source call through the resilience policy, with metrics and a span."""
        client = self.client
        self._counters.calls += 1
        started = self._clock()
        outcome = "cancelled"
        with span(f"adapter.{op}", attributes={"dictamesh.adapter": self.name}):
            try:
                result = await self.policy.run(lambda: self._hook(op, fn(client)), retry=retry)
                outcome = "success"
                return result
            except WriteRejected:
                outcome = "rejected"  # the source refused the write (stock, card): no error
                raise
            except SourceError as exc:
                self._counters.errors += 1
                outcome = "circuit_open" if isinstance(exc, CircuitOpenError) else "error"
                raise
            except DictaMeshError:
                outcome = "rejected"  # the source answered: not found, invalid query...
                raise
            except Exception:
                outcome = "error"
                raise
            finally:
                elapsed = self._clock() - started
                self._counters.latency.add(elapsed * 1000)
                self._counters.record_call(op, outcome, elapsed)
                for observer in self._call_observers:
                    observer(outcome, elapsed)

    async def _guarded(self, op: str, awaitable: Awaitable[T]) -> T:
        """Await a hook, turning httpx and parsing errors into typed SourceErrors; an error
        before any request was sent is the caller's or ours, never the source's."""
        with track() as exchange:
            try:
                return await awaitable
            except DictaMeshError:
                raise
            except _SHAPE_ERRORS as exc:
                if not exchange.sent:
                    raise self._unsent_error(op, exc) from exc
                raise

    def _unsent_error(self, op: str, exc: Exception) -> DictaMeshError:
        if isinstance(exc, UnicodeEncodeError):
            # a caller's text the edge should have refused: still theirs, not the source's
            return InvalidInput(f"{self.name}: a value of the request cannot be sent as UTF-8")
        log.error("%s: %s failed before sending its request", self.name, op, exc_info=exc)
        return InternalError(f"{self.name}: internal error in {op}", adapter=self.name)

    async def _hook(self, op: str, awaitable: Awaitable[T]) -> T:
        """:meth:`_guarded` plus the mapping of httpx and parsing errors."""
        try:
            return await self._guarded(op, awaitable)
        except DictaMeshError:
            raise
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(
                f"{self.name}: {op} timed out", adapter=self.name, reason="timeout"
            ) from exc
        except httpx.HTTPStatusError as exc:
            raise self._status_error(op, exc.response) from exc
        except httpx.HTTPError as exc:
            # hosts, addresses and OS errors are for the log, not the caller
            log.warning("%s: %s failed: %r", self.name, op, exc)
            raise SourceUnavailable(
                f"{self.name}: {op} failed ({type(exc).__name__})", adapter=self.name
            ) from exc
        except _SHAPE_ERRORS as exc:
            log.warning("%s: %s got an unexpected answer: %r", self.name, op, exc)
            raise SourceResponseError(
                f"{self.name}: {op} got an unexpected answer ({type(exc).__name__})",
                adapter=self.name,
            ) from exc

    def _status_error(self, op: str, response: httpx.Response) -> SourceError:
        status = response.status_code
        if status == 429:
            return SourceRateLimited(
                f"{self.name} rate-limited {op}",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                adapter=self.name,
            )
        if status >= 500:
            return SourceUnavailable(f"{self.name}: {op} got HTTP {status}", status=status)
        if status == 408:  # the source gave up waiting: about its health, not the request
            return SourceResponseError(f"{self.name}: {op} got HTTP {status}", status=status)
        return SourceRejectedRequest(f"{self.name}: {op} got HTTP {status}", status=status)

    def _overrides(self, hook: str) -> bool:
        return getattr(type(self), hook) is not getattr(AdapterBase, hook)

    def _detected_capabilities(self) -> frozenset[AdapterCapability]:
        found = set()
        if self._overrides("fetch_many"):
            found.add(AdapterCapability.BATCH_GET)
        if self._overrides("fetch_changed_since"):
            found.add(AdapterCapability.CHANGE_POLLING)
        if self._overrides("parse_webhook"):
            found.add(AdapterCapability.WEBHOOKS)
        if any(self._overrides(h) for h in ("write_create", "write_update", "write_delete")):
            found.add(AdapterCapability.WRITE)
        if self._overrides("write_command") and self.commands:
            found.add(AdapterCapability.COMMANDS)
        return frozenset(found)

    def _on_retry(self, attempt: int, exc: BaseException, wait: float) -> None:
        self._counters.retries += 1
        log.info("%s: attempt %d failed (%s); retrying in %.2fs", self.name, attempt, exc, wait)

    def _on_breaker_change(self, name: str, old: BreakerState, new: BreakerState) -> None:
        key = (old.value, new.value)
        self._counters.breaker_transitions[key] = self._counters.breaker_transitions.get(key, 0) + 1
        # the breaker itself logs the change (structured, with its reason)
