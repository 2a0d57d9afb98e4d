"""HMAC-SHA256 signatures of webhook bodies: made by sources, checked by the node.

Two header forms are accepted (a source sends either or both):

* ``X-Hub-Signature-256: sha256=<hex>`` — GitHub's: HMAC of the raw body. It carries no
  time, so a captured request can be replayed; prefer the timestamped form.
* ``X-DictaMesh-Signature: t=<unix seconds>,v1=<hex>`` — HMAC of ``"<t>.<body>"``; refused
  when ``t`` is further than the tolerance from now (replay window). Several ``v1=`` may be
  listed (secret rotation); one match is enough.

When a timestamped header is present it alone decides (a stale one is not rescued by a hub
signature of the same body). Comparisons are constant-time (:func:`hmac.compare_digest`).

Example::

    headers = signature_headers(b"secret", body)          # the source
    verify_signature(b"secret", body, headers.get)         # the node: raises if wrong
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from dictamesh.core.errors import AuthenticationError

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "HUB_HEADER",
    "TIMESTAMPED_HEADER",
    "signature_headers",
    "verify_signature",
]

HUB_HEADER = "X-Hub-Signature-256"
TIMESTAMPED_HEADER = "X-DictaMesh-Signature"
DEFAULT_TOLERANCE_SECONDS = 300.0
#: header values longer than this are refused unparsed (a few rotated signatures fit)
_MAX_HEADER = 1024


def _mac(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signature_headers(
    secret: bytes, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """Both headers for ``body`` (``timestamp``: now by default)."""
    t = int(time.time()) if timestamp is None else timestamp
    return {
        HUB_HEADER: f"sha256={_mac(secret, body)}",
        TIMESTAMPED_HEADER: f"t={t},v1={_mac(secret, str(t).encode() + b'.' + body)}",
    }


def verify_signature(
    secret: bytes,
    body: bytes,
    header: Callable[[str], str | None],
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Return if ``body`` is signed with ``secret``, else raise :class:`AuthenticationError`
    (401). ``header(name)``: the request's header value or ``None``."""
    stamped = header(TIMESTAMPED_HEADER)
    if stamped is not None:
        _check_timestamped(secret, body, stamped, tolerance, time.time() if now is None else now)
        return
    hub = header(HUB_HEADER)
    if hub is None:
        raise AuthenticationError(
            f"webhook signature missing: send {TIMESTAMPED_HEADER} or {HUB_HEADER}"
        )
    if len(hub) > _MAX_HEADER or not hub.startswith("sha256="):
        raise AuthenticationError(f"malformed {HUB_HEADER} header")
    if not hmac.compare_digest(hub[len("sha256=") :].strip().lower(), _mac(secret, body)):
        raise AuthenticationError("webhook signature does not match")


def _check_timestamped(
    secret: bytes, body: bytes, value: str, tolerance: float, now: float
) -> None:
    if len(value) > _MAX_HEADER:
        raise AuthenticationError(f"malformed {TIMESTAMPED_HEADER} header")
    stamp: str | None = None
    candidates: list[str] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t":
            stamp = item
        elif key == "v1":
            candidates.append(item.lower())
    if stamp is None or not stamp.isdigit() or len(stamp) > 12 or not candidates:
        raise AuthenticationError(f"malformed {TIMESTAMPED_HEADER} header: needs t= and v1=")
    if abs(now - int(stamp)) > tolerance:
        raise AuthenticationError("webhook signature timestamp outside the tolerance window")
    expected = _mac(secret, stamp.encode() + b"." + body)
    # every candidate is compared, so the time taken does not tell which one matched
    matches = [hmac.compare_digest(c, expected) for c in candidates]
    if not any(matches):
        raise AuthenticationError("webhook signature does not match")
