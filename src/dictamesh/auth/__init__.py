"""Authentication and access control for the node's HTTP API (``docs/security.md``).

Bearer JWTs (HS256 with a shared secret for development; RS*/ES* via the identity
provider's JWKS) and API keys (stored as SHA-256 digests) become one
:class:`~dictamesh.core.principal.Principal` per request, set by :class:`AuthMiddleware`
in :data:`dictamesh.core.context.current_principal` (with the tenant contextvar), in
``request.state.principal`` and in GraphQL's ``info.context.principal``.

Example::

    from dictamesh.auth import install_auth
    from dictamesh.core.settings import AuthSettings

    install_auth(app, AuthSettings(mode="required", jwks_url="https://idp/.well-known/jwks.json",
                                   issuer="https://idp/", audience=["dictamesh"]))
"""

from dictamesh.auth.apikeys import ApiKeyVerifier, generate_api_key, hash_api_key
from dictamesh.auth.authenticator import Authenticator
from dictamesh.auth.credentials import (
    Credentials,
    credentials_from_headers,
    credentials_from_payload,
)
from dictamesh.auth.dependencies import request_principal, require_principal, require_roles
from dictamesh.auth.dev import mint_dev_token
from dictamesh.auth.middleware import AuthMiddleware, install_auth
from dictamesh.auth.policy import AccessPolicy
from dictamesh.auth.tokens import JwtVerifier
from dictamesh.core.principal import Principal

__all__ = [
    "AccessPolicy",
    "ApiKeyVerifier",
    "AuthMiddleware",
    "Authenticator",
    "Credentials",
    "JwtVerifier",
    "Principal",
    "credentials_from_headers",
    "credentials_from_payload",
    "generate_api_key",
    "hash_api_key",
    "install_auth",
    "mint_dev_token",
    "request_principal",
    "require_principal",
    "require_roles",
]
