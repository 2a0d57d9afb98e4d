"""API keys: stored only as SHA-256 digests, compared in constant time.

Example::

    key = generate_api_key()               # give this to the client, once
    digest = hash_api_key(key)             # store this: auth.api_keys[].sha256
    verifier = ApiKeyVerifier([ApiKeyConfig(sha256=digest, subject="etl", roles=["reader"])])
    verifier.verify(key).subject           # 'etl'
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from dictamesh.core.errors import AuthenticationError
from dictamesh.core.principal import Principal
from dictamesh.core.settings import ApiKeyConfig

__all__ = ["ApiKeyVerifier", "generate_api_key", "hash_api_key"]

_PREFIX = "dmk_"


def hash_api_key(key: str) -> str:
    """The hex SHA-256 of ``key`` (what the configuration stores)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_api_key() -> str:
    """A new random key (256 bits); the prefix makes leaked keys easy to grep for."""
    return _PREFIX + secrets.token_urlsafe(32)


class ApiKeyVerifier:
    """Maps a presented key to the principal configured for its digest."""

    def __init__(self, keys: Sequence[ApiKeyConfig]) -> None:
        self._entries = [(bytes.fromhex(k.sha256), k) for k in keys]

    def __bool__(self) -> bool:
        return bool(self._entries)

    def verify(self, key: str) -> Principal:
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        match: ApiKeyConfig | None = None
        # Every entry is compared, without an early exit, so timing does not tell which
        # (or whether an early) entry matched.
        for stored, entry in self._entries:
            if hmac.compare_digest(digest, stored):
                match = entry
        if match is None:
            raise AuthenticationError("invalid credentials")
        return Principal(
            subject=match.subject,
            roles=frozenset(match.roles),
            tenant=match.tenant,
            method="api_key",
        )
