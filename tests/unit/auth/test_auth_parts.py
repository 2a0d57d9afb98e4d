"""Settings, credential parsing, path rules, WebSocket refusals, API keys and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import pytest
from starlette.datastructures import Headers
from starlette.types import Message
from tests.unit.auth.support import SECRET, hs_token, settings
from typer.testing import CliRunner

from dictamesh.auth import (
    AccessPolicy,
    ApiKeyVerifier,
    Authenticator,
    AuthMiddleware,
    credentials_from_headers,
    generate_api_key,
    hash_api_key,
)
from dictamesh.cli.main import app as cli
from dictamesh.core.errors import AuthenticationError, ConfigurationError, PermissionDenied
from dictamesh.core.principal import Principal
from dictamesh.core.settings import ApiKeyConfig, AuthSettings, DictaMeshSettings

# --- settings -------------------------------------------------------------------------


def test_auth_is_off_by_default_so_the_demo_keeps_working() -> None:
    assert DictaMeshSettings().auth.mode == "off"


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ({"mode": "required"}, "needs jwt_secret, jwks_url or api_keys"),
        ({"jwt_secret": "short"}, "at least 32 bytes"),
        ({"jwks_url": "file:///etc/passwd"}, "auth.jwks_url"),
        ({"api_keys": [{"sha256": "not-hex", "subject": "x"}]}, "auth.api_keys.0.sha256"),
        ({"mode": "sometimes"}, "auth.mode"),
    ],
)
def test_bad_auth_settings_are_configuration_errors(auth: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        DictaMeshSettings.from_mapping({"auth": auth})
    assert expected in caught.value.message


def test_secret_is_never_shown_in_settings_repr() -> None:
    assert SECRET not in repr(settings())


def test_auth_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICTAMESH_AUTH__MODE", "required")
    monkeypatch.setenv("DICTAMESH_AUTH__JWT_SECRET", SECRET)
    monkeypatch.setenv("DICTAMESH_AUTH__AUDIENCE", '["dictamesh"]')
    auth = DictaMeshSettings().auth
    assert auth.mode == "required"
    assert auth.jwt_secret is not None
    assert auth.jwt_secret.get_secret_value() == SECRET
    assert auth.audience == ["dictamesh"]


# --- credentials and paths ------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"authorization": "Bearer abc"}, ("bearer", "abc")),
        ({"authorization": "bearer   abc  "}, ("bearer", "abc")),
        ({"authorization": "ApiKey s3cr3t"}, ("api_key", "s3cr3t")),
        ({"x-api-key": "s3cr3t"}, ("api_key", "s3cr3t")),
    ],
)
def test_credentials_are_found(headers: dict[str, str], expected: tuple[str, str] | None) -> None:
    found = credentials_from_headers(Headers(headers))
    assert (found and (found.kind, found.value)) == expected
    if found is not None:
        assert found.value not in repr(found)


def test_two_authorization_headers_are_ambiguous() -> None:
    raw = [(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")]
    with pytest.raises(AuthenticationError):
        credentials_from_headers(Headers(raw=raw))


def test_oversized_credentials_are_refused_unparsed() -> None:
    with pytest.raises(AuthenticationError):
        credentials_from_headers(Headers({"authorization": "Bearer " + "a" * 10_000}))


@pytest.mark.parametrize(
    ("path", "public"),
    [
        ("/health", True),
        ("/ready", True),
        ("/webhooks/crm", True),
        ("/healthz", False),
        ("/readyz/x", False),
        ("/api/v1/health", False),
        ("/graphql", False),
    ],
)
def test_public_paths_match_whole_segments(path: str, public: bool) -> None:
    assert AccessPolicy(settings()).is_public(path) is public


@pytest.mark.parametrize(
    ("method", "path", "admin_only"),
    [
        ("POST", "/api/v1/schemas/customer", True),
        ("GET", "/api/v1/schemas/customer", False),
        ("POST", "/schema-registry/subjects/orders-value/versions", True),
        ("DELETE", "/schema-registry/subjects/orders-value", True),
        ("PUT", "/schema-registry/config/orders-value", True),
        ("GET", "/schema-registry/subjects", False),
        ("POST", "/schema-registry/compatibility/subjects/s/versions/latest", False),
        ("GET", "/api/v1/admin/anything", True),
    ],
)
def test_default_rules_guard_schema_writes(method: str, path: str, admin_only: bool) -> None:
    policy = AccessPolicy(settings())
    policy.check(Principal("root", frozenset({"admin"})), method, path)
    if admin_only:
        with pytest.raises(PermissionDenied):
            policy.check(Principal("reader", frozenset({"reader"})), method, path)
    else:
        policy.check(Principal("reader", frozenset({"reader"})), method, path)


def test_custom_rules_require_any_of_their_roles() -> None:
    policy = AccessPolicy(
        settings(rules=[{"path": "/api/v1/lineage", "methods": ["get"], "roles": ["a", "b"]}])
    )
    policy.check(Principal("x", frozenset({"b"})), "GET", "/api/v1/lineage/customer")
    policy.check(Principal("x"), "GET", "/api/v1/lineageX")
    with pytest.raises(PermissionDenied):
        policy.check(Principal("x", frozenset({"c"})), "GET", "/api/v1/lineage")
    with pytest.raises(AuthenticationError):
        policy.check(None, "GET", "/api/v1/lineage")


# --- API keys -------------------------------------------------------------------------


def test_api_keys_are_random_and_stored_hashed() -> None:
    key = generate_api_key()
    assert key.startswith("dmk_")
    assert key != generate_api_key()
    digest = hash_api_key(key)
    assert len(digest) == 64
    assert key not in digest
    entries = [
        ApiKeyConfig(sha256=hash_api_key("other"), subject="other"),
        ApiKeyConfig(sha256=digest, subject="etl", roles=["r"], tenant="t"),
    ]
    found = ApiKeyVerifier(entries).verify(key)
    assert (found.subject, found.roles, found.tenant, found.method, dict(found.claims)) == (
        "etl",
        frozenset({"r"}),
        "t",
        "api_key",
        {},
    )
    with pytest.raises(AuthenticationError):
        ApiKeyVerifier(entries).verify(key[:-1])


# --- WebSocket ------------------------------------------------------------------------


async def test_connection_init_payload_authenticates() -> None:
    auth = Authenticator(settings())
    found = await auth.authenticate_payload({"Authorization": f"Bearer {hs_token()}"})
    assert found is not None
    assert found.subject == "alice"
    assert await auth.authenticate_payload({}) is None
    with pytest.raises(AuthenticationError):
        await auth.authenticate_payload({"authorization": "Bearer nope"})


async def _websocket(
    headers: list[tuple[bytes, bytes]], extensions: dict[str, Any], path: str = "/graphql"
) -> Any:
    sent: list[Message] = []
    reached: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["state"]["principal"])

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = AuthMiddleware(app, Authenticator(settings()))
    scope = {
        "type": "websocket",
        "path": path,
        "headers": headers,
        "extensions": extensions,
    }
    await middleware(scope, receive, send)
    return sent, reached


async def test_websocket_without_credentials_is_refused() -> None:
    sent, reached = await _websocket([], {}, path="/api/v1/stream")
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert reached == []
    sent, _ = await _websocket([], {"websocket.http.response": {}}, path="/api/v1/stream")
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 401
    assert b"UNAUTHENTICATED" in sent[1]["body"]


async def test_graphql_websocket_without_credentials_defers_to_connection_init() -> None:
    # Browsers cannot send headers: the GraphQL app authenticates connection_init instead
    # (tests/unit/api/test_graphql_ws.py covers that side).
    sent, reached = await _websocket([], {})
    assert sent == []
    assert reached == [None]


async def test_websocket_with_credentials_gets_the_principal() -> None:
    token = hs_token().encode()
    sent, reached = await _websocket([(b"authorization", b"Bearer " + token)], {})
    assert sent == []
    assert reached[0].subject == "alice"


# --- CLI ------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_mints_a_dev_token_that_the_node_accepts(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text(
        f"auth:\n  mode: required\n  jwt_secret: {SECRET}\n"
        "  issuer: https://idp.test/\n  audience: [dictamesh]\n"
    )
    result = runner.invoke(
        cli,
        [
            "auth",
            "token",
            "--sub",
            "alice",
            "--roles",
            "admin,ops",
            "--tenant",
            "acme",
            "-c",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], audience="dictamesh", issuer="https://idp.test/"
    )
    assert (claims["sub"], claims["roles"], claims["tenant_id"]) == (
        "alice",
        ["admin", "ops"],
        "acme",
    )
    auth = Authenticator(DictaMeshSettings.from_yaml(config).auth)
    assert auth.principal_from_claims(claims).roles == {"admin", "ops"}


def test_cli_token_needs_a_secret() -> None:
    result = runner.invoke(cli, ["auth", "token", "--sub", "alice"])
    assert result.exit_code == 2
    assert "secret" in result.output


def test_cli_api_key_prints_key_and_hash() -> None:
    result = runner.invoke(cli, ["auth", "api-key"])
    assert result.exit_code == 0
    lines = dict(line.split(":", 1) for line in result.output.strip().splitlines())
    assert hash_api_key(lines["key"].strip()) == lines["sha256"].strip()


def test_auth_settings_type_is_exported() -> None:
    assert isinstance(settings(), AuthSettings)
