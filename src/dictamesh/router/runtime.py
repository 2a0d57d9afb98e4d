"""A node's event router, assembled from settings and the node's parts.

Everything that can be wrong in the rules fails :meth:`NodeRouter.check` /
:meth:`NodeRouter.build` before anything runs (``dictamesh router`` exits 2 naming the
file and line). The node then runs two supervised tasks: :meth:`consume` (consumer group
``router.group``, default ``dictamesh-router``: nodes sharing it share the work) and
:meth:`watch` (reloads ``router.rules_file`` on change; a bad set is refused and the old
one keeps running).

Example::

    router = NodeRouter.build(settings, bus=bus, sources=node.topics,
                              serializer=node.serializer, metrics=node.metrics)
    await router.start()                     # target topics created
    await router.consume(stop)               # until stop is set
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import pydantic

from dictamesh.core.models import HealthState, HealthStatus
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.bus import EventBus
from dictamesh.events.consume import ConsumerStats, run_consumer
from dictamesh.events.serde import Serializer
from dictamesh.events.topics import TopicSpec
from dictamesh.governance.runtime import masker_from_settings
from dictamesh.observability.metrics import MeshMetrics
from dictamesh.router.codec import RouterCodec
from dictamesh.router.engine import Router
from dictamesh.router.errors import RouterConfigError
from dictamesh.router.loader import RulesLoader
from dictamesh.router.metrics import RouterMetrics
from dictamesh.router.rules import RuleSet
from dictamesh.router.topics import target_spec

__all__ = ["NodeRouter"]

log = logging.getLogger("dictamesh.router")


class NodeRouter:
    def __init__(
        self,
        settings: DictaMeshSettings,
        *,
        bus: EventBus,
        loader: RulesLoader,
        router: Router,
        sources: Sequence[str],
        metrics: RouterMetrics | None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.loader = loader
        self.router = router
        self.sources = list(sources)
        self.metrics = metrics
        self.stats = ConsumerStats()
        #: the topics the consumer reads now
        self.topics: list[str] = router.rules.subscription(self.sources)
        self._resubscribe = asyncio.Event()

    @property
    def group(self) -> str:
        return self.settings.router.group

    @property
    def rules(self) -> RuleSet:
        return self.router.rules

    @staticmethod
    def check(settings: DictaMeshSettings, sources: Sequence[str] = ()) -> RuleSet:
        """Compile the rules without a bus (``dictamesh router`` / ``serve`` at start):
        raises :class:`RouterConfigError` naming the file and line of every problem."""
        _check_dead_letter_topic(settings)
        loader = RulesLoader(
            settings, codec=RouterCodec(), masker=masker_from_settings(settings), sources=[*sources]
        )
        return loader.load()

    @classmethod
    def build(
        cls,
        settings: DictaMeshSettings,
        *,
        bus: EventBus,
        sources: Sequence[str],
        serializer: Serializer | None = None,
        metrics: MeshMetrics | None = None,
    ) -> NodeRouter:
        config = settings.router
        _check_dead_letter_topic(settings)
        observed = RouterMetrics(metrics.registry) if metrics is not None else None
        codec = RouterCodec(serializer)
        loader = RulesLoader(
            settings,
            codec=codec,
            masker=masker_from_settings(settings),
            sources=list(sources or config.sources),
            on_predicate_error=(
                (lambda rule: observed.predicate_errors.labels(rule).inc())
                if observed is not None
                else None
            ),
        )
        rules = loader.load()
        router = Router(
            bus,
            rules,
            codec=codec,
            topic_spec=lambda topic: target_spec(settings.bus.topics, topic),
            dead_letter_topic=config.dead_letter_topic,
            strict_tenants=settings.tenancy.topic_prefix_per_tenant,
            metrics=observed,
        )
        node_router = cls(
            settings,
            bus=bus,
            loader=loader,
            router=router,
            sources=loader.sources,
            metrics=observed,
        )
        if metrics is not None:  # consumed, retried, lag of the group
            node_router.stats = metrics.watch_consumer(
                bus, config.group, lambda: node_router.topics, ConsumerStats()
            )
        return node_router

    async def start(self) -> None:
        """Create the target topics (before the first event is routed)."""
        await self.router.ensure_targets()
        if not self.topics:
            log.warning(
                "the router's rules read none of its source topics (%s)",
                ", ".join(self.sources) or "none: no adapters and no router.sources",
            )

    # --- the node's tasks -----------------------------------------------------------------

    async def consume(self, stop: asyncio.Event) -> None:
        """Route until ``stop``; a reload that changes which topics the rules read
        restarts the consumer on the new topics (uncommitted records are read again)."""
        config = self.settings.router
        while not stop.is_set():
            self._resubscribe = inner = asyncio.Event()
            self.topics = self.rules.subscription(self.sources)
            link = asyncio.create_task(_set_when(stop, inner))
            try:
                if not self.topics:
                    await inner.wait()
                    continue
                await run_consumer(
                    self.bus,
                    config.group,
                    self.topics,
                    self.router.handle,
                    max_attempts=config.max_attempts or self.settings.bus.max_delivery_attempts,
                    batch_size=config.batch_size,
                    stop=inner,
                    stats=self.stats,
                )
            finally:
                link.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await link

    async def watch(self, stop: asyncio.Event | None = None) -> None:
        """Poll the rules file every ``router.reload_interval_seconds`` (no file: return)."""
        if self.loader.path is None:
            return
        interval = self.settings.router.reload_interval_seconds
        while stop is None or not stop.is_set():
            if stop is None:
                await asyncio.sleep(interval)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
                if stop.is_set():
                    return
            await self.reload()

    async def reload(self) -> bool:
        """Check the rules file once; ``True`` when a new rule set now runs."""
        failures = self.loader.failures
        try:
            rules = self.loader.poll()
            if rules is not None:
                # targets exist before the first record is routed to them
                await self.router.ensure_targets(rules)
        except Exception as exc:  # e.g. the bus refused a target topic: keep the old set
            self.loader.failures += 1
            self.loader.last_error = f"{type(exc).__name__}: {exc}"
            log.error("router rules refused, the previous rules keep running: %s", exc)
            rules = None
        if self.metrics is not None and self.loader.failures > failures:
            self.metrics.reload_failures.inc(self.loader.failures - failures)
        if rules is None:
            return False
        self.router.replace(rules)
        if self.metrics is not None:
            self.metrics.reloads.inc()
        log.info(
            "router rules version %s loaded from %s (%s rules)",
            rules.version,
            rules.origin,
            len(rules.rules),
        )
        if rules.subscription(self.sources) != self.topics:
            self._resubscribe.set()
        return True

    def health(self) -> HealthStatus:
        """``/ready``'s ``router`` check: the rules loaded (and the last reload's fate)."""
        rules = self.rules
        details: dict[str, object] = {
            "rule_set_version": rules.version,
            "rules": len(rules.rules),
            "origin": rules.origin,
            "topics": list(self.topics),
        }
        state = HealthState.HEALTHY
        if self.loader.last_error is not None:
            details["last_reload_error"] = self.loader.last_error
            state = HealthState.DEGRADED  # still routing with the previous rules
        return HealthStatus(status=state, details=details)


async def _set_when(stop: asyncio.Event, inner: asyncio.Event) -> None:
    await stop.wait()
    inner.set()


def _check_dead_letter_topic(settings: DictaMeshSettings) -> None:
    topic = settings.router.dead_letter_topic
    if topic is None:
        return
    try:
        TopicSpec(name=topic)
    except pydantic.ValidationError as exc:
        raise RouterConfigError(
            f"router.dead_letter_topic {topic!r} is not a topic name"
            " '<domain>.<source>.<event_type>'"
        ) from exc
