"""Checks of what callers name sagas by, shared by the REST routes, GraphQL and the CLI.

Each refusal is a :class:`~dictamesh.core.errors.ValidationError` (400 / ``BAD_USER_INPUT`` /
exit 2) whose message names the problem, never echoing more than a short prefix of the
caller's text.

Example::

    saga_id = check_saga_id(raw)                  # a canonical lower-case UUID
    status = parse_status("failed")               # SagaStatus.FAILED
    name = saga_name("create-invoice")            # "create_invoice" (the definition name)
    route = route_name("create_invoice")          # "create-invoice" (the URL segment)
"""

from __future__ import annotations

import uuid

from dictamesh.core.errors import ValidationError
from dictamesh.saga.store import SagaStatus

__all__ = [
    "MAX_LIST_LIMIT",
    "check_limit",
    "check_saga_id",
    "parse_status",
    "route_name",
    "saga_name",
]

#: the most sagas one listing returns
MAX_LIST_LIMIT = 200


def _shown(value: str) -> str:
    return repr(value[:40] + ("…" if len(value) > 40 else ""))


def check_saga_id(value: str) -> str:
    """``value`` as a canonical UUID string (sagas are keyed by UUIDs), else a
    :class:`ValidationError`."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise ValidationError(f"saga id {_shown(str(value))} is not a UUID", field="id") from None
    return str(parsed)


def parse_status(value: str) -> SagaStatus:
    """A :class:`SagaStatus` by its value (``running``, ``failed``, …; case-insensitive)."""
    try:
        return SagaStatus(value.strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in SagaStatus)
        raise ValidationError(
            f"unknown saga status {_shown(value)}; one of {known}", field="status"
        ) from None


def check_limit(value: int, *, maximum: int = MAX_LIST_LIMIT) -> int:
    """``value`` when it is within ``1..maximum``, else a :class:`ValidationError`."""
    if not 1 <= value <= maximum:
        raise ValidationError(f"limit must be between 1 and {maximum}", field="limit")
    return value


def saga_name(route: str) -> str:
    """The definition name of a saga's URL segment: ``create-invoice`` → ``create_invoice``."""
    return route.replace("-", "_")


def route_name(saga: str) -> str:
    """The URL segment of a saga definition: ``create_invoice`` → ``create-invoice``."""
    return saga.replace("_", "-")
