"""A local Sentry: an HTTP receiver that keeps every envelope the SDK posts, decoded.

The SDK posts ``/api/<project>/envelope/`` from its own worker thread, maybe gzip-encoded;
an envelope is a JSON header line, then per item a JSON item header and its payload.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from tests.notification_receivers import HttpReceiver, serving


@dataclass
class Envelope:
    raw: bytes  # decoded body: what every byte check reads
    header: dict[str, Any]
    items: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for head, body in self.items if head.get("type") == "event"]


def decode(body: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    assert encoding in (None, "", "identity"), f"unexpected content-encoding {encoding}"
    return body


def parse(raw: bytes) -> Envelope:
    header_line, _, rest = raw.partition(b"\n")
    envelope = Envelope(raw, json.loads(header_line))
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        head = json.loads(item_line)
        length = head.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length + 1 :]
        envelope.items.append((head, payload))
    return envelope


class SentryReceiver(HttpReceiver):
    def envelopes(self) -> list[Envelope]:
        return [
            parse(decode(r.body, r.headers.get("content-encoding")))
            for r in self.requests
            if r.path.endswith("/envelope/")
        ]

    def events(self) -> list[dict[str, Any]]:
        return [event for envelope in self.envelopes() for event in envelope.events()]

    def dsn(self) -> str:
        host = self.url.removeprefix("http://")
        return f"http://publickey@{host}/1"


@contextlib.asynccontextmanager
async def sentry_receiver() -> AsyncIterator[SentryReceiver]:
    receiver = SentryReceiver()
    async with serving(receiver):
        yield receiver
