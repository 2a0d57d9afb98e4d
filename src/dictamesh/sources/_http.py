"""What the sample source apps share: admin routes, stats, auth, faults, rate limit, and
(for the writable ones) an idempotency-key table and the log of applied effects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dictamesh.sources._idempotency import EffectLog, IdempotencyKeys
from dictamesh.sources._store import RecordStore, webhook_admin_routes

__all__ = [
    "ADMIN_PREFIX",
    "FAULT_MODES",
    "AdminState",
    "TokenBucket",
    "build_app",
    "injected_fault",
    "json_body",
    "retry_after",
]

ADMIN_PREFIX = "/_admin"
FAULT_MODES = ("error500", "hang", "garbage", "latency", "decline", "error500_after")
"""``decline`` is for the endpoint to act on (payments declines the charge; the others ignore
it); ``error500_after`` runs the request, effect included, then answers 500 (a lost answer)."""
_FAULT_SCOPE_KEY = "dictamesh.fault"


class TokenBucket:
    """``rate`` requests per second, bursts up to ``capacity``."""

    def __init__(self, rate: float, capacity: float | None = None) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else rate
        self.tokens = self.capacity
        self._at = time.monotonic()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._at) * self.rate)
        self._at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class AdminState:
    store: RecordStore
    requests: Counter[str] = field(default_factory=Counter)
    fault_mode: str | None = None
    fault_probability: float = 1.0
    #: seconds the ``latency`` fault delays a request before answering it normally
    fault_delay: float = 1.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    #: this source's idempotency keys (one table per source)
    keys: IdempotencyKeys = field(default_factory=IdempotencyKeys)
    #: every effect this source applied (``GET /_admin/effects``)
    effects: EffectLog = field(default_factory=EffectLog)

    def should_fault(self) -> str | None:
        if self.fault_mode is None:
            return None
        return self.fault_mode if self.rng.random() < self.fault_probability else None


def injected_fault(request: Request) -> str | None:
    """The fault mode drawn for this request (``decline`` is the endpoint's to act on)."""
    fault = request.scope.get(_FAULT_SCOPE_KEY)
    return fault if isinstance(fault, str) else None


async def json_body(request: Request) -> Any:
    """The parsed JSON body, or ``None`` when it is missing or not JSON."""
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _admin_routes(state: AdminState) -> list[BaseRoute]:
    async def stats(request: Request) -> Response:
        return JSONResponse(
            {"requests": dict(state.requests), "total": sum(state.requests.values())}
        )

    async def set_faults(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or body.get("mode") not in FAULT_MODES:
            return JSONResponse({"error": f"mode must be one of {list(FAULT_MODES)}"}, 400)
        probability = body.get("probability", 1.0)
        if (
            isinstance(probability, bool)
            or not isinstance(probability, int | float)
            or not 0 <= probability <= 1
        ):
            return JSONResponse({"error": "probability must be a number in [0, 1]"}, 400)
        delay = body.get("delay_seconds", 1.0)
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 600:
            return JSONResponse({"error": "delay_seconds must be a number in [0, 600]"}, 400)
        state.fault_mode = str(body["mode"])
        state.fault_probability = float(probability)
        state.fault_delay = float(delay)
        return JSONResponse(
            {"mode": state.fault_mode, "probability": probability, "delay_seconds": delay}
        )

    async def clear_faults(request: Request) -> Response:
        state.fault_mode = None
        return Response(status_code=204)

    async def effects(request: Request) -> Response:
        return JSONResponse(state.effects.to_dict())

    async def clear_effects(request: Request) -> Response:
        state.effects.clear()
        return Response(status_code=204)

    return [
        *webhook_admin_routes(state.store),
        Route(f"{ADMIN_PREFIX}/stats", stats, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/effects", effects, methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/effects", clear_effects, methods=["DELETE"]),
        Route(f"{ADMIN_PREFIX}/faults", set_faults, methods=["POST"]),
        Route(f"{ADMIN_PREFIX}/faults", clear_faults, methods=["DELETE"]),
    ]


class _Guard:
    """Counts requests, then (outside ``/_admin``) injects faults, rate-limits, authenticates."""

    def __init__(
        self,
        app: ASGIApp,
        state: AdminState,
        authorize: Callable[[Request], Response | None],
        bucket: TokenBucket | None,
        rate_limited: Callable[[float], Response] | None,
    ) -> None:
        self.app = app
        self.state = state
        self.authorize = authorize
        self.bucket = bucket
        self.rate_limited = rate_limited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        self.state.requests[path] += 1
        if path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.state.should_fault()
        scope[_FAULT_SCOPE_KEY] = fault
        if fault == "hang":
            # never answer; the client giving up (its timeout) or shutdown ends it
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(3600):
                    await _until_disconnect(receive)
            return
        if fault == "latency":
            # answer normally after the delay, unless the client gave up meanwhile
            delayed = await _delay(receive, self.state.fault_delay)
            if delayed is None:
                return
            receive = delayed
        if fault == "error500":
            await JSONResponse({"error": "injected fault"}, 500)(scope, receive, send)
            return
        if fault == "garbage":
            garbage = Response(b"<html>\x00not json{", 200, media_type="application/json")
            await garbage(scope, receive, send)
            return
        if self.bucket is not None and self.rate_limited is not None:
            wait = self.bucket.take()
            if wait > 0:
                await self.rate_limited(wait)(scope, receive, send)
                return
        refusal = self.authorize(Request(scope))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if fault == "error500_after":
            # the request runs to the end (its effect applied, its answer stored under its
            # idempotency key), then the answer is lost: the client sees a 500
            await self.app(scope, receive, _discard)
            await JSONResponse({"error": "injected fault (after applying)"}, 500)(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)


async def _discard(message: Message) -> None:
    return None


async def _until_disconnect(receive: Receive, buffer: list[Message] | None = None) -> None:
    while (message := await receive())["type"] != "http.disconnect":
        if buffer is not None:
            buffer.append(message)


async def _delay(receive: Receive, seconds: float) -> Receive | None:
    """Wait ``seconds``; None if the client disconnected meanwhile, else a ``receive``
    that first replays what was read while waiting (the request body)."""
    buffered: list[Message] = []
    try:
        async with asyncio.timeout(seconds):
            await _until_disconnect(receive, buffered)
    except TimeoutError:
        pass
    else:
        return None

    async def replay() -> Message:
        return buffered.pop(0) if buffered else await receive()

    return replay


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def build_app(
    routes: Sequence[BaseRoute],
    state: AdminState,
    authorize: Callable[[Request], Response | None],
    *,
    bucket: TokenBucket | None = None,
    rate_limited: Callable[[float], Response] | None = None,
) -> Starlette:
    app = Starlette(routes=[*_admin_routes(state), *routes])
    app.state.admin = state
    app.state.store = state.store
    app.add_middleware(
        _Guard,
        state=state,
        authorize=authorize,
        bucket=bucket,
        rate_limited=rate_limited,
    )
    return app
