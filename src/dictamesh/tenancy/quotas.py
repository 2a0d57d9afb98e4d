"""Per-tenant quotas: API requests, GraphQL query cost, published change events.

Configured under ``tenancy.quotas`` (``default`` for every tenant, ``per_tenant`` overrides);
every limit is a token bucket per tenant. Request and event buckets are mesh-wide when the
node has Redis (``cache.redis_url``: a :class:`~dictamesh.cluster.buckets.BucketStore` shared
by every node, ``docs/scale-out.md``), else kept in this process; the GraphQL cost budget is
always per node (it is charged inside the synchronous validation of the operation):

* **requests** — :class:`TenantQuotaMiddleware`, inside the auth middleware so the tenant is
  the authenticated one: over quota → **429** ``TENANT_QUOTA_EXCEEDED`` with ``Retry-After``;
* **GraphQL cost** — a budget of query cost per window (a bucket of ``graphql_cost_budget``
  refilled over ``graphql_cost_window_seconds``): the gateway calls
  :func:`charge_query_cost` with each operation's measured cost;
* **events** — :meth:`TenantQuotas.acquire_events`, called by the
  :class:`~dictamesh.events.publisher.EventPublisher` before it publishes: over quota it
  *waits* (back-pressure on the producer, nothing is dropped) up to
  ``max_publish_delay_seconds``, then raises :class:`TenantQuotaExceeded`.

A request's tenant is :data:`~dictamesh.core.context.current_tenant` (set from the principal
by the auth middleware), else ``'default'``; an event's is its ``tenant_id``, else the
context's, else ``'default'`` — the same rule as the catalog's.

Example::

    quotas = TenantQuotas(settings.tenancy.quotas)
    install_tenant_quotas(app, quotas)             # before install_auth(app, ...)
    publisher = EventPublisher(bus, quota=quotas)

    # in the GraphQL gateway, once an operation's cost is known:
    charge_query_cost(None, cost)                  # raises TenantQuotaExceeded when spent
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from dictamesh.cluster.buckets import BucketStore, TokenBucket
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import TenantQuotaExceeded
from dictamesh.core.settings import QuotaSettings, TenancySettings, TenantQuota

__all__ = [
    "DEFAULT_TENANT",
    "QuotaDecision",
    "TenantQuotaMiddleware",
    "TenantQuotas",
    "TokenBucket",
    "active_quotas",
    "charge_query_cost",
    "install_tenant_quotas",
    "resolve_tenant",
    "use_quotas",
]

DEFAULT_TENANT = "default"
"""The tenant of requests and events that name none (``dictamesh.catalog.models``' too)."""

_GRAPHQL_PATHS = ("/graphql",)
_REGISTRY_PATHS = ("/schema-registry",)
_TRY_AGAIN_LATER = 1013  # WebSocket close code

_active: ContextVar[TenantQuotas | None] = ContextVar("dictamesh_tenant_quotas", default=None)


def resolve_tenant(explicit: str | None = None) -> str:
    """``explicit``, else the context's tenant, else ``'default'``."""
    return explicit or current_tenant.get() or DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class QuotaDecision:
    allowed: bool
    #: seconds until the attempt would be allowed (0 when allowed)
    retry_after: float = 0.0

    @property
    def retry_after_seconds(self) -> int:
        """``Retry-After`` value: whole seconds, at least 1."""
        return max(1, math.ceil(self.retry_after))


_ALLOWED = QuotaDecision(True)


class TenantQuotas:
    """The token buckets of every tenant; one instance per node (not thread-safe: one loop).

    ``clock`` and ``sleep`` are injectable for tests. At most ``max_tenants`` tenants' buckets
    are kept per kind; the least recently used is forgotten first (it only ever gets a full
    bucket again). ``shared``: where request and event buckets live so they hold across
    nodes (:class:`~dictamesh.cluster.buckets.FailOpenBuckets` over Redis); ``None``: here.
    """

    def __init__(
        self,
        settings: QuotaSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        max_tenants: int = 10_000,
        shared: BucketStore | None = None,
    ) -> None:
        self.settings = settings or QuotaSettings()
        self.shared = shared
        self._clock = clock
        self._sleep = sleep
        self.max_tenants = max_tenants
        self._quotas: dict[str, TenantQuota] = {}
        self._buckets: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """Whether any tenant has any limit."""
        return self.settings.enabled

    def quota(self, tenant: str) -> TenantQuota:
        quota = self._quotas.get(tenant)
        if quota is None:
            if len(self._quotas) >= self.max_tenants:
                self._quotas.clear()
            quota = self._quotas[tenant] = self.settings.for_tenant(tenant)
        return quota

    def exempt(self, path: str) -> bool:
        return any(_under(path, p) for p in self.settings.exempt_paths)

    def _bucket(self, kind: str, tenant: str, rate: float, capacity: float) -> TokenBucket:
        key = (kind, tenant)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, capacity, self._clock())
            while len(self._buckets) > 3 * self.max_tenants:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(key)
        return bucket

    # --- requests ---------------------------------------------------------------------------

    def _request_limit(self, tenant: str | None) -> tuple[str, float, int] | None:
        """``(tenant, rate, burst)`` of ``tenant``'s request quota; None: unlimited."""
        name = resolve_tenant(tenant)
        quota = self.quota(name)
        rate = quota.requests_per_second
        if rate is None:
            return None
        return name, rate, quota.request_burst or max(1, math.ceil(rate))

    def check_request(self, tenant: str | None = None) -> QuotaDecision:
        """Count one API request of ``tenant`` (default: the current one)."""
        limit = self._request_limit(tenant)
        if limit is None:
            return _ALLOWED
        name, rate, burst = limit
        wait = self._bucket("requests", name, rate, burst).take(1, self._clock())
        return QuotaDecision(wait == 0, wait)

    async def acheck_request(self, tenant: str | None = None) -> QuotaDecision:
        """:meth:`check_request` against the shared buckets when there are (else the same)."""
        if self.shared is None:
            return self.check_request(tenant)
        limit = self._request_limit(tenant)
        if limit is None:
            return _ALLOWED
        name, rate, burst = limit
        taken = await self.shared.take(f"quota:requests:{name}", rate=rate, capacity=burst)
        return QuotaDecision(taken.allowed, taken.wait)

    # --- GraphQL cost -----------------------------------------------------------------------

    def charge_query_cost(self, tenant: str | None, cost: float) -> None:
        """Charge ``cost`` to the tenant's GraphQL budget, or raise
        :class:`TenantQuotaExceeded` (charging nothing) if the budget cannot pay for it."""
        name = resolve_tenant(tenant)
        quota = self.quota(name)
        budget = quota.graphql_cost_budget
        if budget is None or cost <= 0:
            return
        window = quota.graphql_cost_window_seconds
        if cost > budget:
            raise TenantQuotaExceeded(
                f"query cost {cost:g} exceeds the tenant's whole budget of {budget}"
                f" per {window:g} s",
                retry_after=window,
                tenant=name,
                quota="graphql_cost_budget",
                cost=cost,
            )
        bucket = self._bucket("graphql_cost", name, budget / window, budget)
        wait = bucket.take(cost, self._clock())
        if wait:
            raise TenantQuotaExceeded(
                f"tenant's GraphQL budget of {budget} per {window:g} s is spent",
                retry_after=wait,
                tenant=name,
                quota="graphql_cost_budget",
                cost=cost,
            )

    # --- events -----------------------------------------------------------------------------

    async def acquire_events(self, tenant: str | None, count: int = 1) -> None:
        """Wait until ``tenant`` may publish ``count`` more events; raise
        :class:`TenantQuotaExceeded` if that is more than ``max_publish_delay_seconds``
        away (nothing is taken then, so the caller may retry the same events)."""
        name = resolve_tenant(tenant)
        quota = self.quota(name)
        rate = quota.events_per_second
        if rate is None or count <= 0:
            return
        burst = quota.event_burst or max(1, math.ceil(rate))
        waited = 0.0
        while True:
            wait = await self._take_events(name, rate, burst, count)
            if wait <= 0:
                return
            if waited + wait > quota.max_publish_delay_seconds:
                raise TenantQuotaExceeded(
                    f"tenant publishes more than {rate:g} events/s",
                    retry_after=wait,
                    tenant=name,
                    quota="events_per_second",
                    events=count,
                )
            await self._sleep(wait)
            waited += wait

    async def _take_events(self, name: str, rate: float, burst: float, count: int) -> float:
        if self.shared is not None:
            taken = await self.shared.take(
                f"quota:events:{name}", rate=rate, capacity=burst, cost=count, debt=True
            )
            return taken.wait
        return self._bucket("events", name, rate, burst).take_debt(count, self._clock())


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


