"""FastAPI dependencies for handlers that need the caller.

Example::

    @router.get("/me")
    async def me(principal: Annotated[Principal, Depends(require_principal)]) -> Any:
        return {"subject": principal.subject}

    @router.post("/admin/reindex", dependencies=[Depends(require_roles("admin"))])
    async def reindex() -> Any: ...
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import HTTPConnection

from dictamesh.core.context import current_principal
from dictamesh.core.errors import AuthenticationError, PermissionDenied
from dictamesh.core.principal import Principal

__all__ = ["request_principal", "require_principal", "require_roles"]


def request_principal(conn: HTTPConnection) -> Principal | None:
    """The caller of this request/connection (``None``: anonymous, or auth is off)."""
    found = getattr(conn.state, "principal", None)
    return found if isinstance(found, Principal) else current_principal.get()


def require_principal(conn: HTTPConnection) -> Principal:
    found = request_principal(conn)
    if found is None:
        raise AuthenticationError("authentication required")
    return found


def require_roles(*roles: str) -> Callable[[HTTPConnection], Principal]:
    """A dependency that needs an authenticated caller holding one of ``roles``."""

    def dependency(conn: HTTPConnection) -> Principal:
        found = require_principal(conn)
        if not found.has_any_role(*roles):
            raise PermissionDenied("not allowed")
        return found

    return dependency
