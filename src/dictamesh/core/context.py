"""Per-request/per-event context (tenant, trace) carried through every layer via contextvars."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["current_tenant", "tenant_id"]

current_tenant: ContextVar[str | None] = ContextVar("dictamesh_tenant", default=None)


def tenant_id() -> str | None:
    return current_tenant.get()