# --- the GraphQL hook -----------------------------------------------------------------------


def active_quotas() -> TenantQuotas | None:
    """The quotas of the request being served (set by :class:`TenantQuotaMiddleware`)."""
    return _active.get()


@contextlib.contextmanager
def use_quotas(quotas: TenantQuotas | None) -> Iterator[None]:
    """Make ``quotas`` the active ones for the block (the middleware does it per request)."""
    token = _active.set(quotas)
    try:
        yield
    finally:
        _active.reset(token)


def charge_query_cost(tenant: str | None, cost: float) -> None:
    """Charge a GraphQL operation's ``cost`` to ``tenant``'s budget (``None``: the request's
    tenant); raise :class:`~dictamesh.core.errors.TenantQuotaExceeded` (429,
    ``retry_after``) when the budget of the window cannot pay for it.

    A no-op outside a request with quotas (none configured, tests, scripts).

    Example (after the cost of an operation is measured, before it executes)::

        try:
            charge_query_cost(None, cost)
        except TenantQuotaExceeded as exc:
            ...  # a GraphQL error with extensions {"code": exc.code, "retryAfter": ...}
    """
    quotas = _active.get()
    if quotas is not None:
        quotas.charge_query_cost(tenant, cost)


# --- the request middleware -----------------------------------------------------------------


