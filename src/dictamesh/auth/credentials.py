"""Finding the caller's credentials in a request: a bearer token or an API key.

Accepted forms: ``Authorization: Bearer <jwt>``, ``Authorization: ApiKey <key>`` and
``X-API-Key: <key>``. More than one credential in a request is refused (RFC 6750 §2: a
client must not use more than one method), so no precedence rule can be played against us.

Example::

    creds = credentials_from_headers(request.headers)   # None when the request has none
    creds.kind  # 'bearer' or 'api_key'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.datastructures import Headers

from dictamesh.core.errors import AuthenticationError

__all__ = ["API_KEY_HEADER", "Credentials", "credentials_from_headers", "credentials_from_payload"]

API_KEY_HEADER = "x-api-key"
_MAX_CREDENTIAL_CHARS = 8192  # far above any real JWT; bounds the work done on garbage


@dataclass(frozen=True, slots=True)
class Credentials:
    kind: Literal["bearer", "api_key"]
    #: the secret itself; kept out of ``repr`` so it never lands in a log line
    value: str = field(repr=False)


def credentials_from_headers(headers: Headers) -> Credentials | None:
    """The one credential in ``headers``; ``None`` when there is none.

    Raises :class:`AuthenticationError` for a malformed or ambiguous ``Authorization``.
    """
    found: list[Credentials] = []
    for raw in headers.getlist("authorization"):
        scheme, _, value = raw.strip().partition(" ")
        value = value.strip()
        scheme = scheme.lower()
        if scheme not in ("bearer", "apikey") or not value:
            raise AuthenticationError("invalid credentials")
        found.append(Credentials("bearer" if scheme == "bearer" else "api_key", value))
    found.extend(Credentials("api_key", v.strip()) for v in headers.getlist(API_KEY_HEADER))
    if not found:
        return None
    if len(found) > 1:
        raise AuthenticationError("more than one credential in the request")
    creds = found[0]
    if not creds.value or len(creds.value) > _MAX_CREDENTIAL_CHARS:
        raise AuthenticationError("invalid credentials")
    return creds


def credentials_from_payload(payload: Mapping[str, Any] | None) -> Credentials | None:
    """Credentials from a GraphQL WebSocket ``connection_init`` payload.

    Clients put headers there: ``{"Authorization": "Bearer ..."}`` or ``{"X-API-Key": ...}``
    (keys in any case; non-string values are ignored).
    """
    if not payload:
        return None
    raw = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in payload.items()
        if isinstance(k, str) and isinstance(v, str) and k.isascii() and v.isascii()
    ]
    return credentials_from_headers(Headers(raw=raw))
