"""Database errors → :class:`CatalogError`, telling "the database is unreachable" apart.

A lost or refused connection (server down, restarting, crashed) becomes
:class:`~dictamesh.core.errors.CatalogUnavailable` (503, transient: consumers retry it
instead of dead-lettering); anything else a plain :class:`CatalogError` (500).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from dictamesh.core.errors import CatalogError, CatalogUnavailable

__all__ = ["database_error", "is_unavailable"]

# SQLSTATE classes meaning "no usable server right now": 08 connection exception,
# 57P0x admin/crash shutdown and "cannot connect now" (starting up), 53300 too many clients.
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53300")


def is_unavailable(exc: BaseException) -> bool:
    """True if ``exc`` (or what it wraps) says the server cannot be reached right now."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # asyncpg's connect errors reach us unwrapped: ConnectionRefusedError, resets...
        if isinstance(current, OSError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


def database_error(exc: BaseException) -> CatalogError:
    """The catalog error to raise (``from exc``) for a database/driver exception."""
    detail = getattr(exc, "orig", None) or exc
    if is_unavailable(exc):
        return CatalogUnavailable(f"catalog database unavailable: {detail!r}")
    return CatalogError(f"catalog database error: {detail}")
