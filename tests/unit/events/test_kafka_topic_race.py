"""KafkaBus.ensure_topics when another node created the topic a moment earlier: the broker
answers "already exists" before its metadata holds the topic. Driven through a scripted admin
client, because on one idle broker the window is too short to hit on purpose."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from dictamesh.events.kafka import KafkaBus
from dictamesh.events.topics import TopicSpec

TOPIC_ALREADY_EXISTS = 36
UNKNOWN_TOPIC_OR_PARTITION = 3


class LaggingAdmin:
    """Says the topic exists, then does not know it for ``lag`` describes."""

    def __init__(self, lag: int) -> None:
        self.lag = lag
        self.describes = 0

    async def create_topics(self, new_topics: list[Any]) -> Any:
        return SimpleNamespace(
            topic_errors=[(t.name, TOPIC_ALREADY_EXISTS, "exists") for t in new_topics]
        )

    async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        self.describes += 1
        known = self.describes > self.lag
        return [
            {
                "topic": t,
                "error_code": 0 if known else UNKNOWN_TOPIC_OR_PARTITION,
                "partitions": [{"partition": 0}, {"partition": 1}] if known else [],
            }
            for t in topics
        ]


async def test_a_topic_another_node_just_created_is_waited_for_before_use() -> None:
    bus = KafkaBus("127.0.0.1:1", topic_specs=())
    admin = LaggingAdmin(lag=2)
    bus._admin_client = admin
    await bus.ensure_topics([TopicSpec(name="orders.shop.entity_changed", partitions=2)])
    assert admin.describes == 3  # two "unknown" answers, then known
    assert await bus.partitions_for("orders.shop.entity_changed") == [0, 1]
