"""Reading and writing the router's records: the one place that knows the wire format.

The source value is decoded with the node's serializer (as the catalog ingest does), an
edited event is encoded with it again, and the Debezium envelope is written as JSON
(``dictamesh.events.envelopes.to_debezium``). A record no rule edits is forwarded as it
came: same bytes, same headers.

Example::

    codec = RouterCodec(JsonEventSerializer())
    event = await codec.decode(message)         # SerializationError on garbage
    value, headers = codec.encode(event)
    value, headers = codec.encode_debezium(event)
"""

from __future__ import annotations

import json

from dictamesh.core.models import ChangeEvent
from dictamesh.events.bus import Message
from dictamesh.events.envelopes import to_debezium
from dictamesh.events.serde import JSON_CONTENT_TYPE, JsonEventSerializer, Serializer, event_headers

__all__ = ["RouterCodec"]


class RouterCodec:
    def __init__(self, serializer: Serializer | None = None) -> None:
        self.serializer: Serializer = (
            serializer if serializer is not None else JsonEventSerializer()
        )

    async def decode(self, message: Message) -> ChangeEvent:
        # Avro values may carry a writer schema this process has not seen yet: fetch it
        # before the synchronous decode (as run_consumer does).
        await self.serializer.resolve(message.value)
        return self.serializer.decode(message.value, message.headers)

    def encode(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        return self.serializer.encode(event)

    def encode_debezium(self, event: ChangeEvent) -> tuple[bytes, dict[str, bytes]]:
        value = json.dumps(to_debezium(event), separators=(",", ":"), default=str)
        return value.encode(), event_headers(event, JSON_CONTENT_TYPE)
