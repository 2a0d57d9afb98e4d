"""The per-client token bucket (gateway.ratelimit) and how clients are keyed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dictamesh.core.errors import ConfigurationError
from dictamesh.gateway.ratelimit import TokenBucketLimiter, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_bursts_then_refills() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.hit("k").allowed for _ in range(4)] == [True, True, True, False]
    denied = limiter.hit("k")
    assert (denied.allowed, denied.retry_after, denied.retry_after_seconds) == (False, 0.5, 1)
    assert limiter.hit("other").allowed  # buckets are per key
    clock.now += 0.5
    assert limiter.hit("k").allowed
    assert not limiter.hit("k").allowed
    clock.now += 100
    assert limiter.hit("k").remaining == 2  # refilled to the burst, not beyond


def test_slow_rates_wait_whole_seconds() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=0.1, burst=1, clock=clock)
    limiter.hit("k")
    assert limiter.hit("k").retry_after_seconds == 10


def test_buckets_are_bounded() -> None:
    limiter = TokenBucketLimiter(rate=1, burst=1, max_clients=2, clock=Clock())
    for key in ("a", "b", "c"):
        limiter.hit(key)
    assert not limiter.hit("c").allowed
    assert limiter.hit("a").allowed  # forgotten, so a fresh bucket


def _request(**values: Any) -> Any:
    return SimpleNamespace(
        state=SimpleNamespace(**values.pop("state", {})),
        headers=values.pop("headers", {}),
        client=values.pop("client", SimpleNamespace(host="10.0.0.9")),
    )


def test_client_key_prefers_the_principal() -> None:
    assert client_key(_request()) == "ip:10.0.0.9"
    assert client_key(_request(state={"principal": SimpleNamespace(subject="alice")})) == (
        "sub:alice"
    )
    assert client_key(_request(client=None)) == "ip:unknown"


def test_client_key_reads_the_principal_context_variable() -> None:
    context = pytest.importorskip("dictamesh.core.context")
    var = getattr(context, "current_principal", None)
    if var is None:
        pytest.skip("no principal context variable in this build")
    token = var.set(SimpleNamespace(subject="svc-billing"))
    try:
        assert client_key(_request()) == "sub:svc-billing"
    finally:
        var.reset(token)


def test_forwarded_for_only_when_trusted() -> None:
    request = _request(headers={"x-forwarded-for": "6.6.6.6, 203.0.113.7"})
    assert client_key(request) == "ip:10.0.0.9"
    assert client_key(request, trust_forwarded_for=True) == "ip:203.0.113.7"


def test_a_rate_limit_needs_a_rate() -> None:
    with pytest.raises(ConfigurationError):
        TokenBucketLimiter(rate=0, burst=1)
