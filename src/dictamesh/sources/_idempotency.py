"""Idempotency keys honoured server-side, and the log of applied effects.

Shared by the writable sample sources (products, invoices, payments); each source has one
:class:`IdempotencyKeys` table and one :class:`EffectLog` (on its ``AdminState``).

A write wrapped with :meth:`IdempotencyKeys.wrap` reads the ``Idempotency-Key`` header:

* same key, same request (method, path and canonical JSON body) → the stored status and
  body again, with ``Idempotent-Replayed: true``, and no new effect;
* same key, another request → 422 ``idempotency_key_reused``;
* same key while the first request still runs → 409 ``idempotency_key_in_use``;
* answers below 500 are stored (a 402 decline or a 409 is replayed, like Stripe does);
  5xx answers and requests cut before the endpoint ran are not, so a retry may succeed.

Example::

    keys = IdempotencyKeys()
    Route("/v1/charges", keys.wrap(create_charge, error, required=True), methods=["POST"])
    # inside create_charge: request_key(request) is the key the request carried
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dictamesh.sources._store import format_ts

__all__ = [
    "KEY_HEADER",
    "KEY_PATTERN",
    "REPLAYED_HEADER",
    "Effect",
    "EffectLog",
    "Endpoint",
    "ErrorFactory",
    "IdempotencyKeys",
    "StoredAnswer",
    "fingerprint",
    "request_key",
]

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,200}")
_SCOPE_KEY = "dictamesh.idempotency_key"

Endpoint = Callable[[Request], Awaitable[Response]]
ErrorFactory = Callable[[str, str, int], Response]
"""``(message, code, status) -> response`` in the source's own error shape."""


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What a key is bound to: method, path and the body as canonical JSON (sorted keys,
    no spaces), so the same JSON written differently is the same request."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
    except (json.JSONDecodeError, UnicodeDecodeError):
        canonical = "raw:" + body.hex()
    text = f"{method.upper()} {path}\n{canonical if body else ''}"
    return hashlib.sha256(text.encode()).hexdigest()


def request_key(request: Request) -> str | None:
    """The (valid) idempotency key of a request a wrapped endpoint is handling, else None."""
    key = request.scope.get(_SCOPE_KEY)
    return key if isinstance(key, str) else None


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The answer first given to a key, replayed byte for byte."""

    fingerprint: str
    status: int
    body: bytes
    media_type: str | None

    def replay(self) -> Response:
        return Response(
            self.body,
            self.status,
            headers={REPLAYED_HEADER: "true"},
            media_type=self.media_type,
        )


@dataclass(frozen=True, slots=True)
class Effect:
    """One applied effect (a reservation made, a charge taken...); replays add none."""

    kind: str
    key: str | None
    id: str
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "id": self.id, "at": self.at}


class EffectLog:
    """Every effect a source applied, oldest first: what "exactly once" is counted on."""

    def __init__(self) -> None:
        self.effects: list[Effect] = []

    def record(self, kind: str, key: str | None, id_: Any) -> None:
        self.effects.append(Effect(kind, key, str(id_), format_ts(datetime.now(UTC))))

    def counts(self) -> dict[str, int]:
        return dict(Counter(e.kind for e in self.effects))

    def count(self, kind: str, key: str | None = None) -> int:
        return sum(1 for e in self.effects if e.kind == kind and (key is None or e.key == key))

    def clear(self) -> None:
        self.effects.clear()

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts(), "effects": [e.to_dict() for e in self.effects]}


class IdempotencyKeys:
    """One source's table: key → the answer it got (the newest ``max_keys`` kept)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._answers: OrderedDict[str, StoredAnswer] = OrderedDict()
        #: key → fingerprint of the request still running with it
        self._running: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._answers)

    def __contains__(self, key: object) -> bool:
        return key in self._answers

    def answer(self, key: str) -> StoredAnswer | None:
        return self._answers.get(key)

    def store(self, key: str, answer: StoredAnswer) -> None:
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self.max_keys:
            self._answers.popitem(last=False)

    def clear(self) -> None:
        self._answers.clear()

    def wrap(self, endpoint: Endpoint, error: ErrorFactory, *, required: bool) -> Endpoint:
        """``endpoint`` honouring ``Idempotency-Key``; ``required``: 400 without one."""

        async def keyed(request: Request) -> Response:
            key = request.headers.get(KEY_HEADER)
            if key is None:
                if required:
                    return error(
                        f"this request needs an {KEY_HEADER} header", "idempotency_key_missing", 400
                    )
                return await endpoint(request)
            if not KEY_PATTERN.fullmatch(key):
                return error(
                    f"{KEY_HEADER} must be 1..200 characters of A-Z a-z 0-9 . _ : -",
                    "invalid_idempotency_key",
                    400,
                )
            mark = fingerprint(request.method, request.url.path, await request.body())
            # From here to the endpoint's call nothing awaits: check and claim are atomic.
            stored = self._answers.get(key)
            running = self._running.get(key)
            if (stored is not None and stored.fingerprint != mark) or (
                running is not None and running != mark
            ):
                return error(
                    f"{KEY_HEADER} {key!r} was already used for another request",
                    "idempotency_key_reused",
                    422,
                )
            if stored is not None:
                return stored.replay()
            if running is not None:
                return error(
                    f"a request with {KEY_HEADER} {key!r} is still being processed; retry later",
                    "idempotency_key_in_use",
                    409,
                )
            self._running[key] = mark
            request.scope[_SCOPE_KEY] = key
            try:
                response = await endpoint(request)
                if response.status_code < 500:
                    body = bytes(response.body)
                    self.store(
                        key, StoredAnswer(mark, response.status_code, body, response.media_type)
                    )
            finally:
                del self._running[key]
            return response

        return keyed
