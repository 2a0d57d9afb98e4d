"""Checking a consumer's ``initial_offsets`` (:data:`~dictamesh.events.bus.StartOffsets`)
once, for both backends: a bad mapping is a :class:`ValidationError` when the consumer is
made, not a broker error (or a silent replay) at its first rebalance."""

from __future__ import annotations

from dictamesh.core.errors import ValidationError
from dictamesh.events.bus import StartOffsets

TopicPartition = tuple[str, int]


def start_positions(offsets: StartOffsets | None) -> dict[TopicPartition, int] | None:
    """``{(topic, partition): offset}`` from ``{topic: {partition: offset}}`` (None stays
    None: the backend's earliest-message default)."""
    if offsets is None:
        return None
    flat: dict[TopicPartition, int] = {}
    try:
        items = list(offsets.items())
        for topic, partitions in items:
            if not isinstance(topic, str):
                raise ValidationError(f"initial_offsets: topic {topic!r} is not a string")
            for partition, offset in partitions.items():
                for what, n in (("partition", partition), ("offset", offset)):
                    # bool is an int subclass: True is no partition number
                    if type(n) is not int or n < 0:
                        raise ValidationError(
                            f"initial_offsets[{topic!r}]: {what} {n!r} is not an integer >= 0"
                        )
                flat[(topic, partition)] = offset
    except AttributeError as exc:  # not a mapping of mappings
        raise ValidationError(
            "initial_offsets must map topic -> {partition: offset}, e.g. bus.end_offsets()"
        ) from exc
    return flat
