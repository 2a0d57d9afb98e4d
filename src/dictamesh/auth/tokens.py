"""Bearer JWT verification: HS256 with a shared secret, RS*/ES*/PS* with keys from a JWKS.

The token's ``alg`` header only *selects* a configured verifier; it never chooses the key
type. HS256 is checked only against ``auth.jwt_secret`` and asymmetric algorithms only
against JWKS keys (each bound to its own algorithm), so an RS256 public key can never be
used as an HMAC secret, and ``alg: none`` matches nothing. Signature, ``exp``, ``nbf``,
``iat`` (with ``leeway_seconds``), ``iss``, ``aud`` and the required claims are checked.

JWKS keys are cached for ``jwks_cache_seconds``; a token with an unknown ``kid`` makes one
refetch (key rotation), at most once per ``jwks_refetch_cooldown_seconds``.

Example::

    verifier = JwtVerifier(settings.auth)
    claims = await verifier.verify(token)   # raises AuthenticationError / AuthUnavailable
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import jwt

from dictamesh.core.errors import AuthenticationError, AuthUnavailable, ConfigurationError
from dictamesh.core.settings import AuthSettings

__all__ = ["HS_ALGORITHM", "JwtVerifier"]

logger = logging.getLogger("dictamesh.auth")

HS_ALGORITHM = "HS256"


class JwtVerifier:
    """Verifies bearer tokens and returns their claims."""

    def __init__(self, settings: AuthSettings, *, jwks_client: jwt.PyJWKClient | None = None):
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self._asymmetric: list[str] = [str(a) for a in settings.jwks_algorithms]
        self._jwks = jwks_client
        if self._jwks is None and settings.jwks_url:
            try:
                self._jwks = jwt.PyJWKClient(
                    settings.jwks_url,
                    # Only the whole set is cached (with a lifetime): a per-kid cache has no
                    # expiry and would keep trusting a key the provider has withdrawn.
                    cache_keys=False,
                    cache_jwk_set=True,
                    lifespan=settings.jwks_cache_seconds,
                    timeout=settings.jwks_timeout_seconds,
                    cooldown_duration=settings.jwks_refetch_cooldown_seconds,
                )
            except jwt.PyJWKClientError as exc:
                raise ConfigurationError(f"auth.jwks_url: {exc}") from exc
        self._issuer = settings.issuer
        self._audience = list(settings.audience) or None
        self._leeway = settings.leeway_seconds
        self._required = list(settings.required_claims)

    def __bool__(self) -> bool:
        return self._secret is not None or self._jwks is not None

    async def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("invalid token") from None
        alg = header.get("alg")
        key: Any
        if alg == HS_ALGORITHM and self._secret is not None:
            key, algorithms = self._secret, [HS_ALGORITHM]
        elif isinstance(alg, str) and alg in self._asymmetric and self._jwks is not None:
            key, algorithms = await self._signing_key(token), self._asymmetric
        else:
            logger.info("rejected a token: algorithm %r is not accepted", alg)
            raise AuthenticationError("invalid token")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": self._required, "enforce_minimum_key_length": True},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token expired") from None
        except jwt.PyJWTError as exc:
            # The reason goes to the log only; the client learns "invalid token".
            logger.info("rejected a token: %r", exc)
            raise AuthenticationError("invalid token") from None
        if not isinstance(claims, Mapping):
            raise AuthenticationError("invalid token")
        return dict(claims)

    async def _signing_key(self, token: str) -> jwt.PyJWK:
        assert self._jwks is not None
        try:
            # PyJWKClient fetches with blocking urllib; keep the event loop free.
            return await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            logger.warning("cannot fetch the JWKS: %r", exc)
            raise AuthUnavailable("cannot verify credentials now") from None
        except jwt.PyJWKSetError as exc:
            logger.warning("the JWKS is unusable: %r", exc)
            raise AuthUnavailable("cannot verify credentials now") from None
        except jwt.PyJWTError as exc:  # unknown kid, malformed token
            logger.info("rejected a token: %r", exc)
            raise AuthenticationError("invalid token") from None
        except (OSError, ValueError) as exc:  # e.g. the endpoint answered with non-JSON
            logger.warning("cannot read the JWKS: %r", exc)
            raise AuthUnavailable("cannot verify credentials now") from None
