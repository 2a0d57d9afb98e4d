"""Resilience for source calls: circuit breaker, retry with backoff, bulkhead, timeout.

Example::

    policy = ResiliencePolicy.from_settings(ResilienceSettings(), name="crm")
    data = await policy.run(lambda: fetch("c-1"))
    policy.stats().breaker.state      # BreakerState.CLOSED
"""

from dictamesh.resilience.breaker import (
    BreakerListener,
    BreakerState,
    BreakerStats,
    BreakerTransition,
    CircuitBreaker,
    is_source_failure,
)
from dictamesh.resilience.bulkhead import Bulkhead, BulkheadStats
from dictamesh.resilience.policy import ResiliencePolicy, ResilienceStats, call_with_timeout
from dictamesh.resilience.retry import RetryPolicy, is_retryable

__all__ = [
    "BreakerListener",
    "BreakerState",
    "BreakerStats",
    "BreakerTransition",
    "Bulkhead",
    "BulkheadStats",
    "CircuitBreaker",
    "ResiliencePolicy",
    "ResilienceStats",
    "RetryPolicy",
    "call_with_timeout",
    "is_retryable",
    "is_source_failure",
]
