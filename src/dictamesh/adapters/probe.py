"""Is a source reachable? A read-only probe of one adapter for ``dictamesh check``.

The probe asks the adapter's :meth:`~dictamesh.adapters.contract.DataProductAdapter.health_check`
and reads one entity (``query_entities(Query(limit=1))``), both under one deadline. It never
writes to the source, and an adapter built without the node's state store keeps its change
state in memory, so nothing is written on disk either.

Example::

    adapter = AdapterRegistry().build(config)
    async with adapter:
        result = await probe_adapter(adapter, timeout=5.0)
    result.status        # CheckStatus.OK, WARN (degraded) or FAIL
"""

from __future__ import annotations

import asyncio
import time

from dictamesh.adapters.contract import DataProductAdapter
from dictamesh.core.checks import CheckResult, CheckStatus, elapsed_ms
from dictamesh.core.errors import DictaMeshError
from dictamesh.core.models import HealthState, HealthStatus, Query

__all__ = ["probe_adapter"]


def _health_problem(health: HealthStatus) -> str:
    error = health.details.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    reasons = health.details.get("reasons")
    if isinstance(reasons, list) and reasons:
        return "; ".join(str(r) for r in reasons)
    return health.status.value


async def probe_adapter(
    adapter: DataProductAdapter, *, timeout: float, check: str | None = None
) -> CheckResult:
    """The health check, then one entity read, within ``timeout`` seconds in all."""
    name = check or f"source:{adapter.name}"
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            health = await adapter.health_check()
            if health.status is HealthState.UNHEALTHY:
                return CheckResult(
                    name,
                    CheckStatus.FAIL,
                    f"unhealthy: {_health_problem(health)}",
                    elapsed_ms(started),
                )
            page = await adapter.query_entities(Query(limit=1))
    except TimeoutError:
        return CheckResult(
            name, CheckStatus.FAIL, f"no answer within {timeout:g} s", elapsed_ms(started)
        )
    except DictaMeshError as exc:
        return CheckResult(
            name, CheckStatus.FAIL, f"read failed: {exc.message}", elapsed_ms(started)
        )
    except Exception as exc:  # an adapter's own bug is a failed check, not a crash
        return CheckResult(
            name, CheckStatus.FAIL, f"read failed: {type(exc).__name__}: {exc}", elapsed_ms(started)
        )
    read = f"read {len(page.items)} {adapter.entity_type}"
    if health.status is HealthState.DEGRADED:
        return CheckResult(
            name,
            CheckStatus.WARN,
            f"degraded: {_health_problem(health)}; {read}",
            elapsed_ms(started),
        )
    return CheckResult(name, CheckStatus.OK, f"healthy; {read}", elapsed_ms(started))
