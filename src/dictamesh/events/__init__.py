"""Event bus: topics, serialization, the embedded durable log and the Kafka backend.

Backends are plugins (entry-point group ``dictamesh.buses``, :mod:`dictamesh.events.registry`);
the Kafka backend is imported only when selected, so this face needs no optional extra.

Example::

    from dictamesh.events import EmbeddedBus, EventPublisher, topic_name

    async with EmbeddedBus(".dictamesh/bus.sqlite3") as bus:
        await EventPublisher(bus).publish_event(event)   # to <domain>.<source>.<event_type>
"""

from dictamesh.events.bus import Consumer, EventBus, Message, RecordMetadata
from dictamesh.events.consume import ConsumerStats, consume_events
from dictamesh.events.embedded import EmbeddedBus, EmbeddedConsumer
from dictamesh.events.fanout import ChangeFeed, ChangeSubscription
from dictamesh.events.publisher import EventPublisher
from dictamesh.events.registry import build_bus, bus_backends
from dictamesh.events.serde import JsonEventSerializer, Serializer
from dictamesh.events.topics import TopicSpec, dlq_topic, parse_topic, topic_name

__all__ = [
    "ChangeFeed",
    "ChangeSubscription",
    "Consumer",
    "ConsumerStats",
    "EmbeddedBus",
    "EmbeddedConsumer",
    "EventBus",
    "EventPublisher",
    "JsonEventSerializer",
    "Message",
    "RecordMetadata",
    "Serializer",
    "TopicSpec",
    "build_bus",
    "bus_backends",
    "consume_events",
    "dlq_topic",
    "parse_topic",
    "topic_name",
]
