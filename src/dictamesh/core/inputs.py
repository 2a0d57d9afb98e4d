"""The one validator every API edge runs over a caller's input (``docs/security.md``).

Text must be something every layer behind the edge can store, encode and send on: no
unpaired UTF-16 surrogates (``"\\ud800"`` is valid JSON, yet no UTF-8 encoder takes it, so
it used to fail deep inside an adapter or a database driver) and no NUL (PostgreSQL
refuses it, C libraries truncate at it). JSON is parsed with a nesting limit, and integers
bound for storage stay within a signed 64-bit column.

Every refusal is an :class:`InvalidInput` (a 400 ``ValidationError``) whose message names
where the problem is, never the offending value. Each edge turns it into its own envelope.

Example::

    payload = parse_json(body)            # InvalidInput: not JSON, too deep, bad text
    check_text(entity_id, "entity id")    # InvalidInput on a lone surrogate or NUL
"""

from __future__ import annotations

import json
import re
from typing import Any

from dictamesh.core.errors import ValidationError

__all__ = [
    "BAD_TEXT",
    "MAX_JSON_DEPTH",
    "MAX_STORED_INT",
    "NOT_JSON",
    "TOO_DEEP",
    "InvalidInput",
    "bad_text_reason",
    "check_json",
    "check_text",
    "parse_json",
    "scrub_text",
]

#: the largest integer a caller may send where it reaches storage (SQLite/PostgreSQL BIGINT)
MAX_STORED_INT = 2**63 - 1
#: arrays/objects nested deeper than this are refused (a real payload needs far fewer)
MAX_JSON_DEPTH = 64

# A surrogate not part of a high+low pair, or NUL. Pairs cannot occur in a decoded Python
# str (they become one code point), but a JSON escape can leave a lone half behind.
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


#: ``InvalidInput.details["reason"]``: what was wrong (GraphQL tells text from syntax)
BAD_TEXT, NOT_JSON, TOO_DEEP = "bad_text", "not_json", "too_deep"


class InvalidInput(ValidationError):
    """A caller's input no layer behind the edge can take (HTTP 400, ``VALIDATION_ERROR``)."""


def _too_deep(where: str, max_depth: int) -> InvalidInput:
    return InvalidInput(
        f"{where} is nested deeper than {max_depth} levels", max_depth=max_depth, reason=TOO_DEEP
    )


def bad_text_reason(value: str) -> str | None:
    """Why ``value`` is refused (``"NUL"`` / ``"an unpaired surrogate"``), or None if fine."""
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    return "NUL" if found.group() == "\x00" else "an unpaired surrogate"


def check_text(value: str, where: str) -> str:
    """``value`` unchanged, or :class:`InvalidInput` naming ``where`` (not the value)."""
    reason = bad_text_reason(value)
    if reason is not None:
        raise InvalidInput(f"{where} contains {reason}", where=where, reason=BAD_TEXT)
    return value


def check_json(value: Any, where: str = "body", *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``value`` (parsed JSON) unchanged, after checking every string, key included, and the
    nesting depth. Iterative: a deep value cannot exhaust the stack here."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, where)
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise _too_deep(where, max_depth)
            if isinstance(item, dict):
                for key, child in item.items():
                    check_text(key, where)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return value


def parse_json(raw: bytes | str, where: str = "body", *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``raw`` parsed and :func:`check_json`-ed; :class:`InvalidInput` for anything else.

    The C parser recurses per nesting level: a body of 100 000 ``[`` raises RecursionError
    there, which is the caller's input, not our failure.
    """
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _too_deep(where, max_depth) from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{where} is not UTF-8", reason=BAD_TEXT) from None
    except ValueError:
        raise InvalidInput(f"{where} is not valid JSON", reason=NOT_JSON) from None
    return check_json(value, where, max_depth=max_depth)


def scrub_text(value: Any) -> Any:
    """``value`` with every refused character of every string replaced by U+FFFD, for
    echoing input back (an error's details) without breaking the response's encoding."""
    if isinstance(value, str):
        return _BAD_TEXT.sub("\ufffd", value)
    if isinstance(value, dict):
        return {scrub_text(k): scrub_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_text(v) for v in value]
    return value
