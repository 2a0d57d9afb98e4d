"""AdapterBase over HTTP (httpx.MockTransport): retries, Retry-After, garbage, timeouts,
breaker, bulkhead, auth headers, client ownership."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.unit.adapters.http_widgets import (
    ApiKeyWidgets,
    HttpWidgets,
    MockSource,
    garbage,
    http_config,
    status,
)

from dictamesh.core.errors import (
    CircuitOpenError,
    EntityNotFound,
    SourceRateLimited,
    SourceResponseError,
    SourceUnavailable,
)
from dictamesh.core.models import HealthState
from dictamesh.resilience import BreakerState


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def source() -> MockSource:
    return MockSource()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(source: MockSource) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(source), base_url="http://widgets.test"
    ) as client:
        yield client


def make(client: httpx.AsyncClient, sleeps: Sleeps, clock: Clock, **res: Any) -> HttpWidgets:
    return HttpWidgets(http_config(**res), client=client, sleep=sleeps, clock=clock)


async def test_reads_through_http(client: httpx.AsyncClient, sleeps: Sleeps, clock: Clock) -> None:
    adapter = make(client, sleeps, clock)
    entity = await adapter.get_entity("w-1")
    assert entity.attributes == {"name": "Widget"}
    with pytest.raises(EntityNotFound):
        await adapter.get_entity("w-404")


async def test_500_is_retried_then_source_unavailable(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock, max_attempts=3)
    source.queue(status(500), status(502), status(503), status(200))
    with pytest.raises(SourceUnavailable, match="HTTP 503"):
        await adapter.get_entity("w-1")
    assert source.calls == 3
    assert len(sleeps.waits) == 2
    metrics = adapter.get_metrics()
    assert (metrics.calls, metrics.errors, metrics.retries) == (1, 1, 2)


async def test_500_then_success(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock)
    source.queue(status(500))
    assert (await adapter.get_entity("w-1")).id == "w-1"
    assert source.calls == 2


async def test_429_waits_retry_after_then_succeeds(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock)
    source.queue(status(429, **{"Retry-After": "1"}))
    assert (await adapter.get_entity("w-1")).id == "w-1"
    assert source.calls == 2
    assert sleeps.waits == [pytest.approx(1.0)]


async def test_429_beyond_backoff_max_is_raised_with_its_hint(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock, backoff_max_seconds=2)
    source.queue(status(429, **{"Retry-After": "120"}))
    with pytest.raises(SourceRateLimited) as info:
        await adapter.get_entity("w-1")
    assert info.value.retry_after == 120
    assert source.calls == 1


async def test_garbage_json_is_source_response_error_not_retried(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock)
    source.queue(garbage())
    with pytest.raises(SourceResponseError, match="not JSON"):
        await adapter.get_entity("w-1")
    assert source.calls == 1
    assert sleeps.waits == []


async def test_unexpected_shape_is_source_response_error(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock)
    source.queue(httpx.Response(200, json={"no": "id"}))
    with pytest.raises(SourceResponseError, match="unexpected record shape"):
        await adapter.get_entity("w-1")
    assert source.calls == 1


async def test_4xx_is_not_retried(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock)
    source.queue(status(403))
    with pytest.raises(SourceResponseError, match="403"):
        await adapter.get_entity("w-1")
    assert source.calls == 1


async def test_hanging_source_times_out_as_source_unavailable(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock, timeout_seconds=0.02, max_attempts=2)

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    source.queue(hang, hang)
    with pytest.raises(SourceUnavailable, match="timed out"):
        await adapter.get_entity("w-1")
    assert source.calls == 2


async def test_transport_errors_are_source_unavailable_and_retried(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock)

    async def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def read_timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    source.queue(refuse, read_timeout)
    assert (await adapter.get_entity("w-1")).id == "w-1"
    assert source.calls == 3


async def test_breaker_opens_fails_fast_probes_and_closes(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(
        client,
        sleeps,
        clock,
        max_attempts=1,
        breaker_failure_threshold=3,
        breaker_reset_seconds=10,
    )
    source.queue(*[status(503)] * 3)
    for _ in range(3):
        with pytest.raises(SourceUnavailable):
            await adapter.get_entity("w-1")
    assert adapter.policy.breaker.state is BreakerState.OPEN
    assert adapter.get_metrics().breaker_state == "open"

    with pytest.raises(CircuitOpenError):
        await adapter.get_entity("w-1")
    assert source.calls == 3  # failed fast: the source was not called

    health = await adapter.health_check()
    assert health.status is HealthState.DEGRADED  # source answers, breaker still open
    assert "circuit breaker open" in health.details["reasons"]
    calls_after_probe = source.calls

    clock.now += 10  # half-open: one probe goes through
    assert adapter.policy.breaker.state is BreakerState.HALF_OPEN
    assert (await adapter.get_entity("w-1")).id == "w-1"
    assert source.calls == calls_after_probe + 1
    assert adapter.policy.breaker.state is BreakerState.CLOSED


async def test_breaker_reopens_when_the_probe_fails(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(
        client,
        sleeps,
        clock,
        max_attempts=1,
        breaker_failure_threshold=1,
        breaker_reset_seconds=10,
    )
    source.queue(status(503), status(503))
    with pytest.raises(SourceUnavailable):
        await adapter.get_entity("w-1")
    clock.now += 10
    with pytest.raises(SourceUnavailable):
        await adapter.get_entity("w-1")
    assert adapter.policy.breaker.state is BreakerState.OPEN


async def test_bulkhead_limits_concurrent_source_calls(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock, max_concurrency=2, timeout_seconds=1)
    source.gate = asyncio.Event()
    tasks = [asyncio.create_task(adapter.get_entity(f"w-x{i}")) for i in range(6)]
    await asyncio.sleep(0.02)
    assert source.in_flight == 2
    source.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, EntityNotFound) for r in results)
    assert source.peak == 2


async def test_get_entities_is_one_batch_request(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock)
    found = await adapter.get_entities(["w-2", "w-9", "w-1"])
    assert [e.id if e else None for e in found] == ["w-2", None, "w-1"]
    assert source.calls == 1
    assert source.requests[0].url.params["ids"] == "w-2,w-9,w-1"


async def test_health_unhealthy_on_error(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock)
    source.queue(status(500))
    health = await adapter.health_check()
    assert health.status is HealthState.UNHEALTHY
    assert health.details["error"]["code"] == "SOURCE_UNAVAILABLE"
    assert source.calls == 1  # the probe is not retried
    report = await adapter.check_connection()
    assert report["ok"] is True
    assert report["status"] == "healthy"


async def test_health_degraded_when_slower_than_sla(
    client: httpx.AsyncClient, source: MockSource, sleeps: Sleeps, clock: Clock
) -> None:
    adapter = make(client, sleeps, clock)

    async def slow(request: httpx.Request) -> httpx.Response:
        clock.now += 0.5  # 500 ms against an SLA p95 of 200 ms
        return httpx.Response(200, json={"data": []})

    source.queue(slow)
    health = await adapter.health_check()
    assert health.status is HealthState.DEGRADED
    assert health.latency_ms == pytest.approx(500)


async def test_own_client_sends_bearer_and_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    source = MockSource()
    real = httpx.AsyncClient

    def with_mock(**kwargs: Any) -> httpx.AsyncClient:
        return real(transport=httpx.MockTransport(source), **kwargs)

    monkeypatch.setattr(httpx, "AsyncClient", with_mock)
    adapter = HttpWidgets(http_config())
    await adapter.connect()
    await adapter.connect()  # idempotent
    client = adapter.client
    await adapter.get_entity("w-1")
    assert source.requests[0].headers["authorization"] == "Bearer s3cret"
    assert source.requests[0].headers["user-agent"].startswith("dictamesh/")
    await adapter.aclose()
    await adapter.aclose()  # idempotent
    assert client.is_closed


async def test_api_key_override_and_injected_client_left_open(
    client: httpx.AsyncClient, source: MockSource
) -> None:
    adapter = ApiKeyWidgets(http_config(), client=client)
    own = adapter.build_client()
    assert own.headers["x-api-key"] == "s3cret"
    assert "authorization" not in own.headers
    await own.aclose()
    await adapter.aclose()
    assert not client.is_closed
