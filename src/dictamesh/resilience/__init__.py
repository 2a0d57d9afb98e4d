"""Resilience for source calls: circuit breaker, retry with backoff, bulkhead, timeout.

Example::

    policy = ResiliencePolicy.from_settings(ResilienceSettings(), name="crm")
    data = await policy.run(lambda: fetch("c-1"))
"""

from dictamesh.resilience.breaker import BreakerState, CircuitBreaker, is_source_failure
from dictamesh.resilience.bulkhead import Bulkhead
from dictamesh.resilience.policy import ResiliencePolicy, call_with_timeout
from dictamesh.resilience.retry import RetryPolicy, is_retryable

__all__ = [
    "BreakerState",
    "Bulkhead",
    "CircuitBreaker",
    "ResiliencePolicy",
    "RetryPolicy",
    "call_with_timeout",
    "is_retryable",
    "is_source_failure",
]
