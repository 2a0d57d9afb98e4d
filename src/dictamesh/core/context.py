"""Per-request/per-event context (tenant, principal, trace) carried through every layer via
contextvars.

The auth middleware sets both for one request: ``current_principal`` to the caller and
``current_tenant`` to the principal's tenant, so the catalog and the adapter cache are
scoped without any parameter passing.

Example::

    with bind(principal):
        await adapter.get_entity("42")    # cache keys and catalog reads use principal.tenant
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from dictamesh.core.principal import Principal

__all__ = [
    "bind",
    "current_principal",
    "current_purpose",
    "current_tenant",
    "principal",
    "tenant_id",
]

current_tenant: ContextVar[str | None] = ContextVar("dictamesh_tenant", default=None)
current_principal: ContextVar[Principal | None] = ContextVar("dictamesh_principal", default=None)
#: the purpose the request declared (header ``X-DictaMesh-Purpose``; the governance
#: middleware sets it, a JWT claim is read where it is decided: ``docs/governance.md``)
current_purpose: ContextVar[str | None] = ContextVar("dictamesh_purpose", default=None)


def tenant_id() -> str | None:
    return current_tenant.get()


def principal() -> Principal | None:
    """The authenticated caller of the current request, if any."""
    return current_principal.get()


@contextlib.contextmanager
def bind(who: Principal | None, tenant: str | None = None) -> Iterator[None]:
    """Set the principal and the tenant (default: the principal's) for the block."""
    p_token = current_principal.set(who)
    t_token = current_tenant.set(tenant if tenant is not None else (who.tenant if who else None))
    try:
        yield
    finally:
        current_tenant.reset(t_token)
        current_principal.reset(p_token)
