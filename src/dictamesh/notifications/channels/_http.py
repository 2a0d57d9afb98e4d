"""One POST, one attempt: the HTTP delivery the webhook, Slack, PagerDuty, SMS and push
channels share, with one mapping of what the receiver answered to :class:`DeliveryError`.

* 2xx: delivered;
* 408, 429 and 5xx: transient (retried with backoff); 429 and 503 pass the receiver's
  ``Retry-After`` (seconds or an HTTP date) on as ``retry_after``;
* any other status (3xx: redirects are not followed, 4xx): permanent;
* connection refused, reset, TLS failures, timeouts: transient.

Reasons name the receiver's host only: a Slack or SMS URL carries its credentials in the
path or query, and the reason is stored with the attempt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from datetime import time as clock
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx

from dictamesh.core.notification_config import ChannelConfig
from dictamesh.core.retry_after import parse_retry_after
from dictamesh.notifications.channels._common import tls_context
from dictamesh.notifications.channels.base import DeliveryError

__all__ = ["HttpSender", "json_body", "parse_retry_after", "provider_id"]

USER_AGENT = "DictaMesh-Notifications/1"
#: how much of a refusing receiver's body goes into the reason
_DETAIL_CHARS = 200


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | clock):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)  # never fail a notification over an odd value in the event


def json_body(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON (dates as ISO 8601, decimals and UUIDs as strings): the exact
    bytes that are signed and sent."""
    return json.dumps(
        payload, separators=(",", ":"), ensure_ascii=False, default=_json_default
    ).encode()


def provider_id(response: httpx.Response, *fields: str) -> str | None:
    """The first of ``fields`` in a JSON object body that is a non-empty string or number."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for field in fields:
        value = body.get(field)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def _detail(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text[:_DETAIL_CHARS] + ("…" if len(text) > _DETAIL_CHARS else "")


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost error (the ``OSError`` under httpx's and httpcore's wrappers)."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


class HttpSender:
    """An :class:`httpx.AsyncClient` for one channel (its connections are kept between
    sends) and the status mapping above."""

    def __init__(
        self,
        name: str,
        config: ChannelConfig,
        *,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.timeout = config.timeout_seconds
        context = tls_context(name, config)
        self._client = httpx.AsyncClient(
            timeout=config.timeout_seconds,
            verify=context if context is not None else True,
            auth=auth,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    async def post(
        self,
        url: str,
        *,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST once; the response if it is a 2xx, else :class:`DeliveryError`."""
        host = urlsplit(url).hostname or "?"
        try:
            response = await self._client.post(url, content=content, data=data, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryError(
                f"{host}: no answer within {self.timeout:g}s ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            what = f"{type(exc).__name__}: {exc}"
            root = _root_cause(exc)
            if root is not exc and str(root) not in what:
                what += f" ({type(root).__name__}: {root})"
            raise DeliveryError(f"{host}: {what.replace(url, host)}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return response
        detail = _detail(response)
        reason = f"{host} answered HTTP {status}" + (f": {detail}" if detail else "")
        if status in (408, 429) or status >= 500:
            retry_after = (
                parse_retry_after(response.headers.get("retry-after"))
                if status in (429, 503)
                else None
            )
            raise DeliveryError(reason, retry_after=retry_after, status=status)
        raise DeliveryError(reason, permanent=True, status=status)

    async def aclose(self) -> None:
        await self._client.aclose()
