"""A node's notifications, assembled from settings and the node's parts.

Everything that can be wrong in the configuration — a template that does not compile, a
predicate that does not parse, a channel kind that does not exist or lacks a field — fails
:meth:`NodeNotifications.build`, before the node serves (``dictamesh serve`` exits 2 naming
the YAML line).

The node then runs three supervised tasks: :meth:`consume` (consumer group
``dictamesh-notifications``, shared by the mesh's nodes: the rules run once per event),
:meth:`deliver` (the outbox worker, on every node) and :meth:`monitor` (outbox depth, DLQ
growth).

Example::

    notifications = NodeNotifications.build(settings, node="node-1", database=db, bus=bus,
                                            governance=gov, schemas=registry.schemas)
    await notifications.start(entity_topics)
    ...
    await notifications.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.core.errors import PermissionDenied, SerializationError
from dictamesh.core.lifecycle import run_together
from dictamesh.core.models import EntitySchema
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.events.bus import EventBus, Message
from dictamesh.events.consume import run_consumer
from dictamesh.events.relay import EventRelay
from dictamesh.events.serde import JsonEventSerializer, Serializer
from dictamesh.governance.enforce import Governance
from dictamesh.notifications.channels.base import Channel
from dictamesh.notifications.channels.registry import build_channel
from dictamesh.notifications.inbox_store import InboxStore
from dictamesh.notifications.metrics import NotificationMetrics
from dictamesh.notifications.monitors import MONITOR_TOPICS, DlqMonitor, OutboxMonitor
from dictamesh.notifications.notifier import Notifier
from dictamesh.notifications.recipients import Directory
from dictamesh.notifications.rules import EventView, RuleSet
from dictamesh.notifications.service import NotificationService
from dictamesh.notifications.store import NotificationStore
from dictamesh.notifications.templates import TemplateSet
from dictamesh.notifications.worker import DeliveryWorker
from dictamesh.tenancy import event_for_topic

__all__ = ["NOTIFY_GROUP", "NodeNotifications"]

log = logging.getLogger("dictamesh.notifications")

NOTIFY_GROUP = "dictamesh-notifications"


class _ConfigCheckInbox:
    """The in-app channel's inbox while only its configuration is checked (never written)."""

    async def add_to_inbox(self, message: object) -> str:
        raise RuntimeError("a channel built to check its configuration sends nothing")


_NO_INBOX = _ConfigCheckInbox()


