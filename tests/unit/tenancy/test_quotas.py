"""Per-tenant quotas: request rate (429 + Retry-After), GraphQL cost budget, events/second."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from tests.unit.auth.support import SECRET, hs_token
from tests.unit.auth.support import settings as auth_settings

from dictamesh.auth import install_auth
from dictamesh.core.context import current_tenant
from dictamesh.core.errors import TenantQuotaExceeded
from dictamesh.core.settings import DictaMeshSettings, QuotaSettings, TenantQuota
from dictamesh.tenancy import (
    TenantQuotas,
    TokenBucket,
    active_quotas,
    charge_query_cost,
    install_tenant_quotas,
    use_quotas,
)


class FakeTime:
    """A clock and a sleep that advances it (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def quotas(time: FakeTime | None = None, **raw: Any) -> TenantQuotas:
    settings = QuotaSettings.model_validate(raw)
    time = time or FakeTime()
    return TenantQuotas(settings, clock=time, sleep=time.sleep)


# --- settings -----------------------------------------------------------------------------


def test_per_tenant_quotas_override_only_what_they_name() -> None:
    settings = QuotaSettings.model_validate(
        {
            "default": {"requests_per_second": 5, "graphql_cost_budget": 100},
            "per_tenant": {"acme": {"requests_per_second": 50}},
        }
    )
    acme = settings.for_tenant("acme")
    assert (acme.requests_per_second, acme.graphql_cost_budget) == (50, 100)
    assert settings.for_tenant("globex") == settings.default
    assert settings.enabled
    assert not QuotaSettings().enabled


def test_quotas_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICTAMESH_TENANCY__QUOTAS__DEFAULT__REQUESTS_PER_SECOND", "7")
    monkeypatch.setenv(
        "DICTAMESH_TENANCY__QUOTAS__PER_TENANT", '{"acme": {"events_per_second": 3}}'
    )
    settings = DictaMeshSettings().tenancy.quotas
    assert settings.for_tenant("acme").requests_per_second == 7
    assert settings.for_tenant("acme").events_per_second == 3


def test_bad_quota_values_are_refused() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        TenantQuota(requests_per_second=0)
    with pytest.raises(ValueError, match="extra"):
        QuotaSettings.model_validate({"default": {"requests_per_minute": 1}})


# --- token bucket -------------------------------------------------------------------------


def test_token_bucket_refills_and_tells_how_long_to_wait() -> None:
    bucket = TokenBucket(rate=2, capacity=3, now=0)
    assert [bucket.take(1, 0) for _ in range(3)] == [0, 0, 0]
    assert bucket.take(1, 0) == pytest.approx(0.5)
    assert bucket.take(1, 0.5) == 0  # one token back after 0.5 s
    assert bucket.take(1, 100) == 0  # never above capacity
    assert bucket.tokens == 2


def test_token_bucket_debt_lets_a_big_batch_through_at_the_long_run_rate() -> None:
    bucket = TokenBucket(rate=10, capacity=5, now=0)
    assert bucket.take_debt(20, 0) == 0  # a full bucket: the batch of 20 passes...
    assert bucket.tokens == -15
    assert bucket.take_debt(1, 0) == pytest.approx(1.6)  # ...and the next waits it off


# --- requests -----------------------------------------------------------------------------


def test_request_buckets_are_per_tenant() -> None:
    limits = quotas(
        default={"requests_per_second": 1, "request_burst": 2},
        per_tenant={"vip": {"requests_per_second": 100, "request_burst": 100}},
    )
    assert [limits.check_request("acme").allowed for _ in range(3)] == [True, True, False]
    # acme's empty bucket is not globex's, and vip has more
    assert limits.check_request("globex").allowed
    assert all(limits.check_request("vip").allowed for _ in range(50))
    refused = limits.check_request("acme")
    assert refused.retry_after == pytest.approx(1.0)
    assert refused.retry_after_seconds == 1


def test_the_request_tenant_is_the_context_tenant_else_default() -> None:
    limits = quotas(default={"requests_per_second": 1, "request_burst": 1})
    token = current_tenant.set("acme")
    try:
        assert limits.check_request().allowed
        assert not limits.check_request().allowed
    finally:
        current_tenant.reset(token)
    assert limits.check_request().allowed  # "default": its own bucket
    assert not limits.check_request("default").allowed


def test_unlimited_tenants_are_never_counted() -> None:
    limits = quotas(per_tenant={"acme": {"requests_per_second": 1}})
    assert all(limits.check_request("globex").allowed for _ in range(1000))


# --- GraphQL cost ---------------------------------------------------------------------------


def test_graphql_budget_per_window() -> None:
    time = FakeTime()
    limits = quotas(time, default={"graphql_cost_budget": 100, "graphql_cost_window_seconds": 60})
    limits.charge_query_cost("acme", 70)
    with pytest.raises(TenantQuotaExceeded) as refused:
        limits.charge_query_cost("acme", 40)  # 30 left: refused, nothing charged
    assert refused.value.http_status == 429
    assert refused.value.code == "TENANT_QUOTA_EXCEEDED"
    assert refused.value.retry_after == pytest.approx(6.0)  # 10 more at 100/60 per second
    assert refused.value.details["quota"] == "graphql_cost_budget"
    limits.charge_query_cost("acme", 30)
    limits.charge_query_cost("globex", 100)  # another tenant, another budget
    time.now += 60
    limits.charge_query_cost("acme", 100)  # a window later the whole budget is back


def test_a_query_costing_more_than_the_whole_budget_never_passes() -> None:
    limits = quotas(default={"graphql_cost_budget": 10})
    with pytest.raises(TenantQuotaExceeded, match="whole budget"):
        limits.charge_query_cost("acme", 11)
    limits.charge_query_cost("acme", 10)


def test_charge_query_cost_uses_the_active_quotas_and_else_does_nothing() -> None:
    charge_query_cost("acme", 10**9)  # no quotas active: a no-op
    limits = quotas(default={"graphql_cost_budget": 10})
    with use_quotas(limits):
        assert active_quotas() is limits
        token = current_tenant.set("acme")
        try:
            charge_query_cost(None, 10)  # the request's tenant
            with pytest.raises(TenantQuotaExceeded):
                charge_query_cost(None, 1)
        finally:
            current_tenant.reset(token)
        charge_query_cost("globex", 10)
    assert active_quotas() is None


# --- events ---------------------------------------------------------------------------------


async def test_events_over_quota_wait_their_turn() -> None:
    time = FakeTime()
    limits = quotas(time, default={"events_per_second": 10, "event_burst": 10})
    await limits.acquire_events("acme", 10)
    assert time.slept == []
    await limits.acquire_events("acme", 5)  # waits 0.5 s for 5 tokens
    assert time.slept == [pytest.approx(0.5)]
    await limits.acquire_events("globex", 10)  # not slowed down by acme
    assert len(time.slept) == 1


async def test_events_too_far_over_quota_raise_and_take_nothing() -> None:
    time = FakeTime()
    limits = quotas(
        time,
        default={"events_per_second": 1, "event_burst": 1, "max_publish_delay_seconds": 2},
    )
    await limits.acquire_events("acme", 10)  # a full bucket lets a batch pass: 9 in debt
    with pytest.raises(TenantQuotaExceeded, match="events/s") as refused:
        await limits.acquire_events("acme", 1)  # 10 s away, 2 s of patience
    assert refused.value.retry_after == pytest.approx(10)
    assert refused.value.details["quota"] == "events_per_second"
    assert time.slept == []
    time.now += 10  # the refusal took nothing: exactly the debt is waited off
    await limits.acquire_events("acme", 1)
    assert time.slept == []


async def test_events_fail_at_once_with_no_patience() -> None:
    limits = quotas(
        default={"events_per_second": 1, "event_burst": 1, "max_publish_delay_seconds": 0}
    )
    await limits.acquire_events("acme")
    with pytest.raises(TenantQuotaExceeded):
        await limits.acquire_events("acme")


# --- the middleware ---------------------------------------------------------------------------


def _app(limits: TenantQuotas, *, auth: bool = True) -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/ping")
    async def ping(request: Request) -> dict[str, Any]:
        # charge_query_cost works inside the request: the middleware made quotas active
        return {"tenant": current_tenant.get(), "active": active_quotas() is limits}

    @app.post("/graphql")
    async def graphql() -> dict[str, Any]:
        return {"data": {}}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    assert install_tenant_quotas(app, limits) is limits  # before auth: runs inside it
    if auth:
        install_auth(app, auth_settings())
    return app


@pytest.fixture
async def limited() -> AsyncIterator[tuple[httpx.AsyncClient, FakeTime]]:
    time = FakeTime()
    limits = quotas(
        time,
        default={"requests_per_second": 1, "request_burst": 2},
        per_tenant={"globex": {"requests_per_second": 1, "request_burst": 1}},
    )
    app = _app(limits)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client, time


def _as(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hs_token(SECRET, tenant_id=tenant)}"}


async def test_a_tenant_over_its_request_quota_gets_429_with_retry_after(
    limited: tuple[httpx.AsyncClient, FakeTime],
) -> None:
    client, time = limited
    for _ in range(2):
        ok = await client.get("/api/v1/ping", headers=_as("acme"))
        assert ok.status_code == 200
        assert ok.json() == {"tenant": "acme", "active": True}
    refused = await client.get("/api/v1/ping", headers=_as("acme"))
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["code"] == "TENANT_QUOTA_EXCEEDED"
    # the other tenant's bucket is its own (and smaller, by its override)
    assert (await client.get("/api/v1/ping", headers=_as("globex"))).status_code == 200
    assert (await client.get("/api/v1/ping", headers=_as("globex"))).status_code == 429
    time.now += 1
    assert (await client.get("/api/v1/ping", headers=_as("acme"))).status_code == 200


async def test_graphql_refusals_are_graphql_shaped_and_health_is_exempt(
    limited: tuple[httpx.AsyncClient, FakeTime],
) -> None:
    client, _ = limited
    for _ in range(2):
        await client.post("/graphql", json={"query": "{x}"}, headers=_as("acme"))
    refused = await client.post("/graphql", json={"query": "{x}"}, headers=_as("acme"))
    assert refused.status_code == 429
    error = refused.json()["errors"][0]
    assert error["extensions"] == {"code": "TENANT_QUOTA_EXCEEDED", "retryAfter": 1}
    for _ in range(10):
        assert (await client.get("/health")).status_code == 200


async def test_unauthenticated_requests_are_refused_by_auth_before_counting(
    limited: tuple[httpx.AsyncClient, FakeTime],
) -> None:
    client, _ = limited
    for _ in range(5):
        assert (await client.get("/api/v1/ping")).status_code == 401
    assert (await client.get("/api/v1/ping", headers=_as("default"))).status_code == 200


async def test_without_auth_every_caller_is_the_default_tenant() -> None:
    limits = quotas(default={"requests_per_second": 1, "request_burst": 1})
    app = _app(limits, auth=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        assert (await client.get("/api/v1/ping")).status_code == 200
        assert (await client.get("/api/v1/ping")).status_code == 429


def test_nothing_is_installed_without_quotas() -> None:
    app = FastAPI()
    assert install_tenant_quotas(app, QuotaSettings()) is None
    assert install_tenant_quotas(app, None) is None
    assert app.user_middleware == []
