"""From credentials to a :class:`~dictamesh.core.principal.Principal`, and the request's
access decision.

Example::

    auth = Authenticator(settings.auth)
    principal = await auth.authenticate(credentials_from_headers(request.headers))
    principal, tenant = await auth.resolve("GET", "/api/v1/adapters", creds, tenant_header)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from dictamesh.auth.apikeys import ApiKeyVerifier
from dictamesh.auth.credentials import Credentials, credentials_from_payload
from dictamesh.auth.policy import AccessPolicy
from dictamesh.auth.tokens import JwtVerifier
from dictamesh.core.errors import AuthenticationError
from dictamesh.core.principal import Principal
from dictamesh.core.settings import AuthSettings

__all__ = ["Authenticator"]


class Authenticator:
    """Verifies credentials (JWT or API key) and applies the :class:`AccessPolicy`."""

    def __init__(
        self, settings: AuthSettings, *, jwks_client: jwt.PyJWKClient | None = None
    ) -> None:
        self.settings = settings
        self.mode = settings.mode
        self.policy = AccessPolicy(settings)
        self.tokens = JwtVerifier(settings, jwks_client=jwks_client)
        self.api_keys = ApiKeyVerifier(settings.api_keys)

    async def authenticate(self, credentials: Credentials) -> Principal:
        """The principal for ``credentials``; :class:`AuthenticationError` if they fail."""
        if credentials.kind == "api_key":
            if not self.api_keys:
                raise AuthenticationError("invalid credentials")
            return self.api_keys.verify(credentials.value)
        if not self.tokens:
            raise AuthenticationError("invalid token")
        return self.principal_from_claims(await self.tokens.verify(credentials.value))

    async def authenticate_payload(self, payload: Mapping[str, Any] | None) -> Principal | None:
        """For a WebSocket ``connection_init`` payload; ``None`` when it holds no credentials."""
        creds = credentials_from_payload(payload)
        return None if creds is None else await self.authenticate(creds)

    def principal_from_claims(self, claims: Mapping[str, Any]) -> Principal:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AuthenticationError("invalid token")
        roles = _claim(claims, self.settings.roles_claim)
        if isinstance(roles, str):
            roles = roles.split()  # OAuth "scope"-style: space-separated
        if roles is None:
            roles = []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise AuthenticationError("invalid token")
        tenant = _claim(claims, self.settings.tenant_claim)
        if tenant is not None and (not isinstance(tenant, str) or not tenant):
            raise AuthenticationError("invalid token")
        return Principal(
            subject=subject, roles=frozenset(roles), tenant=tenant, method="jwt", claims=claims
        )

    async def resolve(
        self,
        method: str,
        path: str,
        credentials: Credentials | None,
        requested_tenant: str | None = None,
    ) -> tuple[Principal | None, str | None]:
        """``(principal, tenant)`` for one request, or the 401/403/503 error to answer with.

        Credentials that are sent are always verified, also in ``optional`` mode: a bad
        token is an error, never a silent downgrade to anonymous.
        """
        principal = None if credentials is None else await self.authenticate(credentials)
        if principal is None and self.mode == "required":
            raise AuthenticationError("authentication required")
        self.policy.check(principal, method, path)
        return principal, self.policy.tenant_for(principal, requested_tenant)


def _claim(claims: Mapping[str, Any], name: str) -> Any:
    """``claims[name]``, where dots walk into nested objects (``realm_access.roles``)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