@dataclass
class NodeNotifications:
    settings: DictaMeshSettings
    bus: EventBus
    service: NotificationService
    notifier: Notifier
    worker: DeliveryWorker
    channels: dict[str, Channel]
    rules: RuleSet
    relay: EventRelay
    outbox: OutboxMonitor
    dlq: DlqMonitor | None
    serializer: Serializer = field(default_factory=JsonEventSerializer)
    #: the topics the rules listen on (set by :meth:`start`)
    topics: list[str] = field(default_factory=list)

    @staticmethod
    def check(settings: DictaMeshSettings) -> None:
        """Everything :meth:`build` checks without a database or a bus: templates compile,
        predicates parse, every channel builds. Raises
        :class:`~dictamesh.notifications.errors.NotificationConfigError` (or the channel's
        :class:`~dictamesh.core.errors.ConfigurationError`) naming the YAML line."""
        config = settings.notifications
        templates = TemplateSet.build(config, source_file=settings.source_file)
        RuleSet.compile(config.rules, templates.compile_predicate)
        for name, channel_config in config.channels.items():
            # in_app is given its inbox by build(); here only its config is checked
            channel = build_channel(name, channel_config, inbox=_NO_INBOX)
            del channel

    @classmethod
    def build(
        cls,
        settings: DictaMeshSettings,
        *,
        node: str,
        database: CatalogDatabase,
        bus: EventBus,
        governance: Governance | None = None,
        schemas: Callable[[], Mapping[str, EntitySchema]] = dict,
        metrics: CollectorRegistry | None = None,
        dead_lettered: Callable[[], Mapping[str, int]] | None = None,
        serializer: Serializer | None = None,
    ) -> NodeNotifications:
        config = settings.notifications
        templates = TemplateSet.build(config, source_file=settings.source_file)
        rules = RuleSet.compile(config.rules, templates.compile_predicate)
        store = NotificationStore(database)
        inbox = InboxStore(database)
        channels = {
            name: build_channel(name, channel_config, inbox=inbox)
            for name, channel_config in config.channels.items()
        }
        directory = Directory(config.recipients)
        observed = NotificationMetrics(metrics) if metrics is not None else None
        if observed is not None:
            observed.prepare(channels)
        notifier = Notifier(
            config,
            store=store,
            inbox=inbox,
            templates=templates,
            rules=rules,
            address_fields={n: c.address_field for n, c in channels.items()},
            governance=governance,
            schemas=schemas,
            metrics=observed,
        )
        worker = DeliveryWorker(
            store,
            channels,
            directory=directory,
            rules={r.name: r for r in config.rules},
            render_digest=notifier.render_digest,
            settings=config.worker,
            node=node,
            metrics=observed,
            send_timeout={n: c.timeout_seconds for n, c in config.channels.items()},
            rates={n: (c.rate_per_second, c.burst) for n, c in config.channels.items()},
            max_in_flight={n: c.max_in_flight for n, c in config.channels.items()},
        )
        relay = EventRelay(bus, what="notification monitors")
        return cls(
            settings=settings,
            bus=bus,
            service=NotificationService(store, inbox, worker.wake),
            notifier=notifier,
            worker=worker,
            channels=channels,
            rules=rules,
            relay=relay,
            outbox=OutboxMonitor(
                store,
                relay,
                node=node,
                alert_depth=config.worker.outbox_alert_depth,
                metrics=observed,
            ),
            dlq=DlqMonitor(dead_lettered, relay, node=node) if dead_lettered else None,
            serializer=serializer or JsonEventSerializer(),
        )

    async def start(self, entity_topics: Sequence[str], system_topics: Sequence[str]) -> None:
        """Create the monitors' topics and choose what the rules listen on: the node's
        entity topics and the system topics (breaker, sagas, monitors) a rule's pattern
        matches."""
        for spec in MONITOR_TOPICS:
            await self.bus.ensure_topic(spec)
        known = [*entity_topics, *system_topics, *(s.name for s in MONITOR_TOPICS)]
        patterns = self.rules.topic_patterns()
        every_entity = self.rules.wants_all_entity_topics()
        chosen: dict[str, None] = {}
        for topic in known:
            if any(p.match(topic) for p in patterns) or (every_entity and topic in entity_topics):
                chosen[topic] = None
        self.topics = list(chosen)
        self._entity_topics = frozenset(entity_topics)

    # --- the node's tasks -----------------------------------------------------------------

    async def consume(self, stop: asyncio.Event) -> None:
        if not self.topics:
            await stop.wait()  # no rule listens: nothing to consume
            return
        await run_consumer(
            self.bus,
            NOTIFY_GROUP,
            self.topics,
            self.handle,
            max_attempts=self.settings.bus.max_delivery_attempts,
            stop=stop,
        )

    async def handle(self, batch: list[Message]) -> None:
        """The consumer's batch handler: decode, run the rules, enqueue; wake the worker."""
        views: list[EventView] = []
        strict = self.settings.tenancy.topic_prefix_per_tenant
        for message in batch:
            try:
                if message.topic in self._entity_topics:
                    await self.serializer.resolve(message.value)  # an unseen Avro schema
                    event = event_for_topic(
                        self.serializer.decode(message.value, message.headers),
                        message.topic,
                        strict=strict,
                    )
                    views.append(EventView.of_change(event, message.topic))
                else:
                    body = json.loads(message.value)
                    if not isinstance(body, dict):
                        raise SerializationError("a mesh event must be a JSON object")
                    fallback = f"{message.topic}:{message.partition}:{message.offset}"
                    views.append(EventView.of_mesh_event(body, message.topic, fallback_id=fallback))
            except (SerializationError, PermissionDenied, ValueError):
                # the ingest dead-letters bad change events; a notification never needs them
                log.warning("notifications skip an undecodable message on %s", message.topic)
        await self.handle_views(views)

    async def handle_views(self, views: Sequence[EventView]) -> int:
        """Run the rules on decoded events and enqueue; the rows created (a redelivered
        event creates none). Wakes this node's worker when there is something to send."""
        if not views:
            return 0
        created = await self.notifier.handle(views)
        if created:
            self.worker.wake()
        return len(created)

    async def deliver(self, stop: asyncio.Event | None = None) -> None:
        await self.worker.run(stop)

    async def monitor(self) -> None:
        loops = [self.outbox.run(), self.relay.run()]
        if self.dlq is not None:
            loops.append(self.dlq.run())
        await run_together(*loops)

    async def aclose(self) -> None:
        await self.relay.flush_on_close()
        for channel in self.channels.values():
            with contextlib.suppress(Exception):
                await channel.aclose()
