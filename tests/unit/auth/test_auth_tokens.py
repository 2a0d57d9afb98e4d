"""JwtVerifier and claims → Principal: every check a forged or stale token must fail."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from tests.unit.auth.support import (
    AUDIENCE,
    ISSUER,
    SECRET,
    claims,
    hs_token,
    raw_token,
    rsa_key,
    settings,
)

from dictamesh.auth import Authenticator, JwtVerifier
from dictamesh.core.errors import AuthenticationError


async def test_valid_hs256_token_gives_its_claims() -> None:
    got = await JwtVerifier(settings()).verify(hs_token())
    assert got["sub"] == "alice"
    assert got["tenant_id"] == "acme"


@pytest.mark.parametrize(
    ("mint", "message"),
    [
        pytest.param(lambda: hs_token(exp=int(time.time()) - 60), "token expired", id="expired"),
        pytest.param(
            lambda: hs_token(nbf=int(time.time()) + 600), "invalid token", id="not-yet-valid"
        ),
        pytest.param(
            lambda: hs_token(iat=int(time.time()) + 600), "invalid token", id="issued-in-future"
        ),
        pytest.param(
            lambda: hs_token(secret="another-secret-that-is-long-enough-000"),
            "invalid token",
            id="forged-signature",
        ),
        pytest.param(lambda: hs_token(aud="someone-else"), "invalid token", id="wrong-audience"),
        pytest.param(lambda: hs_token(aud=None), "invalid token", id="no-audience"),
        pytest.param(
            lambda: hs_token(iss="https://evil.test/"), "invalid token", id="wrong-issuer"
        ),
        pytest.param(lambda: hs_token(exp=None), "invalid token", id="no-exp"),
        pytest.param(lambda: hs_token(sub=None), "invalid token", id="no-sub"),
        pytest.param(
            lambda: raw_token({"alg": "none", "typ": "JWT"}, claims(), None),
            "invalid token",
            id="alg-none",
        ),
        pytest.param(
            lambda: raw_token({"alg": "HS512"}, claims(), SECRET.encode()),
            "invalid token",
            id="unaccepted-hs512",
        ),
        pytest.param(lambda: "not.a.jwt", "invalid token", id="garbage"),
        pytest.param(lambda: "", "invalid token", id="empty"),
    ],
)
async def test_bad_tokens_are_rejected_generically(mint: Callable[[], str], message: str) -> None:
    # minted when the test runs: tokens made at collection would expire during a long suite
    token = mint()
    with pytest.raises(AuthenticationError) as caught:
        await JwtVerifier(settings()).verify(token)
    assert caught.value.message == message
    assert caught.value.http_status == 401
    assert not caught.value.details  # nothing about which check failed


async def test_tampered_payload_fails_the_signature() -> None:
    header, _, sig = hs_token().split(".")
    other = hs_token(sub="mallory", roles=["admin"]).split(".")[1]
    with pytest.raises(AuthenticationError):
        await JwtVerifier(settings()).verify(f"{header}.{other}.{sig}")


async def test_small_clock_skew_is_within_leeway() -> None:
    now = int(time.time())
    token = hs_token(iat=now + 2, nbf=now + 2, exp=now - 2)
    assert (await JwtVerifier(settings(leeway_seconds=5)).verify(token))["sub"] == "alice"
    with pytest.raises(AuthenticationError):
        await JwtVerifier(settings(leeway_seconds=0)).verify(token)


async def test_any_configured_audience_is_accepted() -> None:
    verifier = JwtVerifier(settings(audience=["other", AUDIENCE]))
    assert (await verifier.verify(hs_token()))["aud"] == AUDIENCE


async def test_required_claims_are_configurable() -> None:
    verifier = JwtVerifier(settings(required_claims=["exp", "sub", "jti"]))
    with pytest.raises(AuthenticationError):
        await verifier.verify(hs_token())
    assert (await verifier.verify(hs_token(jti="j-1")))["jti"] == "j-1"


async def test_rs256_public_key_as_hs256_secret_is_refused() -> None:
    """The classic alg-confusion forgery: HMAC-sign with the (public) RSA key."""
    public_pem = (
        rsa_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    forged = raw_token({"alg": "HS256", "typ": "JWT"}, claims(roles=["admin"]), public_pem)
    # A node that knows only asymmetric keys has no HS256 verifier at all...
    jwks_only = settings(jwt_secret=None, jwks_url="http://127.0.0.1:9/jwks.json")
    with pytest.raises(AuthenticationError):
        await JwtVerifier(jwks_only).verify(forged)
    # ...and even a node misconfigured with the PEM as its secret refuses that key.
    misconfigured = settings(jwt_secret=public_pem.decode())
    with pytest.raises(AuthenticationError):
        await JwtVerifier(misconfigured).verify(forged)


async def test_hs256_is_not_accepted_without_a_secret() -> None:
    verifier = JwtVerifier(settings(jwt_secret=None, api_keys=[_key()]))
    assert not verifier
    with pytest.raises(AuthenticationError):
        await verifier.verify(hs_token())


def _key() -> dict[str, str]:
    return {"sha256": "0" * 64, "subject": "k"}


@pytest.mark.parametrize(
    ("roles_claim", "extra", "expected"),
    [
        ("roles", {"roles": ["a", "b"]}, {"a", "b"}),
        ("scope", {"scope": "read write"}, {"read", "write"}),
        ("realm_access.roles", {"realm_access": {"roles": ["admin"]}}, {"admin"}),
        ("groups", {}, set()),
    ],
)
async def test_roles_claim_is_configurable(
    roles_claim: str, extra: dict[str, object], expected: set[str]
) -> None:
    auth = Authenticator(settings(roles_claim=roles_claim))
    principal = auth.principal_from_claims({**claims(roles=None), **extra})
    assert principal.roles == expected


async def test_tenant_claim_is_configurable() -> None:
    auth = Authenticator(settings(tenant_claim="org"))
    principal = auth.principal_from_claims(claims(tenant_id=None, org="globex"))
    assert (principal.tenant, principal.method, principal.subject) == ("globex", "jwt", "alice")
    assert principal.claims["org"] == "globex"


@pytest.mark.parametrize(
    "bad", [{"roles": "x", "sub": 5}, {"roles": [1, 2]}, {"roles": {"a": 1}}, {"tenant_id": 7}]
)
async def test_malformed_identity_claims_are_invalid_tokens(bad: dict[str, object]) -> None:
    with pytest.raises(AuthenticationError):
        Authenticator(settings()).principal_from_claims({**claims(), **bad})


def test_principal_is_read_only() -> None:
    principal = Authenticator(settings()).principal_from_claims(claims())
    with pytest.raises(AttributeError):
        principal.subject = "mallory"  # type: ignore[misc]
    with pytest.raises(TypeError):
        principal.claims["roles"] = ["admin"]  # type: ignore[index]


def test_pyjwt_itself_would_accept_our_dev_tokens() -> None:
    decoded = jwt.decode(hs_token(), SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert decoded["sub"] == "alice"
