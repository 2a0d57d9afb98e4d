"""``GET /debug/traces``: who may read the in-memory traces, and which of them.

Traces hold every request's path, GraphQL document and timings — another tenant's queries
included. So the endpoint is off unless ``observability.debug_traces`` is set (with
``traces_exporter: memory``; ``dictamesh demo`` sets both for its local node), and with
auth on it answers administrators only (``auth.admin_role``). An administrator bound to a
tenant sees that tenant's traces only: each request's server span carries the tenant the
auth middleware resolved (:data:`TENANT_ATTRIBUTE`); traces without one (background work)
are for unbound administrators. With ``auth.mode: off`` every caller is the local operator.

Example::

    configure_debug_traces(enabled=True, auth_mode="required", admin_role="admin")
    GET /debug/traces?limit=5   # 404 when off, 403 for a non-admin, else the caller's traces
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Query
from starlette.responses import JSONResponse, Response

from dictamesh.core.context import current_principal, current_tenant
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.observability.attributes import TENANT_ATTRIBUTE
from dictamesh.observability.tracing import memory_traces_enabled

__all__ = ["TENANT_ATTRIBUTE", "configure_debug_traces", "recent_traces", "setup_debug_traces"]


@dataclass(frozen=True)
class _Access:
    enabled: bool = False
    auth_mode: str = "off"
    admin_role: str = "admin"


_access = _Access()


def configure_debug_traces(*, enabled: bool, auth_mode: str, admin_role: str) -> None:
    """Process-wide, like the tracer provider whose spans the endpoint serves."""
    global _access
    _access = _Access(enabled=enabled, auth_mode=auth_mode, admin_role=admin_role)


def setup_debug_traces(settings: DictaMeshSettings) -> None:
    """Configure the endpoint from a node's settings (``MeshNode.start`` calls it)."""
    configure_debug_traces(
        enabled=settings.observability.debug_traces,
        auth_mode=settings.auth.mode,
        admin_role=settings.auth.admin_role,
    )


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def recent_traces(
    limit: int = Query(20, ge=1, le=200),
    root: str | None = Query(None, max_length=200, description="root span name contains"),
) -> Response:
    """The newest traces of this process the caller may read (see the module doc)."""
    access = _access
    if not (access.enabled and memory_traces_enabled()):
        # one answer for "off" and "not kept": the endpoint does not exist then
        return _error(
            404,
            "NOT_FOUND",
            "recent traces are served only with observability.debug_traces: true and"
            " observability.traces_exporter: memory",
        )
    tenant_only: str | None = None
    if access.auth_mode != "off":
        principal = current_principal.get()
        if principal is None:
            return _error(401, "UNAUTHENTICATED", "authentication required")
        if not principal.has_role(access.admin_role):
            return _error(403, "FORBIDDEN", "not allowed: recent traces are for administrators")
        if principal.tenant is not None:
            tenant_only = principal.tenant
        elif current_tenant.get() is not None:
            tenant_only = current_tenant.get()  # an unbound admin acting for one tenant
    # the SDK is the optional [otel] extra: imported only once memory tracing runs
    from dictamesh.observability.recent import recent_spans

    traces = recent_spans().traces(limit, root, tenant=tenant_only)
    return JSONResponse({"traces": traces})