class TenantQuotaMiddleware:
    """Counts every request against its tenant's request quota (pure ASGI, no task hop)."""

    def __init__(
        self,
        app: ASGIApp,
        quotas: TenantQuotas,
        graphql_paths: Sequence[str] = _GRAPHQL_PATHS,
        registry_paths: Sequence[str] = _REGISTRY_PATHS,
    ) -> None:
        self.app = app
        self.quotas = quotas
        self.graphql_paths = tuple(graphql_paths)
        self.registry_paths = tuple(registry_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        with use_quotas(self.quotas):
            if not self.quotas.exempt(scope["path"]):
                decision = await self.quotas.acheck_request()
                if not decision.allowed:
                    await self._refuse(scope, receive, send, decision)
                    return
            await self.app(scope, receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, decision: QuotaDecision
    ) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": _TRY_AGAIN_LATER})
            return
        exc = TenantQuotaExceeded(
            "too many requests for this tenant", retry_after=decision.retry_after
        )
        path = scope["path"]
        body: dict[str, Any]
        if any(_under(path, p) for p in self.graphql_paths):
            body = {
                "errors": [
                    {
                        "message": exc.message,
                        "extensions": {
                            "code": exc.code,
                            "retryAfter": decision.retry_after_seconds,
                        },
                    }
                ]
            }
        elif any(_under(path, p) for p in self.registry_paths):
            body = {"error_code": 42901, "message": exc.message}  # Confluent's shape
        else:
            body = {
                "error": {
                    "code": exc.code,
                    "message": exc.message,
                    "details": {"retry_after_seconds": decision.retry_after_seconds},
                }
            }
        response = JSONResponse(
            body,
            status_code=exc.http_status,
            headers={"Retry-After": str(decision.retry_after_seconds)},
        )
        await response(scope, receive, send)


def install_tenant_quotas(
    app: Any,
    quotas: TenantQuotas | QuotaSettings | TenancySettings | None,
    *,
    graphql_paths: Sequence[str] = _GRAPHQL_PATHS,
) -> TenantQuotas | None:
    """Add :class:`TenantQuotaMiddleware` to a Starlette/FastAPI ``app`` unless no quota is
    configured. Call it *before* ``install_auth``: Starlette runs middleware added earlier
    inside middleware added later, and the tenant is known only inside auth."""
    if isinstance(quotas, TenancySettings):
        quotas = quotas.quotas
    if isinstance(quotas, QuotaSettings):
        quotas = TenantQuotas(quotas)
    if quotas is None or not quotas.enabled:
        return None
    app.add_middleware(TenantQuotaMiddleware, quotas=quotas, graphql_paths=graphql_paths)
    app.state.tenant_quotas = quotas
    return quotas
