"""Keeps the catalog's embeddings up to date (``docs/search.md``, "Indexing").

The catalog ingest hands each committed batch to :meth:`SearchIndexer.ingested` (the node's
``on_outcome`` hook: called after the commit, it only records keys and never waits). A
background task then embeds, in batches:

* repeated changes of one entity wait as one key (the queue holds keys, not events), and
  the entity's row is read when its turn comes, so the latest committed state is what is
  embedded, whatever order the changes came in;
* the entity's text (:class:`~dictamesh.search.fields.FieldChooser`: fields no caller could
  be kept from reading) is hashed; the provider is called only when the hash, the model or
  the dimensions differ from the stored vectors' (a change of a field that is not embedded
  costs one lookup, no embedding);
* a deleted (or erased) entity, or one with no text left, loses its vectors;
* the queue is bounded (``max_pending``): past it new keys are dropped and a reconcile is
  scheduled, which finds them again;
* a provider failure puts the batch back and waits (exponential backoff up to
  ``max_backoff``): nothing is lost, the entries merely stay stale meanwhile;
* on start, and after an overflow, :meth:`reconcile` walks every tenant's active entities
  and embeds what has no vector, a stale one (another model, a crash between ingest and
  embedding) or changed text, and deletes vectors whose entity is gone.

Example::

    indexer = SearchIndexer(database, store, provider, FieldChooser(policy, {}), schemas)
    ingestor_on_outcome = indexer.ingested
    await indexer.run(stop)               # reconcile, then follow the ingest
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, tuple_

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.catalog.ingest import IngestOutcome
from dictamesh.catalog.tables import ENTITY
from dictamesh.core.errors import DictaMeshError
from dictamesh.core.models import EntitySchema
from dictamesh.core.settings import SearchSettings
from dictamesh.embeddings.base import EmbeddingProvider, EmbeddingProviderError
from dictamesh.governance.policy import PolicyEngine
from dictamesh.search.chunking import chunks
from dictamesh.search.fields import FieldChooser, text_hash
from dictamesh.search.metrics import IndexerMetrics
from dictamesh.search.store import EntityVectors, VectorStore
from dictamesh.search.tables import after_key

__all__ = ["IndexReport", "SearchIndexer", "schemas_by_type"]

log = logging.getLogger(__name__)

Key = tuple[str, str, str]
"""(tenant, entity type, entity id)"""

#: entities read per catalog query while reconciling
_PAGE = 500


@dataclass(slots=True)
class IndexReport:
    """What one :meth:`SearchIndexer.index` or :meth:`SearchIndexer.reconcile` did."""

    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0
    #: entities changed again while being embedded (queued once more)
    requeued: int = 0
    chunks: int = 0
    keys: list[Key] = field(default_factory=list)

    def add(self, other: IndexReport) -> None:
        self.embedded += other.embedded
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.requeued += other.requeued
        self.chunks += other.chunks


def schemas_by_type(schemas: Mapping[str, EntitySchema]) -> dict[str, EntitySchema]:
    """Every entity type's schema, nested item types included (they are entities too)."""
    out: dict[str, EntitySchema] = {}

    def walk(schema: EntitySchema) -> None:
        out.setdefault(schema.entity_type, schema)
        for nested in schema.nested.values():
            walk(nested)

    for schema in schemas.values():
        walk(schema)
    return out


@dataclass(frozen=True, slots=True)
class _Row:
    entity_type: str
    entity_id: str
    domain: str
    source_system: str
    version: int
    attributes: Mapping[str, Any]
    active: bool


