"""httpx helpers shared by HTTP adapters: turn a source's answer into data or a typed error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from dictamesh.core.errors import (
    SourceRateLimited,
    SourceRejectedRequest,
    SourceResponseError,
    SourceUnavailable,
)

__all__ = ["parse_retry_after", "read_json"]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def read_json(response: httpx.Response, source: str) -> Any:
    """The JSON body of a 2xx answer; 404 gives ``None``; anything else a typed SourceError.

    429 → :class:`SourceRateLimited` (retryable, honours Retry-After), 5xx →
    :class:`SourceUnavailable` (retryable), other 4xx → :class:`SourceRejectedRequest` (not
    counted by the breaker) and unparsable bodies → :class:`SourceResponseError` (neither
    retryable: asking again will not help).
    """
    status = response.status_code
    if status == 404:
        return None
    if status == 429:
        raise SourceRateLimited(
            f"{source} rate-limited the request",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            source=source,
        )
    if status >= 500:
        raise SourceUnavailable(f"{source} answered HTTP {status}", source=source, status=status)
    if status >= 400:
        # the source is up and refused this request: no breaker counts it (408: it gave up)
        kind = SourceResponseError if status == 408 else SourceRejectedRequest
        raise kind(
            f"{source} refused the request with HTTP {status}",
            source=source,
            status=status,
            body=response.text[:200],
        )
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceResponseError(
            f"{source} answered with a body that is not JSON", source=source
        ) from exc
