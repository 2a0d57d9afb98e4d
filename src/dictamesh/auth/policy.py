"""What an authenticated (or anonymous) caller may reach: public paths, role rules, tenant.

Paths match by segment: ``/x`` matches ``/x`` and ``/x/...`` but not ``/xy``.

Example::

    policy = AccessPolicy(settings.auth)
    policy.is_public("/health")                                   # True
    policy.check(principal, "POST", "/api/v1/schemas/customer")   # PermissionDenied unless admin
    policy.tenant_for(principal, request.headers.get("X-Tenant-ID"))
"""

from __future__ import annotations

from collections.abc import Iterable

from dictamesh.core.errors import AuthenticationError, PermissionDenied
from dictamesh.core.principal import Principal
from dictamesh.core.settings import AccessRule, AuthSettings

__all__ = ["AccessPolicy", "path_matches"]


def path_matches(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


class AccessPolicy:
    def __init__(self, settings: AuthSettings) -> None:
        self._public = list(settings.public_paths)
        self._rules: list[AccessRule] = list(settings.rules)
        self._admin_role = settings.admin_role

    def is_public(self, path: str) -> bool:
        return any(path_matches(path, p) for p in self._public)

    def rules_for(self, method: str, path: str) -> Iterable[AccessRule]:
        method = method.upper()
        return [
            r
            for r in self._rules
            if path_matches(path, r.path) and (not r.methods or method in r.methods)
        ]

    def check(self, principal: Principal | None, method: str, path: str) -> None:
        """Every matching rule needs one of its roles: anonymous → 401, lacking → 403."""
        for rule in self.rules_for(method, path):
            if principal is None:
                raise AuthenticationError("authentication required")
            if not principal.has_any_role(*rule.roles):
                raise PermissionDenied("not allowed")

    def tenant_for(self, principal: Principal | None, requested: str | None) -> str | None:
        """The tenant of the request: the principal's, checked against the requested one.

        A principal bound to a tenant cannot name another; one bound to none may name any
        tenant only if it holds the admin role. Naming a tenant needs authentication.
        """
        requested = requested.strip() if requested is not None else None
        if not requested:
            return principal.tenant if principal else None
        if principal is None:
            raise AuthenticationError("authentication required")
        if principal.tenant is not None:
            if requested != principal.tenant:
                raise PermissionDenied("tenant does not match the credentials")
            return requested
        if not principal.has_role(self._admin_role):
            raise PermissionDenied("not allowed to select a tenant")
        return requested
