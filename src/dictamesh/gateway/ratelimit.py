"""Per-client rate limiting for the GraphQL endpoint: one token bucket per client.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; every
request takes one. An empty bucket means HTTP 429 with ``Retry-After`` (whole seconds
until a token is back). Clients are keyed by who they are when the auth layer knows
(``sub:<subject>`` of the request's principal: a JWT subject or an API key's subject),
else by address (``ip:<host>``).

:class:`TokenBucketLimiter` keeps buckets in this process (each node limits on its own)
and at most ``max_clients`` of them: the least recently seen client is forgotten first,
which only ever gives it a full bucket again. :class:`SharedRateLimiter` keeps them in a
:class:`~dictamesh.cluster.buckets.BucketStore` (Redis: one bucket per client for the
whole mesh, ``docs/scale-out.md``). Callers use :meth:`RateLimiter.acquire`.

Example::

    limiter = TokenBucketLimiter(rate=50, burst=100)
    decision = limiter.hit(client_key(request))
    if not decision.allowed:
        ...  # 429, Retry-After: decision.retry_after_seconds
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from dictamesh.cluster.buckets import BucketStore
from dictamesh.core import context as core_context
from dictamesh.core.errors import ConfigurationError

__all__ = [
    "RATE_LIMITED",
    "Connection",
    "RateDecision",
    "RateLimiter",
    "SharedRateLimiter",
    "TokenBucketLimiter",
    "client_key",
]

RATE_LIMITED = "RATE_LIMITED"


class Connection(Protocol):
    """What keying needs from a request (a Starlette ``Request`` fits)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def client(self) -> Any: ...

    @property
    def state(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    #: tokens left after this request
    remaining: int
    #: seconds until the next token, 0 when allowed
    retry_after: float

    @property
    def retry_after_seconds(self) -> int:
        """``Retry-After`` value: whole seconds, at least 1."""
        return max(1, math.ceil(self.retry_after))


class RateLimiter(Protocol):
    """What ``/graphql`` asks before each request."""

    async def acquire(self, key: str) -> RateDecision: ...


class TokenBucketLimiter:
    """Token buckets by client key; not thread-safe (one event loop)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ConfigurationError("a rate limit needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        #: key -> (tokens, time of last refill)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def hit(self, key: str, cost: float = 1.0) -> RateDecision:
        now = self._clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        wait = 0.0 if allowed else (cost - tokens) / self.rate
        return RateDecision(allowed, int(tokens), wait)

    async def acquire(self, key: str) -> RateDecision:
        return self.hit(key)


class SharedRateLimiter:
    """The same buckets (``rate`` per second, ``burst``) kept in ``store`` for every node."""

    def __init__(self, store: BucketStore, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ConfigurationError("a rate limit needs rate > 0 and burst >= 1")
        self.store = store
        self.rate = rate
        self.burst = burst

    async def acquire(self, key: str) -> RateDecision:
        taken = await self.store.take(f"rate:{key}", rate=self.rate, capacity=self.burst)
        return RateDecision(taken.allowed, max(0, int(taken.tokens)), taken.wait)


def _principal_subject(request: Connection) -> str | None:
    # The auth layer publishes the caller as a context variable (and may also put it on
    # request.state); either is enough. Looked up by name: auth is optional.
    var: Any = getattr(core_context, "current_principal", None)
    candidates = [var.get() if var is not None else None]
    candidates.append(getattr(request.state, "principal", None))
    for principal in candidates:
        subject = getattr(principal, "subject", None)
        if isinstance(subject, str) and subject:
            return subject
    return None


def client_key(request: Connection, *, trust_forwarded_for: bool = False) -> str:
    """``sub:<subject>`` for an authenticated caller, else ``ip:<address>``.

    With ``trust_forwarded_for`` the address is the last ``X-Forwarded-For`` entry, the one
    the (single, trusted) proxy in front of the node added; earlier entries are the
    client's own claims and are ignored.
    """
    subject = _principal_subject(request)
    if subject is not None:
        return f"sub:{subject}"
    if trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return f"ip:{hops[-1]}"
    client = request.client
    return f"ip:{client.host if client is not None else 'unknown'}"
