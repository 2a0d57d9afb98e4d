"""In-process consumer-group coordinator of the embedded bus.

Members of one group (in one :class:`EmbeddedBus`) split the partitions of their topics.
The assignment is a pure function of (members, their subscriptions, known partitions), so
every member computes the same answer without messages between them; a join or leave bumps
the group's generation and each member re-reads its share on its next poll.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

TopicPartition = tuple[str, int]

_member_ids = itertools.count(1)


def new_member_id() -> int:
    return next(_member_ids)


@dataclass(slots=True)
class GroupState:
    name: str
    #: member id -> subscribed topics; ids grow with join order, so sorting them is stable
    members: dict[int, tuple[str, ...]] = field(default_factory=dict)
    generation: int = 0

    def join(self, member_id: int, topics: Sequence[str]) -> None:
        self.members[member_id] = tuple(topics)
        self.generation += 1

    def leave(self, member_id: int) -> None:
        if self.members.pop(member_id, None) is not None:
            self.generation += 1

    def assignment(self, member_id: int, partitions: Mapping[str, int]) -> set[TopicPartition]:
        """Round-robin over every (topic, partition), among the members subscribed to it.

        Round-robin across all topics (rather than Kafka's per-topic range assignor) keeps
        the load even when many topics have fewer partitions than the group has members.
        """
        if member_id not in self.members:
            return set()
        by_topic: dict[str, list[int]] = {}
        for mid in sorted(self.members):
            for topic in self.members[mid]:
                by_topic.setdefault(topic, []).append(mid)
        mine: set[TopicPartition] = set()
        turn = 0
        for topic in sorted(by_topic):
            n = partitions.get(topic)
            if not n:
                continue
            candidates = by_topic[topic]
            for p in range(n):
                if candidates[turn % len(candidates)] == member_id:
                    mine.add((topic, p))
                turn += 1
        return mine
