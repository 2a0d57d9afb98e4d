"""httpx helpers shared by HTTP adapters: turn a source's answer into data or a typed error."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from dictamesh.core.errors import (
    SourceRateLimited,
    SourceRejectedRequest,
    SourceResponseError,
    SourceUnavailable,
    WriteInProgress,
    WriteRejected,
)
from dictamesh.core.retry_after import parse_retry_after

__all__ = [
    "IDEMPOTENCY_HEADER",
    "REPLAYED_HEADER",
    "error_code",
    "parse_retry_after",
    "read_json",
    "read_write",
]

#: the request header carrying a write's idempotency key (Stripe's and the IETF draft's name)
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: the answer header a source sets when it replays a key's stored answer
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY_IN_USE = "idempotency_key_in_use"


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


def error_code(body: Any) -> str | None:
    """A source's machine-readable error code: ``{"code": ..}`` or ``{"error": {"code": ..}}``."""
    if not isinstance(body, dict):
        return None
    nested = body.get("error")
    code = nested.get("code") if isinstance(nested, dict) else body.get("code")
    return code if isinstance(code, str) and code else None


def read_write(
    response: httpx.Response,
    source: str,
    *,
    reason: Callable[[Any], str | None] = error_code,
) -> tuple[Any, bool]:
    """The JSON body of a write's 2xx answer and whether the source replayed it.

    A 4xx (not 408/429) is the source refusing *this* write: :class:`WriteRejected` with
    ``reason`` read from the body (``http_<status>`` when it names none), e.g.
    ``insufficient_stock`` or ``card_declined``. A key still being applied is
    :class:`WriteInProgress` (retryable). A 2xx without a body (``204 No Content``) gives
    ``None``. Otherwise as :func:`read_json`.
    """
    status = response.status_code
    if 400 <= status < 500 and status not in (408, 429):
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        code = reason(body) or f"http_{status}"
        if status == 409 and code == _KEY_IN_USE:
            raise WriteInProgress(f"{source} is still applying this key", source=source)
        raise WriteRejected(
            f"{source} refused the write: {code}", reason=code, source=source, status=status
        )
    replayed = response.headers.get(REPLAYED_HEADER, "").lower() == "true"
    if 200 <= status < 300 and not response.content:
        return None, replayed
    return read_json(response, source), replayed
