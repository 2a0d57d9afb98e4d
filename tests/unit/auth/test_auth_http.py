"""The middleware over the real app: 401/403 shapes on REST and GraphQL, modes, open paths,
tenants, and the principal reaching REST handlers, GraphQL resolvers and adapters."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import pytest
import strawberry
from fastapi import Depends, Request
from strawberry.types import Info
from tests.unit.api.conftest import Node
from tests.unit.auth.support import SECRET, app_node, bearer, hs_token, settings

from dictamesh.auth import Authenticator, Principal, hash_api_key, require_principal
from dictamesh.core.context import current_principal, current_tenant, tenant_id
from dictamesh.gateway import gateway_context
from dictamesh.testing.graphql import GraphQLTestClient

API_KEY = "dmk_test-key-for-the-etl-job"
KEYED = [{"sha256": hash_api_key(API_KEY), "subject": "etl", "roles": ["reader"], "tenant": "acme"}]
REST = "/api/v1/adapters"
QUERY = '{ customer(id: "c-1") { name } }'


def node(**overrides: Any) -> Node:
    return app_node(settings(api_keys=KEYED, **overrides))


# --- refusals -------------------------------------------------------------------------


async def test_missing_credentials_rest_is_401_with_a_bare_challenge() -> None:
    async with node().client() as http:
        response = await http.get(REST)
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "UNAUTHENTICATED", "message": "authentication required"}
    }
    # RFC 6750 §3.1: no error code when the request carried no credentials at all.
    assert response.headers["www-authenticate"] == 'Bearer realm="dictamesh"'


async def test_missing_credentials_graphql_is_a_graphql_shaped_401() -> None:
    result = await GraphQLTestClient(node().app).query(QUERY)
    assert result.status_code == 401
    assert result.data is None
    assert result.error_codes == ["UNAUTHENTICATED"]
    assert result.errors[0]["message"] == "authentication required"


@pytest.mark.parametrize(
    ("mint", "message"),
    [
        (lambda: hs_token(exp=int(time.time()) - 120), "token expired"),
        (lambda: hs_token(secret="x" * 40), "invalid token"),
        (lambda: hs_token(aud="elsewhere"), "invalid token"),
        (lambda: hs_token(iss="https://evil.test/"), "invalid token"),
        (lambda: hs_token(nbf=int(time.time()) + 600), "invalid token"),
    ],
)
async def test_invalid_token_is_401_on_rest_and_graphql(
    mint: Callable[[], str], message: str
) -> None:
    token = mint()  # at run time: made at collection, it would expire during a long suite
    app = node()
    async with app.client() as http:
        response = await http.get(REST, headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "UNAUTHENTICATED", "message": message}}
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="dictamesh", error="invalid_token"')
    assert token not in response.text
    assert token not in challenge
    assert SECRET not in response.text

    result = await GraphQLTestClient(app.app).query(QUERY, headers=bearer(token))
    assert (result.status_code, result.error_codes) == (401, ["UNAUTHENTICATED"])
    assert result.errors[0]["message"] == message


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer a.b.c", "X-API-Key": API_KEY},  # two credentials
        {"X-API-Key": ""},
    ],
)
async def test_malformed_or_ambiguous_credentials_are_401(headers: dict[str, str]) -> None:
    async with node().client() as http:
        response = await http.get(REST, headers=headers)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


# --- what stays open ------------------------------------------------------------------


async def test_health_ready_and_webhooks_stay_open() -> None:
    async with node().client() as http:
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/ready")).status_code == 200
        # Webhooks have their own signatures: auth never answers for them.
        hook = await http.post("/webhooks/nope", json={})
    assert hook.status_code == 404


async def test_metrics_are_protected_unless_made_public() -> None:
    async with node().client() as http:
        assert (await http.get("/metrics")).status_code == 401
    async with node(public_paths=["/health", "/metrics"]).client() as http:
        assert (await http.get("/metrics")).status_code != 401  # served, or 404 without it
        assert (await http.get("/ready")).status_code == 401


async def test_mode_off_checks_nothing() -> None:
    async with app_node(settings(mode="off")).client() as http:
        assert (await http.get(REST, headers=bearer("garbage"))).status_code == 200


async def test_optional_mode_lets_anonymous_in_but_not_bad_tokens() -> None:
    async with node(mode="optional").client() as http:
        assert (await http.get(REST)).status_code == 200
        assert (await http.get(REST, headers=bearer(hs_token()))).status_code == 200
        bad = await http.get(REST, headers=bearer(hs_token(secret="y" * 40)))
        admin_only = await http.post("/api/v1/schemas/customer", json={})
    assert bad.status_code == 401
    assert admin_only.status_code == 401  # a rule applies: anonymous must authenticate


# --- API keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{"X-API-Key": API_KEY}, {"Authorization": f"ApiKey {API_KEY}"}]
)
async def test_api_key_in_either_header(headers: dict[str, str]) -> None:
    app = node()
    seen = _whoami(app)
    async with app.client() as http:
        response = await http.get("/api/v1/whoami", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "subject": "etl",
        "roles": ["reader"],
        "tenant": "acme",
        "method": "api_key",
    }
    assert seen == [("etl", "acme")]


async def test_unknown_api_key_is_401() -> None:
    async with node().client() as http:
        response = await http.get(REST, headers={"X-API-Key": API_KEY + "x"})
    assert response.status_code == 401
    assert response.json()["error"] == {"code": "UNAUTHENTICATED", "message": "invalid credentials"}
    assert API_KEY not in response.text


async def test_api_keys_without_jwt_settings() -> None:
    app = app_node(settings(jwt_secret=None, api_keys=KEYED))
    async with app.client() as http:
        assert (await http.get(REST, headers={"X-API-Key": API_KEY})).status_code == 200
        assert (await http.get(REST, headers=bearer(hs_token()))).status_code == 401


# --- roles and tenants ----------------------------------------------------------------


async def test_admin_rule_forbids_schema_writes_for_readers() -> None:
    async with node().client() as http:
        reader = await http.post(
            "/api/v1/schemas/customer", json={}, headers=bearer(hs_token(roles=["reader"]))
        )
        admin = await http.post(
            "/api/v1/schemas/customer", json={}, headers=bearer(hs_token(roles=["admin"]))
        )
        read = await http.get("/api/v1/schemas/customer", headers=bearer(hs_token()))
    assert reader.status_code == 403
    assert reader.json() == {"error": {"code": "FORBIDDEN", "message": "not allowed"}}
    assert 'error="insufficient_scope"' in reader.headers["www-authenticate"]
    assert admin.status_code == 405  # past auth; no such write route (yet)
    assert read.status_code == 200


async def test_tenant_header_must_match_the_token() -> None:
    async with node().client() as http:
        same = await http.get(REST, headers={**bearer(hs_token()), "X-Tenant-ID": "acme"})
        other = await http.get(REST, headers={**bearer(hs_token()), "X-Tenant-ID": "globex"})
        key_other = await http.get(REST, headers={"X-API-Key": API_KEY, "X-Tenant-ID": "globex"})
    assert same.status_code == 200
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "FORBIDDEN"
    assert key_other.status_code == 403


async def test_graphql_tenant_mismatch_is_a_graphql_shaped_403() -> None:
    result = await GraphQLTestClient(node().app).query(
        QUERY, headers={**bearer(hs_token()), "X-Tenant-ID": "globex"}
    )
    assert (result.status_code, result.error_codes) == (403, ["FORBIDDEN"])


async def test_only_tenantless_admins_may_pick_a_tenant() -> None:
    app = node()
    seen = _whoami(app)
    async with app.client() as http:
        admin = await http.get(
            "/api/v1/whoami",
            headers={**bearer(hs_token(tenant_id=None, roles=["admin"])), "X-Tenant-ID": "globex"},
        )
        reader = await http.get(
            "/api/v1/whoami",
            headers={**bearer(hs_token(tenant_id=None)), "X-Tenant-ID": "globex"},
        )
    assert admin.status_code == 200
    assert seen == [("alice", "globex")]
    assert reader.status_code == 403


# --- the principal downstream ---------------------------------------------------------


def _whoami(app: Node) -> list[tuple[str, str | None]]:
    """Adds GET /api/v1/whoami; returns the (subject, tenant) seen per call."""
    seen: list[tuple[str, str | None]] = []

    @app.app.get("/api/v1/whoami")
    async def whoami(
        request: Request, principal: Annotated[Principal, Depends(require_principal)]
    ) -> Any:
        assert request.state.principal is principal
        assert current_principal.get() is principal
        seen.append((principal.subject, tenant_id()))
        return {
            "subject": principal.subject,
            "roles": sorted(principal.roles),
            "tenant": principal.tenant,
            "method": principal.method,
        }

    return seen


async def test_rest_handler_sees_the_principal_and_the_context_is_reset() -> None:
    app = node()
    seen = _whoami(app)
    async with app.client() as http:
        response = await http.get("/api/v1/whoami", headers=bearer(hs_token(roles=["a", "b"])))
    assert response.json() == {
        "subject": "alice",
        "roles": ["a", "b"],
        "tenant": "acme",
        "method": "jwt",
    }
    assert seen == [("alice", "acme")]
    assert current_principal.get() is None
    assert current_tenant.get() is None


@strawberry.type
class WhoAmI:
    subject: str | None
    tenant: str | None
    roles: list[str]


@strawberry.type
class Query:
    @strawberry.field
    def whoami(self, info: Info) -> WhoAmI:
        principal = gateway_context(info).principal
        return WhoAmI(
            subject=principal.subject if principal else None,
            tenant=tenant_id(),
            roles=sorted(principal.roles) if principal else [],
        )


async def test_graphql_resolver_sees_the_principal() -> None:
    app = app_node(
        settings(mode="optional", api_keys=KEYED), graphql_schema=strawberry.Schema(Query)
    )
    gql = GraphQLTestClient(app.app)
    query = "{ whoami { subject tenant roles } }"
    signed = await gql.query(query, headers=bearer(hs_token(roles=["admin"])))
    assert signed.data == {"whoami": {"subject": "alice", "tenant": "acme", "roles": ["admin"]}}
    keyed = await gql.query(query, headers={"X-API-Key": API_KEY})
    assert keyed.data == {"whoami": {"subject": "etl", "tenant": "acme", "roles": ["reader"]}}
    anonymous = await gql.query(query)
    assert anonymous.data == {"whoami": {"subject": None, "tenant": None, "roles": []}}


async def test_anonymous_callers_cannot_pick_a_tenant() -> None:
    async with node(mode="optional").client() as http:
        response = await http.get(REST, headers={"X-Tenant-ID": "acme"})
    assert response.status_code == 401


async def test_a_crash_inside_auth_is_a_json_500() -> None:
    class Broken(Authenticator):
        async def resolve(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("bug")

    async with app_node(Broken(settings())).client() as http:
        response = await http.get(REST, headers=bearer(hs_token()))
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "INTERNAL", "message": "internal error"}}


async def test_schema_registry_refusals_have_confluents_shape() -> None:
    """Confluent clients read ``error_code``; registry writes need the admin role."""
    async with node().client() as http:
        anonymous = await http.get("/schema-registry/subjects")
        reader = await http.post(
            "/schema-registry/subjects/orders-value/versions",
            json={"schema": '"string"'},
            headers=bearer(hs_token(roles=["reader"])),
        )
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error_code": 40101, "message": "authentication required"}
    assert reader.status_code == 403
    assert reader.json() == {"error_code": 40301, "message": "not allowed"}
