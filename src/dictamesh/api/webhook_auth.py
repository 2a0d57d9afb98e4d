"""The signature check of ``POST /webhooks/{adapter}`` (before the body is even parsed).

Webhooks are outside ``auth`` (``auth.public_paths``): sources do not hold user tokens. An
adapter whose config sets ``webhook_secret`` accepts only bodies signed with it
(:mod:`dictamesh.core.webhook_signature`); anything else gets 401 ``UNAUTHENTICATED`` before
any source call. An adapter without a secret accepts unsigned webhooks (they only make the
node re-fetch from the source, which stays the authority) — set one in production.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers

from dictamesh.core.webhook_signature import verify_signature

__all__ = ["check_webhook_signature"]


def check_webhook_signature(adapter: Any, body: bytes, headers: Headers) -> None:
    """Raise :class:`~dictamesh.core.errors.AuthenticationError` unless ``body`` carries a
    valid signature for ``adapter`` (no-op when its config has no ``webhook_secret``)."""
    config = getattr(adapter, "config", None)
    secret = getattr(config, "webhook_secret", None)
    if secret is None:
        return
    verify_signature(
        secret.get_secret_value().encode(),
        body,
        headers.get,
        tolerance=float(getattr(config, "webhook_tolerance_seconds", 300.0)),
    )
