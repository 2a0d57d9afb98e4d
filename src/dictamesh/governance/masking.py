"""Masking strategies applied to classified field values.

Strings keep their type when masked, because GraphQL declares required text fields
``String!``: a masked email is still a string (``j***@example.com``), a redacted one is
``"[REDACTED]"``. Values of other types (numbers, JSON) cannot carry a placeholder of the same
type, so redaction turns them into ``None``.

Hashing and tokenization are keyed (HMAC-SHA256): the same input gives the same output under
one key, so masked values stay joinable across entities and nodes sharing the key, while
nobody without the key can confirm a guess. Set ``DICTAMESH_GOVERNANCE__MASKING_KEY`` in
production; the default key is per process.

Example::

    masker = Masker(key=b"secret")
    masker.mask("jane.doe@example.com", MaskStrategy.PARTIAL, Classification.PII_EMAIL)
    # 'j***@example.com'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from enum import StrEnum
from typing import Any

from dictamesh.core.models import Classification

__all__ = ["REDACTED", "MaskStrategy", "Masker"]

REDACTED = "[REDACTED]"


class MaskStrategy(StrEnum):
    NONE = "none"
    REDACT = "redact"
    PARTIAL = "partial"
    LAST4 = "last4"
    HASH = "hash"
    TOKENIZE = "tokenize"


class Masker:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)
        # keyed once: each digest copies this state instead of re-deriving the HMAC pads
        self._keyed = hmac.new(self._key, digestmod=hashlib.sha256)

    def mask(self, value: Any, strategy: MaskStrategy, classification: Classification) -> Any:
        if value is None or strategy is MaskStrategy.NONE:
            return value
        if not isinstance(value, str):
            # a number or JSON object has no same-typed placeholder: partial views of it
            # would leak structure, so every strategy but hashing removes it
            if strategy in (MaskStrategy.HASH, MaskStrategy.TOKENIZE):
                return self._digest(repr(value), strategy)
            return None
        if strategy is MaskStrategy.REDACT:
            return REDACTED
        if strategy is MaskStrategy.HASH or strategy is MaskStrategy.TOKENIZE:
            return self._digest(value, strategy)
        if strategy is MaskStrategy.LAST4:
            return _last4(value)
        return _partial(value, classification)

    def _digest(self, value: str, strategy: MaskStrategy) -> str:
        # separate domains so a token can't be matched against a hash of the same value
        keyed = self._keyed.copy()
        keyed.update(f"{strategy.value}:{value}".encode())
        mac = keyed.digest()
        if strategy is MaskStrategy.HASH:
            return "sha256:" + mac.hex()[:32]
        return "tok_" + base64.b32encode(mac[:15]).decode().lower()


def _last4(value: str) -> str:
    digits = [ch for ch in value if ch.isalnum()]
    if len(digits) <= 4:
        return "*" * len(value)
    keep = 4
    out = []
    # walk from the end so separators stay where they were: "**** **** **** 1234"
    for ch in reversed(value):
        if ch.isalnum():
            out.append(ch if keep > 0 else "*")
            keep -= 1
        else:
            out.append(ch)
    return "".join(reversed(out))


def _partial(value: str, classification: Classification) -> str:
    if classification is Classification.PII_EMAIL and "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if classification in (
        Classification.PII_PHONE,
        Classification.PII_PAYMENT,
        Classification.PII_NATIONAL_ID,
    ):
        return _last4(value)
    if not value:
        return value
    return value[:1] + "***"
