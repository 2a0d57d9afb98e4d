"""How the router creates its target and dead-letter topics: ``bus.topics``' settings.

The first ``bus.topics`` entry whose glob matches a topic (without a tenant prefix) gives
its partitions, replication factor, retention and cleanup policy
(:func:`dictamesh.core.bus_config.topic_settings_for`); unset values keep
:class:`~dictamesh.events.topics.TopicSpec`'s defaults (3 partitions, 7 days).

Example::

    spec = target_spec(settings.bus.topics, "analytics.crm.customers_eu")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dictamesh.core.bus_config import TopicSettings, topic_settings_for
from dictamesh.events.topics import CleanupPolicy, TopicSpec

__all__ = ["target_spec"]


def target_spec(entries: Sequence[TopicSettings], topic: str) -> TopicSpec:
    settings = topic_settings_for(list(entries), _unprefixed(topic))
    if settings is None:
        return TopicSpec(name=topic)
    values: dict[str, Any] = {"name": topic}
    if settings.partitions is not None:
        values["partitions"] = settings.partitions
    if settings.replication_factor is not None:
        values["replication_factor"] = settings.replication_factor
    if settings.keeps_forever:
        values["retention_ms"] = None
    elif settings.retention_ms is not None:
        values["retention_ms"] = settings.retention_ms
    if settings.cleanup_policy is not None and not topic.endswith(".dlq"):
        # a compacted DLQ would keep only the last poison message per key
        values["cleanup_policy"] = CleanupPolicy(settings.cleanup_policy.value)
    return TopicSpec(**values)


def _unprefixed(topic: str) -> str:
    parts = topic.removesuffix(".dlq").split(".")
    base = ".".join(parts[1:]) if len(parts) == 4 else ".".join(parts)
    return base + (".dlq" if topic.endswith(".dlq") else "")
