"""One mesh node assembled from settings: adapters + bus + catalog + cache + APIs.

The node runs three kinds of background work beside the ASGI app:

* change capture — per adapter, ``stream_changes()`` → publish to the adapter's topic;
* catalog ingest — consumer group ``dictamesh-catalog-ingest`` (one per mesh: with Kafka,
  nodes share the work) writes events into the catalog, idempotently;
* cache invalidation — consumer group ``dictamesh-cache-<node>`` (one per node: every node
  must drop its own copies) invalidates cached entities on every change.

Example::

    async with MeshNode(settings) as node:
        app = node.asgi_app()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dictamesh.adapters.base import AdapterBase
from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.adapters.state import SqliteChangeStateStore
from dictamesh.api.app import ApiContext, create_app
from dictamesh.cache.keys import entity_key
from dictamesh.cache.memory import MemoryCache
from dictamesh.cache.tiered import TieredCache
from dictamesh.catalog.ingest import CatalogIngestor
from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import SerializationError
from dictamesh.core.models import HealthState, HealthStatus
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.bus import EventBus, Message
from dictamesh.events.consume import run_consumer
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.serde import JsonEventSerializer, Serializer
from dictamesh.events.topics import DEFAULT_TOPICS, TopicSpec

__all__ = ["INGEST_GROUP", "MeshNode", "build_bus"]

log = logging.getLogger("dictamesh.node")

INGEST_GROUP = "dictamesh-catalog-ingest"


def build_bus(settings: DictaMeshSettings) -> EventBus:
    """The configured event bus backend (heavy clients are imported only when chosen)."""
    if settings.bus.backend == "kafka":
        from dictamesh.events.kafka import KafkaBus

        return KafkaBus(settings.bus.kafka_bootstrap, client_id=settings.node_name)
    from dictamesh.events.embedded import EmbeddedBus

    settings.bus.path.parent.mkdir(parents=True, exist_ok=True)
    return EmbeddedBus(settings.bus.path)


def _build_cache(settings: DictaMeshSettings) -> TieredCache:
    layers: list[Any] = [
        MemoryCache(max_entries=settings.cache.l1_max_entries, ttl=settings.cache.l1_ttl_seconds)
    ]
    if settings.cache.redis_url:
        from dictamesh.cache.redis import RedisCache

        layers.append(RedisCache(settings.cache.redis_url, ttl=settings.cache.l1_ttl_seconds * 5))
    return TieredCache(layers)


class MeshNode:
    def __init__(
        self,
        settings: DictaMeshSettings,
        *,
        adapters: Sequence[AdapterBase] | None = None,
        serializer: Serializer | None = None,
    ) -> None:
        self.settings = settings
        self.registry = AdapterRegistry()
        self.cache = _build_cache(settings)
        self.bus: EventBus = build_bus(settings)
        self.serializer: Serializer = serializer or JsonEventSerializer()
        self.publisher = EventPublisher(self.bus, self.serializer)
        self._extra_adapters = list(adapters or [])
        self._state = SqliteChangeStateStore(Path(settings.state_dir) / "changes.sqlite3")
        self._catalog: CatalogService | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._stop = asyncio.Event()
        self._started = False

    @property
    def catalog(self) -> CatalogService:
        if self._catalog is None:
            raise RuntimeError("node not started")
        return self._catalog

    @property
    def topics(self) -> list[str]:
        return sorted(
            {
                f"{a.source.domain}.{a.source.system}.entity_changed"
                for a in self.registry.adapters()
            }
        )

    async def start(self) -> None:
        if self._started:
            return
        Path(self.settings.state_dir).mkdir(parents=True, exist_ok=True)
        self._catalog = await CatalogService.open(
            self.settings.catalog.url, migrate=self.settings.catalog.migrate_on_start
        )
        await self.bus.connect()
        for config in self.settings.adapters:
            self.registry.register(self.registry.build(config, cache=self.cache, state=self._state))
        for extra in self._extra_adapters:
            self.registry.register(extra)
        for registered in self.registry.adapters():
            await registered.connect()
            await self.catalog.register_schema(registered.get_schema())
        specs = {s.name: s for s in DEFAULT_TOPICS}
        for topic in self.topics:
            await self.bus.ensure_topic(specs.get(topic, TopicSpec(name=topic)))

        ingestor = CatalogIngestor(self.catalog, self.registry.schemas())
        self._spawn("catalog-ingest", self._run_ingest(ingestor))
        self._spawn("cache-invalidation", self._run_invalidation())
        for member in self.registry.adapters():
            self._spawn(f"capture:{member.name}", self._capture(member))
        self._started = True

    def _spawn(self, name: str, coro: Any) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def _capture(self, adapter: Any) -> None:
        # A failing source must not kill capture: the adapter's own breaker/backoff decide
        # how often we ask again; here we only keep the loop alive and log.
        while not self._stop.is_set():
            try:
                async for event in adapter.stream_changes():
                    await self.publisher.publish_event(event)
                    if self._stop.is_set():
                        return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("change capture for %s failed; retrying", adapter.name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=1.0)

    async def _run_ingest(self, ingestor: CatalogIngestor) -> None:
        async def handle(batch: list[Message]) -> None:
            events = [(self.serializer.decode(m.value, m.headers), m.topic) for m in batch]
            await ingestor.handle_batch(events)

        await run_consumer(
            self.bus,
            INGEST_GROUP,
            self.topics,
            handle,
            max_attempts=self.settings.bus.max_delivery_attempts,
            stop=self._stop,
        )

    async def _run_invalidation(self) -> None:
        async def handle(batch: list[Message]) -> None:
            for message in batch:
                try:
                    event = self.serializer.decode(message.value, message.headers)
                except SerializationError:
                    continue  # ingest dead-letters it; nothing to invalidate
                await self.cache.invalidate(
                    entity_key(event.tenant_id, event.entity.type, event.entity.id)
                )

        await run_consumer(
            self.bus,
            f"dictamesh-cache-{self.settings.node_name}",
            self.topics,
            handle,
            stop=self._stop,
        )

    async def readiness(self) -> dict[str, HealthStatus]:
        checks: dict[str, HealthStatus] = {}
        checks["catalog"] = await _probe(self.catalog.ping)
        checks["bus"] = await _probe(self.bus.ping)
        for adapter in self.registry.adapters():
            try:
                checks[f"adapter:{adapter.name}"] = await adapter.health_check()
            except Exception as exc:  # a health check must report, never raise
                checks[f"adapter:{adapter.name}"] = HealthStatus(
                    status=HealthState.UNHEALTHY, details={"error": str(exc)}
                )
        return checks

    def asgi_app(self) -> Any:
        return create_app(
            ApiContext(registry=self.registry, catalog=self.catalog, readiness=self.readiness)
        )

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for adapter in self.registry.adapters():
            await adapter.aclose()
        await self.bus.aclose()
        if self._catalog is not None:
            await self._catalog.aclose()
        self._started = False

    async def __aenter__(self) -> MeshNode:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _probe(check: Any) -> HealthStatus:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        ok = await asyncio.wait_for(check(), timeout=2.0)
    except Exception as exc:
        return HealthStatus(status=HealthState.UNHEALTHY, details={"error": str(exc)})
    latency = (loop.time() - started) * 1000
    return HealthStatus(
        status=HealthState.HEALTHY if ok is not False else HealthState.UNHEALTHY,
        latency_ms=round(latency, 2),
    )
