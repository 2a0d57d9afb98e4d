"""Confluent wire format: how schema-registry-aware Kafka clients frame a record value.

Every framed value is ``0x00`` (the magic byte), the schema id as a 4-byte big-endian
unsigned int, then the serialized payload (for Avro: the schemaless binary encoding).
It is the framing Confluent's serializers (Java, librdkafka, ``confluent_kafka``) write and
expect, so a value framed here can be read by any of them given the same registry.

Example::

    data = frame(42, payload)          # b"\\x00\\x00\\x00\\x00\\x2a" + payload
    schema_id, payload = unframe(data)
"""

from __future__ import annotations

import struct

from dictamesh.core.errors import SerializationError

__all__ = ["HEADER_SIZE", "MAGIC_BYTE", "MAX_SCHEMA_ID", "frame", "peek_schema_id", "unframe"]

MAGIC_BYTE = 0
"""First byte of every framed value (Confluent's ``_MAGIC_BYTE``)."""

HEADER_SIZE = 5
"""Magic byte + 4-byte schema id."""

MAX_SCHEMA_ID = 2**31 - 1
"""Registries hand out ids as signed 32-bit ints (Java ``int``); keep within that range."""

_HEADER = struct.Struct(">BI")


def frame(schema_id: int, payload: bytes) -> bytes:
    """Prefix ``payload`` with the magic byte and ``schema_id``."""
    if not isinstance(schema_id, int) or not 0 <= schema_id <= MAX_SCHEMA_ID:
        raise SerializationError(
            f"schema id must be an int in [0, {MAX_SCHEMA_ID}], got {schema_id!r}",
            schema_id=repr(schema_id),
        )
    return _HEADER.pack(MAGIC_BYTE, schema_id) + bytes(payload)


def unframe(data: bytes) -> tuple[int, bytes]:
    """Split a framed value into ``(schema_id, payload)``.

    Raises :class:`SerializationError` when ``data`` is shorter than the header or does not
    start with the magic byte (e.g. a plain JSON value on a topic expected to carry Avro).
    """
    schema_id = peek_schema_id(data)
    return schema_id, bytes(data[HEADER_SIZE:])


def peek_schema_id(data: bytes) -> int:
    """The schema id of a framed value, without copying the payload."""
    if len(data) < HEADER_SIZE:
        raise SerializationError(
            f"value of {len(data)} bytes is too short for the Confluent wire format"
            f" (needs a {HEADER_SIZE}-byte header)",
            length=len(data),
        )
    magic, schema_id = _HEADER.unpack_from(data, 0)
    if magic != MAGIC_BYTE:
        raise SerializationError(
            f"unknown magic byte {magic:#04x}: value is not in the Confluent wire format",
            magic=magic,
        )
    return int(schema_id)