class SearchIndexer:
    """Embeds changed catalog entries in the background (see the module doc)."""

    def __init__(
        self,
        database: CatalogDatabase,
        store: VectorStore,
        provider: EmbeddingProvider,
        chooser: FieldChooser,
        schemas: Callable[[], Mapping[str, EntitySchema]],
        *,
        chunk_chars: int = 1000,
        chunk_overlap: int = 100,
        batch_size: int = 64,
        timeout_seconds: float = 10.0,
        max_pending: int = 10_000,
        metrics: IndexerMetrics | None = None,
        min_backoff: float = 0.5,
        max_backoff: float = 60.0,
    ) -> None:
        self.database = database
        self.store = store
        self.provider = provider
        self.chooser = chooser
        self.schemas = schemas
        self.chunk_chars = chunk_chars
        self.chunk_overlap = chunk_overlap
        self.batch_size = batch_size
        self.timeout_seconds = timeout_seconds
        self.max_pending = max_pending
        self.metrics = metrics
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._pending: OrderedDict[Key, None] = OrderedDict()
        self._wake = asyncio.Event()
        self._overflowed = False
        #: entities dropped because the queue was full (found again by the next reconcile)
        self.dropped = 0
        #: provider failures since start
        self.failures = 0
        self.reconciled = asyncio.Event()
        if metrics is not None:
            metrics.watch(lambda: len(self._pending))

    @classmethod
    def from_settings(
        cls,
        database: CatalogDatabase,
        store: VectorStore,
        provider: EmbeddingProvider,
        policy: PolicyEngine,
        schemas: Callable[[], Mapping[str, EntitySchema]],
        settings: SearchSettings,
        *,
        metrics: IndexerMetrics | None = None,
    ) -> SearchIndexer:
        return cls(
            database,
            store,
            provider,
            FieldChooser(policy, settings.fields),
            schemas,
            chunk_chars=settings.chunk_chars,
            chunk_overlap=settings.chunk_overlap,
            batch_size=settings.embeddings.batch_size,
            timeout_seconds=settings.embeddings.timeout_seconds,
            max_pending=settings.index_queue_size,
            metrics=metrics,
        )

    @property
    def pending(self) -> int:
        return len(self._pending)

    # --- feeding ------------------------------------------------------------------------------

    def ingested(self, outcome: IngestOutcome) -> None:
        """The ingest's ``on_outcome``: queue the entities its committed batch changed."""
        for event, _topic in outcome.events:
            tenant = self.database.tenant(event.tenant_id)
            self.enqueue(tenant, event.entity.type, event.entity.id)

    def enqueue(self, tenant: str, entity_type: str, entity_id: str) -> None:
        """Queue one entity (once however often it changes before its turn); never blocks."""
        key = (tenant, entity_type, entity_id)
        if key in self._pending:
            return
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            self._overflowed = True  # the next reconcile finds it
            self._wake.set()
            return
        self._pending[key] = None
        self._wake.set()

    # --- running ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Reconcile, then embed what the ingest queues until ``stop`` is set."""
        await self._with_retries(self.reconcile, stop)
        self.reconciled.set()
        while stop is None or not stop.is_set():
            if not self._pending and not self._overflowed:
                self._wake.clear()
                await _wait_either(self._wake, stop)
                continue
            await self.drain(stop)
            if self._overflowed:
                self._overflowed = False
                await self._with_retries(self.reconcile, stop)

    async def drain(self, stop: asyncio.Event | None = None) -> IndexReport:
        """Embed everything queued now (provider failures: back off and try again)."""
        total = IndexReport()
        delay = self.min_backoff
        while self._pending and (stop is None or not stop.is_set()):
            batch = [self._pending.popitem(last=False)[0] for _ in range(self._take())]
            failure: BaseException
            try:
                total.add(await self.index(batch))
                delay = self.min_backoff
                continue
            except DictaMeshError as exc:
                if exc.http_status < 500:  # a text refused, not an outage: find which
                    total.add(await self._one_by_one(batch))
                    continue
                failure = exc
            except Exception as exc:
                failure = exc
            self._requeue(batch, failure)
            if await _wait_either(None, stop, timeout=delay):
                break
            delay = min(delay * 2, self.max_backoff)
        return total

    def _requeue(self, batch: Sequence[Key], exc: BaseException) -> None:
        # back at the front, in order: nothing is lost, it just stays stale a while
        for key in reversed(batch):
            self._pending[key] = None
            self._pending.move_to_end(key, last=False)
        self._failed(exc, len(batch))

    async def _one_by_one(self, batch: Sequence[Key]) -> IndexReport:
        """Index each key alone: one whose text the provider refuses (4xx) is skipped and
        logged; a provider outage puts the rest back."""
        report = IndexReport()
        for position, key in enumerate(batch):
            try:
                report.add(await self.index([key]))
            except DictaMeshError as exc:
                if exc.http_status >= 500:
                    self._requeue(batch[position:], exc)
                    break
                self._failed(exc, 1, retrying=False)
                # its text cannot be embedded: older vectors would stand for a text gone
                tenant, entity_type, entity_id = key
                await self.store.delete_many([(entity_type, entity_id)], tenant=tenant)
        return report

    def _take(self) -> int:
        return min(len(self._pending), max(1, self.batch_size))

    async def _with_retries(self, job: Callable[[], Any], stop: asyncio.Event | None) -> None:
        delay = self.min_backoff
        while stop is None or not stop.is_set():
            try:
                await job()
                return
            except Exception as exc:
                self._failed(exc, 0)
                if await _wait_either(None, stop, timeout=delay):
                    return
                delay = min(delay * 2, self.max_backoff)

    def _failed(self, exc: BaseException, entities: int, *, retrying: bool = True) -> None:
        self.failures += 1
        if self.metrics is not None and entities:
            self.metrics.embeddings.labels("failed").inc(entities)
        if retrying:
            log.warning("search indexer: %s (%d entities stay stale; retrying)", exc, entities)
        else:
            log.warning("search indexer: an entity's text was refused, not embedded: %s", exc)

    # --- indexing -----------------------------------------------------------------------------

    async def index(self, keys: Sequence[Key]) -> IndexReport:
        """Bring ``keys``' vectors up to date now (raises when the provider fails)."""
        report = IndexReport()
        by_tenant: dict[str, list[tuple[str, str]]] = {}
        for tenant, entity_type, entity_id in keys:
            by_tenant.setdefault(tenant, []).append((entity_type, entity_id))
        for tenant, refs in by_tenant.items():
            rows = await self._rows(tenant, refs)
            gone = [ref for ref in refs if ref not in rows or not rows[ref].active]
            report.add(await self._apply(tenant, [rows[r] for r in refs if r not in gone], gone))
        return report

    async def reconcile(self) -> IndexReport:
        """Every tenant: embed active entities with no, stale or outdated vectors; delete
        the vectors of entities that are gone."""
        report = IndexReport()
        for tenant in await self.database.tenants():
            after: tuple[str, str] | None = None
            while True:
                page = await self._page(tenant, after)
                if not page:
                    break
                after = (page[-1].entity_type, page[-1].entity_id)
                report.add(await self._apply(tenant, page, []))
            after = None
            while True:
                keys = await self.store.keys(tenant=tenant, after=after, limit=_PAGE)
                if not keys:
                    break
                after = keys[-1]
                rows = await self._rows(tenant, keys)
                gone = [k for k in keys if k not in rows or not rows[k].active]
                if gone:
                    report.add(await self._apply(tenant, [], gone))
        if report.embedded or report.deleted:
            log.info(
                "search indexer reconciled: %d embedded, %d deleted, %d unchanged",
                report.embedded,
                report.deleted,
                report.unchanged,
            )
        return report

    async def _apply(
        self, tenant: str, rows: Sequence[_Row], gone: Sequence[tuple[str, str]]
    ) -> IndexReport:
        report = IndexReport()
        schemas = schemas_by_type(self.schemas())
        texts: dict[tuple[str, str], tuple[_Row, str, str]] = {}
        empty: list[tuple[str, str]] = list(gone)
        for row in rows:
            text = self.chooser.text(row.entity_type, schemas.get(row.entity_type), row.attributes)
            if not text:
                empty.append((row.entity_type, row.entity_id))
                continue
            digest = text_hash(text, chunk_chars=self.chunk_chars, chunk_overlap=self.chunk_overlap)
            texts[(row.entity_type, row.entity_id)] = (row, text, digest)
        if empty:
            report.deleted = len(empty)
            await self.store.delete_many(empty, tenant=tenant)
        stored = await self.store.fingerprints(list(texts), tenant=tenant)
        todo = [
            (row, text, digest)
            for key, (row, text, digest) in texts.items()
            if not self.store.current(stored.get(key), digest)
        ]
        report.unchanged = len(texts) - len(todo)
        if todo:
            pieces = [
                chunks(text, chunk_chars=self.chunk_chars, overlap=self.chunk_overlap)
                for _, text, _ in todo
            ]
            vectors = await self._embed([p for part in pieces for p in part])
            entries: list[EntityVectors] = []
            position = 0
            for (row, _, digest), part in zip(todo, pieces, strict=True):
                entries.append(
                    EntityVectors(
                        tenant,
                        row.entity_type,
                        row.entity_id,
                        row.domain,
                        row.source_system,
                        digest,
                        vectors[position : position + len(part)],
                    )
                )
                position += len(part)
            await self.store.upsert(entries)
            report.embedded = len(entries)
            report.chunks = position
            # changed (or erased) while it was embedded: its turn comes again
            now = await self._rows(tenant, [(r.entity_type, r.entity_id) for r, _, _ in todo])
            for row, _, _ in todo:
                current = now.get((row.entity_type, row.entity_id))
                if current is None or current.version != row.version or not current.active:
                    report.requeued += 1
                    self.enqueue(tenant, row.entity_type, row.entity_id)
        if self.metrics is not None:
            self.metrics.embeddings.labels("embedded").inc(report.embedded)
            self.metrics.embeddings.labels("unchanged").inc(report.unchanged)
            self.metrics.embeddings.labels("deleted").inc(report.deleted)
        return report

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            part = texts[start : start + self.batch_size]
            began = time.perf_counter()
            try:
                vectors = await asyncio.wait_for(
                    self.provider.embed(part), timeout=self.timeout_seconds
                )
            except TimeoutError:
                raise EmbeddingProviderError(
                    f"embedding provider {self.provider.name!r} took over {self.timeout_seconds} s"
                ) from None
            finally:
                if self.metrics is not None:
                    self.metrics.latency.observe(time.perf_counter() - began)
            if len(vectors) != len(part):
                raise EmbeddingProviderError(
                    f"embedding provider {self.provider.name!r} returned {len(vectors)}"
                    f" vectors for {len(part)} texts"
                )
            out.extend([float(x) for x in v] for v in vectors)
        return out

    # --- catalog reads ------------------------------------------------------------------------

    async def _rows(
        self, tenant: str, refs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], _Row]:
        found: dict[tuple[str, str], _Row] = {}
        async with self.database.read(tenant) as conn:
            for start in range(0, len(refs), _PAGE):
                part = list(refs[start : start + _PAGE])
                result = await conn.execute(
                    _ENTITY_COLUMNS.where(
                        ENTITY.c.tenant_id == tenant,
                        tuple_(ENTITY.c.entity_type, ENTITY.c.entity_id).in_(part),
                    )
                )
                for row in result:
                    found[(row.entity_type, row.entity_id)] = _row(row)
        return found

    async def _page(self, tenant: str, after: tuple[str, str] | None) -> list[_Row]:
        query = (
            _ENTITY_COLUMNS.where(ENTITY.c.tenant_id == tenant, ENTITY.c.status == "active")
            .order_by(ENTITY.c.entity_type, ENTITY.c.entity_id)
            .limit(_PAGE)
        )
        if after is not None:
            query = query.where(after_key(ENTITY, after))
        async with self.database.read(tenant) as conn:
            return [_row(r) for r in await conn.execute(query)]


_ENTITY_COLUMNS = select(
    ENTITY.c.entity_type,
    ENTITY.c.entity_id,
    ENTITY.c.domain,
    ENTITY.c.source_system,
    ENTITY.c.version,
    ENTITY.c.attributes,
    ENTITY.c.status,
)


def _row(row: Any) -> _Row:
    return _Row(
        row.entity_type,
        row.entity_id,
        row.domain,
        row.source_system,
        int(row.version),
        row.attributes or {},
        row.status == "active",
    )


async def _wait_either(
    event: asyncio.Event | None, stop: asyncio.Event | None, *, timeout: float | None = None
) -> bool:
    """Wait for ``event`` or ``stop`` (or ``timeout``); whether ``stop`` is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in (event, stop) if e is not None]
    try:
        if waiters:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        elif timeout is not None:
            await asyncio.sleep(timeout)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return stop is not None and stop.is_set()
