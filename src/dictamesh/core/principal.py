"""Who is calling: the authenticated identity of one request or connection.

A :class:`Principal` is resolved once per request by :mod:`dictamesh.auth` and carried in
:data:`dictamesh.core.context.current_principal`, so every layer (REST handlers, GraphQL
resolvers, adapters, the catalog) sees the same identity without passing it around.

Example::

    p = Principal(subject="alice", roles=frozenset({"admin"}), tenant="acme", method="jwt")
    p.has_any_role("admin", "ops")  # True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

__all__ = ["AuthMethod", "Principal"]

AuthMethod = Literal["jwt", "api_key"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. Immutable: nothing downstream can widen its rights."""

    subject: str
    roles: frozenset[str] = frozenset()
    #: the tenant whose data this caller sees; ``None`` = not bound to one tenant
    tenant: str | None = None
    method: AuthMethod = "jwt"
    #: the verified token claims (empty for API keys)
    claims: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Read-only view, so a resolver cannot edit claims other layers rely on.
        object.__setattr__(self, "roles", frozenset(self.roles))
        object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def has_any_role(self, *roles: str) -> bool:
        """True when ``roles`` is empty or the caller holds at least one of them."""
        return not roles or not self.roles.isdisjoint(roles)
