"""Reading and writing the router's records: the one place that knows the wire format.

The source value is decoded with the node's serializer (as the catalog ingest does: the
per-topic :class:`~dictamesh.events.codecs.TopicCodec`, any envelope in), an edited event is
encoded with it again, and the Debezium envelope is the codec's (JSON labelled
``application/json; envelope=debezium``, or typed Avro with ``bus.serialization: avro``). A
record no rule edits is forwarded as it came: same bytes, same headers.

Example::

    codec = RouterCodec(JsonEventSerializer())
    event = await codec.decode(message)         # SerializationError on garbage
    value, headers = codec.encode(event)
    value, headers = codec.encode_debezium(event)
"""

from __future__ import annotations

from dictamesh.core.models import ChangeEvent
from dictamesh.events.bus import Message
from dictamesh.events.codecs import TopicCodec
from dictamesh.events.serde import JsonEventSerializer, Serializer

__all__ = ["RouterCodec"]


class RouterCodec:
    def __init__(self, serializer: Serializer | None = None) -> None:
        base = serializer if serializer is not None else JsonEventSerializer()
        self.serializer: TopicCodec = base if isinstance(base, TopicCodec) else TopicCodec(base, ())

    async def decode(self, message: Message) -> ChangeEvent:
        # Avro values may carry a writer schema this process has not seen yet: fetch it
        # before the synchronous decode (as run_consumer does).
        await self.serializer.resolve(message.value)
        return self.serializer.decode(message.value, message.headers)

    def encode(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        return self.serializer.encode(event)

    def encode_debezium(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        return self.serializer.encode_debezium(event)
