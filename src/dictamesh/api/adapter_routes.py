"""Adapter status over HTTP (``docs/api.md``, "Adapter status"; the operations pages).

* ``GET /api/v1/adapters/{name}/status``: one adapter's health (its health probe), breaker
  state, when the catalog last took a change from it (``last_sync_at``), error rate,
  source-call latency p50/p95/p99 and its SLA target next to what this node measured
  (:func:`dictamesh.adapters.status.adapter_status`), and under ``sla.window`` the SLA over
  the node's sliding window per objective (:meth:`dictamesh.sla.monitor.SlaMonitor.report`,
  ``docs/sla.md``). ``404`` for an unknown adapter (no
  source is called), ``403`` when the caller may not read its entity type.
* ``GET /api/v1/adapters/status``: the same for every adapter whose entity type the caller
  may read, by name.

The health probe reaches the source, so an auto-refreshing page must not turn into load on
it: a probe's answer is reused for :data:`HEALTH_TTL_SECONDS`, and one that does not answer
within :data:`HEALTH_DEADLINE_SECONDS` is reported unhealthy (``timed out``). The counters are
this process's (since the adapter started); ``last_sync_at`` is the request's tenant's.

Example::

    curl -s localhost:8000/api/v1/adapters/customers_directus/status
    # {"name": "customers_directus", "breaker_state": "closed",
    #  "latency_ms": {"p50": 3.1, "p95": 8.4, "p99": 12.0}, "sla": {"target": {...},
    #  "measured": {"availability": 1.0, ...}}, ...}
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path

import dictamesh.api.governance_routes as governed
from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.adapters.status import adapter_status
from dictamesh.core.models import HealthState, HealthStatus

if TYPE_CHECKING:
    from dictamesh.api.context import ApiContext

__all__ = ["HEALTH_DEADLINE_SECONDS", "HEALTH_TTL_SECONDS", "adapter_status_router"]

#: a probe's answer is reused this long (seconds): pages refresh every few seconds
HEALTH_TTL_SECONDS = 5.0
#: longest wait for one probe (seconds) before it is reported unhealthy
HEALTH_DEADLINE_SECONDS = 5.0
#: anything else is a 400 before any lookup
ADAPTER_NAME_PATTERN = (
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"  # wider than AdapterConfig.name: adapters built in code
)

AdapterName = Annotated[str, Path(pattern=ADAPTER_NAME_PATTERN, description="adapter name")]


class _HealthCache:
    """Each adapter's latest probe, reused for a while; concurrent askers share one probe."""

    def __init__(self, ttl: float, deadline: float) -> None:
        self._ttl, self._deadline = ttl, deadline
        self._found: dict[str, tuple[float, HealthStatus]] = {}
        self._running: dict[str, asyncio.Task[HealthStatus]] = {}

    async def _probe(self, adapter: DataProductAdapter) -> HealthStatus:
        try:
            async with asyncio.timeout(self._deadline):
                health = await adapter.health_check()
        except TimeoutError:
            health = HealthStatus(
                status=HealthState.UNHEALTHY,
                details={"error": {"code": "TIMEOUT", "message": "health check timed out"}},
            )
        self._found[adapter.name] = (time.monotonic(), health)
        return health

    async def get(self, adapter: DataProductAdapter) -> HealthStatus:
        found = self._found.get(adapter.name)
        if found is not None and time.monotonic() - found[0] < self._ttl:
            return found[1]
        task = self._running.get(adapter.name)
        if task is None:
            task = asyncio.ensure_future(self._probe(adapter))
            self._running[adapter.name] = task
            task.add_done_callback(lambda _: self._running.pop(adapter.name, None))
        # shielded: one caller going away must not cancel the probe the others wait for
        return await asyncio.shield(task)


async def _last_sync(ctx: ApiContext, entity_type: str) -> datetime | None:
    events = await ctx.catalog.get_event_log(entity_type=entity_type, limit=1)
    if not events:
        return None
    recorded = getattr(events[0], "recorded_at", None)
    if not isinstance(recorded, datetime):
        return None
    return recorded if recorded.tzinfo is not None else recorded.replace(tzinfo=UTC)


def adapter_status_router(ctx: ApiContext) -> APIRouter:
    """``/api/v1/adapters/status`` and ``/api/v1/adapters/{name}/status``."""
    router = APIRouter(prefix="/api/v1/adapters", tags=["adapters"])
    health = _HealthCache(HEALTH_TTL_SECONDS, HEALTH_DEADLINE_SECONDS)

    async def status_of(adapter: DataProductAdapter) -> dict[str, Any]:
        probed, synced = await asyncio.gather(
            health.get(adapter), _last_sync(ctx, adapter.entity_type)
        )
        status = adapter_status(adapter, probed, last_sync_at=synced)
        status["sla"]["window"] = ctx.sla.report(adapter.name) if ctx.sla else None
        return status

    @router.get("/status")
    async def list_adapter_statuses() -> Any:
        """Every adapter's status (those whose entity type the caller may read)."""
        adapters = sorted(ctx.registry.adapters(), key=lambda a: a.name)
        readable = await governed.readable_types(ctx, {a.entity_type for a in adapters})
        shown = [a for a in adapters if a.entity_type in readable]
        return {"adapters": list(await asyncio.gather(*(status_of(a) for a in shown)))}

    @router.get("/{name}/status")
    async def get_adapter_status(name: AdapterName) -> Any:
        """One adapter's health, breaker, last sync, error rate, latency and SLA."""
        adapter = ctx.registry.by_name(name)  # 404 before the source is called
        await governed.check_readable(ctx, adapter.entity_type)
        return await status_of(adapter)

    return router
