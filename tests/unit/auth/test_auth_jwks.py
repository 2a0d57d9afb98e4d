"""RS256/ES256 through a real JWKS endpoint on 127.0.0.1: caching, rotation, outages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.unit.auth.support import (
    JwksServer,
    app_node,
    bearer,
    claims,
    ec_key,
    hs_token,
    public_jwk,
    raw_token,
    rsa_key,
    settings,
    signed_token,
)

from dictamesh.auth import Authenticator, JwtVerifier
from dictamesh.core.errors import AuthenticationError, AuthUnavailable
from dictamesh.core.settings import AuthSettings

RSA_1, RSA_2 = rsa_key(), rsa_key()


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    server.keys = [public_jwk(RSA_1, "k1")]
    with server.running():
        yield server


def jwks_settings(server: JwksServer, **overrides: object) -> AuthSettings:
    values: dict[str, object] = {
        "jwt_secret": None,
        "jwks_url": server.url,
        "jwks_refetch_cooldown_seconds": 0,
    }
    values.update(overrides)
    return settings(**values)


async def test_rs256_token_verifies_and_the_key_set_is_cached(jwks: JwksServer) -> None:
    verifier = JwtVerifier(jwks_settings(jwks))
    for _ in range(3):
        assert (await verifier.verify(signed_token(RSA_1, "k1")))["sub"] == "alice"
    assert jwks.fetches == 1


async def test_es256_token_verifies(jwks: JwksServer) -> None:
    key = ec_key()
    jwks.keys.append(public_jwk(key, "ec1"))
    verifier = JwtVerifier(jwks_settings(jwks))
    assert (await verifier.verify(signed_token(key, "ec1")))["sub"] == "alice"


async def test_key_rotation_unknown_kid_refetches_once(jwks: JwksServer) -> None:
    verifier = JwtVerifier(jwks_settings(jwks))
    await verifier.verify(signed_token(RSA_1, "k1"))
    assert jwks.fetches == 1
    # The provider rotates: k2 is published and k1 withdrawn.
    jwks.keys = [public_jwk(RSA_2, "k2")]
    assert (await verifier.verify(signed_token(RSA_2, "k2")))["sub"] == "alice"
    assert jwks.fetches == 2
    await verifier.verify(signed_token(RSA_2, "k2"))
    assert jwks.fetches == 2  # cached again


async def test_unknown_kid_floods_do_not_hammer_the_provider(jwks: JwksServer) -> None:
    verifier = JwtVerifier(jwks_settings(jwks, jwks_refetch_cooldown_seconds=60))
    await verifier.verify(signed_token(RSA_1, "k1"))
    for i in range(5):
        with pytest.raises(AuthenticationError):
            await verifier.verify(signed_token(RSA_2, f"forged-{i}"))
    assert jwks.fetches == 1


async def test_token_signed_by_a_key_not_in_the_set_fails(jwks: JwksServer) -> None:
    verifier = JwtVerifier(jwks_settings(jwks))
    with pytest.raises(AuthenticationError) as caught:
        await verifier.verify(signed_token(RSA_2, "k1"))  # right kid, wrong key
    assert caught.value.message == "invalid token"


async def test_alg_in_header_cannot_switch_the_key_type(jwks: JwksServer) -> None:
    """An RS256 JWKS key with an ES256 header, or an HS256 token on a JWKS-only node."""
    verifier = JwtVerifier(jwks_settings(jwks))
    header = {"alg": "ES256", "kid": "k1"}
    with pytest.raises(AuthenticationError):
        await verifier.verify(raw_token(header, claims(), b"x" * 32))
    with pytest.raises(AuthenticationError):
        await verifier.verify(hs_token())


async def test_jwks_outage_is_503_not_401(jwks: JwksServer) -> None:
    jwks.broken = True
    with pytest.raises(AuthUnavailable) as caught:
        await JwtVerifier(jwks_settings(jwks)).verify(signed_token(RSA_1, "k1"))
    assert caught.value.http_status == 503


async def test_jwks_over_http_end_to_end(jwks: JwksServer) -> None:
    node = app_node(Authenticator(jwks_settings(jwks)))
    async with node.client() as http:
        ok = await http.get("/api/v1/adapters", headers=bearer(signed_token(RSA_1, "k1")))
        assert ok.status_code == 200
        jwks.broken = True
        jwks.keys = []
        down = await http.get("/api/v1/adapters", headers=bearer(signed_token(RSA_2, "k9")))
    assert down.status_code == 503
    assert down.json() == {
        "error": {"code": "AUTH_UNAVAILABLE", "message": "cannot verify credentials now"}
    }
    assert down.headers["retry-after"] == "5"
