"""Development tokens: HS256 JWTs signed with ``auth.jwt_secret`` (never for production).

Example::

    token = mint_dev_token(secret, "alice", roles=["admin"], tenant="acme")
    # curl -H "Authorization: Bearer $token" http://127.0.0.1:8000/api/v1/adapters
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import jwt

from dictamesh.auth.tokens import HS_ALGORITHM

__all__ = ["mint_dev_token"]


def mint_dev_token(
    secret: str,
    subject: str,
    *,
    roles: Iterable[str] = (),
    tenant: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    ttl_seconds: float = 3600,
    roles_claim: str = "roles",
    tenant_claim: str = "tenant_id",
    extra: Mapping[str, Any] | None = None,
) -> str:
    """An HS256 token for ``subject`` valid for ``ttl_seconds`` from now."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + int(ttl_seconds),
        "jti": uuid.uuid4().hex,
        roles_claim: sorted(set(roles)),
    }
    if tenant is not None:
        claims[tenant_claim] = tenant
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm=HS_ALGORITHM)
